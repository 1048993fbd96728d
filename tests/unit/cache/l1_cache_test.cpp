// The in-process L1: what it keeps, for how long, and every way a purge or a lost subscription empties it.
#include "cache/l1_cache.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace orc::cache {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kL1Now = 1'000'000;

L1Cache::Entry entry(std::string body, std::int64_t fresh_ms = 60'000, std::int64_t stale_ms = 0) {
  auto e = std::make_shared<CacheEntry>();
  e->body = std::move(body);
  e->stored_at_ms = kL1Now;
  e->fresh_until_ms = kL1Now + fresh_ms;
  e->swr_until_ms = kL1Now + fresh_ms;
  e->sie_until_ms = kL1Now + fresh_ms + stale_ms;
  return e;
}

TEST(L1Cache, IsOffUntilEnabledAndOffAgainAfterDisable) {
  L1Cache l1(1 << 20, 30s);
  EXPECT_FALSE(l1.enabled());
  EXPECT_FALSE(l1.insert("k", entry("a"), {"t"}, l1.epoch(), kL1Now));
  EXPECT_EQ(l1.get("k", kL1Now), nullptr);

  l1.enable();
  ASSERT_TRUE(l1.insert("k", entry("a"), {"t"}, l1.epoch(), kL1Now));
  ASSERT_NE(l1.get("k", kL1Now), nullptr);
  EXPECT_EQ(l1.get("k", kL1Now)->body, "a");

  l1.disable();  // the purge listener lost its subscription: nothing kept may be served
  EXPECT_EQ(l1.entries(), 0u);
  EXPECT_EQ(l1.get("k", kL1Now), nullptr);
  l1.enable();  // and subscribing again does not bring it back
  EXPECT_EQ(l1.get("k", kL1Now), nullptr);
}

TEST(L1Cache, ZeroBudgetNeverTurnsOn) {
  L1Cache l1(0, 30s);
  l1.enable();
  EXPECT_FALSE(l1.enabled());
  EXPECT_FALSE(l1.insert("k", entry("a"), {}, l1.epoch(), kL1Now));
}

TEST(L1Cache, InsertIsRefusedWhenAPurgeOfItsTagsRanSinceTheReadBegan) {
  L1Cache l1(1 << 20, 30s);
  l1.enable();
  auto before = l1.epoch();
  l1.invalidate({"t", "other"});  // the read may have seen what this purge removed
  EXPECT_FALSE(l1.insert("k", entry("pre-write"), {"s", "t"}, before, kL1Now));
  EXPECT_EQ(l1.get("k", kL1Now), nullptr);
  EXPECT_TRUE(l1.insert("k", entry("post-write"), {"s", "t"}, l1.epoch(), kL1Now));

  auto before_toggle = l1.epoch();
  l1.disable();
  l1.enable();  // a gap in the subscription: purges may have been missed
  EXPECT_FALSE(l1.insert("k", entry("x"), {"t"}, before_toggle, kL1Now));
}

TEST(L1Cache, EveryToggleMovesTheSubscription) {
  L1Cache l1(1 << 20, 30s);
  const auto off = l1.subscription();
  l1.enable();
  const auto on = l1.subscription();
  EXPECT_NE(on, off);
  l1.invalidate({"t"});
  EXPECT_EQ(l1.subscription(), on) << "purges are heard, they do not break the subscription";
  l1.disable();
  l1.enable();
  EXPECT_NE(l1.subscription(), on) << "a gap: purges may have been missed";
  EXPECT_TRUE(l1.enabled());
}

TEST(L1Cache, PurgesOfOtherTagsDoNotRefuseAnInsert) {
  L1Cache l1(1 << 20, 30s);
  l1.enable();
  auto before = l1.epoch();
  l1.invalidate({"risk:2", "assets"});  // another write, anywhere in the fleet
  EXPECT_TRUE(l1.insert("risk-1", entry("1"), {"risk:1", "risks"}, before, kL1Now));
  EXPECT_NE(l1.get("risk-1", kL1Now), nullptr);
  l1.invalidate({"risks"});
  EXPECT_FALSE(l1.insert("risk-1b", entry("1"), {"risk:1", "risks"}, before, kL1Now));
}

TEST(L1Cache, AnOverflowingRecordOfPurgedTagsRefusesEveryEarlierRead) {
  L1Cache l1(1 << 20, 30s);
  l1.enable();
  auto before = l1.epoch();
  for (std::size_t i = 0; i <= L1Cache::kPurgedTagsMax; ++i) l1.invalidate({"tag-" + std::to_string(i)});
  EXPECT_FALSE(l1.insert("k", entry("a"), {"never-purged"}, before, kL1Now))
      << "forgotten purges must refuse";
  EXPECT_TRUE(l1.insert("k", entry("a"), {"never-purged"}, l1.epoch(), kL1Now));
}

TEST(L1Cache, InvalidateDropsTheEntriesOfItsTagsOnly) {
  L1Cache l1(1 << 20, 30s);
  l1.enable();
  ASSERT_TRUE(l1.insert("risk-1", entry("1"), {"risk:1", "risks"}, l1.epoch(), kL1Now));
  ASSERT_TRUE(l1.insert("risk-2", entry("2"), {"risk:2", "risks"}, l1.epoch(), kL1Now));
  ASSERT_TRUE(l1.insert("stats", entry("s"), {"stats"}, l1.epoch(), kL1Now));

  l1.invalidate({"risk:1"});
  EXPECT_EQ(l1.get("risk-1", kL1Now), nullptr);
  EXPECT_NE(l1.get("risk-2", kL1Now), nullptr);

  l1.invalidate({"risks"});
  EXPECT_EQ(l1.get("risk-2", kL1Now), nullptr);
  EXPECT_NE(l1.get("stats", kL1Now), nullptr);
  EXPECT_EQ(l1.entries(), 1u);
}

TEST(L1Cache, KeepsAnEntryUntilItsLastStaleWindow) {
  L1Cache l1(1 << 20, 30s);
  l1.enable();
  // Fresh 10 s, stale_if_error 5 s more: kept 15 s (under max_age).
  ASSERT_TRUE(l1.insert("short", entry("s", 10'000, 5'000), {}, l1.epoch(), kL1Now));
  EXPECT_NE(l1.get("short", kL1Now + 14'999), nullptr);
  EXPECT_EQ(l1.get("short", kL1Now + 15'000), nullptr);
  // Fresh 5 min: served from the L1 for max_age (30 s), then Redis is asked again (below).
  ASSERT_TRUE(l1.insert("long", entry("l", 300'000), {}, l1.epoch(), kL1Now));
  EXPECT_NE(l1.get("long", kL1Now + 29'999), nullptr);
  // Already past every window: not kept at all.
  EXPECT_FALSE(l1.insert("old", entry("o", 1'000), {}, l1.epoch(), kL1Now + 2'000));
}

// Past max_age one caller re-reads Redis while the others keep the entry, for kRefreshClaim at most.
TEST(L1Cache, AfterMaxAgeOneCallerRefreshesAndTheOthersKeepTheEntryMeanwhile) {
  L1Cache l1(1 << 20, 30s);
  l1.enable();
  ASSERT_TRUE(l1.insert("k", entry("old", 300'000), {}, l1.epoch(), kL1Now));
  bool refresh = true;
  EXPECT_NE(l1.get("k", kL1Now + 29'999, &refresh), nullptr);
  EXPECT_FALSE(refresh);

  EXPECT_EQ(l1.get("k", kL1Now + 30'000, &refresh), nullptr);  // the one that asks Redis
  EXPECT_TRUE(refresh);
  auto other = l1.get("k", kL1Now + 30'001, &refresh);  // everyone else, meanwhile
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->body, "old");
  EXPECT_FALSE(refresh);

  // The refresh never came back (a lost request): after kRefreshClaim another caller asks.
  EXPECT_EQ(l1.get("k", kL1Now + 30'000 + L1Cache::kRefreshClaim, &refresh), nullptr);
  EXPECT_TRUE(refresh);
  // Redis had a newer entry: it replaces the old one for another max_age.
  ASSERT_TRUE(l1.insert("k", entry("new", 300'000), {}, l1.epoch(), kL1Now + 31'000));
  auto renewed = l1.get("k", kL1Now + 60'999, &refresh);
  ASSERT_NE(renewed, nullptr);
  EXPECT_EQ(renewed->body, "new");
  EXPECT_FALSE(refresh);

  // Redis had nothing (purged, expired): the refresher erases it, and nobody gets it any more.
  EXPECT_EQ(l1.get("k", kL1Now + 61'000, &refresh), nullptr);
  ASSERT_TRUE(refresh);
  l1.erase("k");
  EXPECT_EQ(l1.get("k", kL1Now + 61'001, &refresh), nullptr);
  EXPECT_FALSE(refresh);
  EXPECT_EQ(l1.entries(), 0u);
}

TEST(L1Cache, StaysWithinItsBudgetDroppingTheLeastRecentlyUsed) {
  std::size_t reported_bytes = 0, reported_entries = 0;
  L1Cache l1(12'000, 30s, [&](std::size_t b, std::size_t n) {
    reported_bytes = b;
    reported_entries = n;
  });
  l1.enable();
  const std::string body(3'000, 'x');
  ASSERT_TRUE(l1.insert("a", entry(body), {"t"}, l1.epoch(), kL1Now));
  ASSERT_TRUE(l1.insert("b", entry(body), {"t"}, l1.epoch(), kL1Now));
  ASSERT_TRUE(l1.insert("c", entry(body), {"t"}, l1.epoch(), kL1Now));
  ASSERT_NE(l1.get("a", kL1Now), nullptr);  // "b" is now the least recently used
  ASSERT_TRUE(l1.insert("d", entry(body), {"t"}, l1.epoch(), kL1Now));
  EXPECT_EQ(l1.get("b", kL1Now), nullptr);
  EXPECT_NE(l1.get("a", kL1Now), nullptr);
  EXPECT_NE(l1.get("d", kL1Now), nullptr);
  EXPECT_LE(l1.bytes(), l1.max_bytes());
  EXPECT_EQ(reported_bytes, l1.bytes());
  EXPECT_EQ(reported_entries, l1.entries());

  EXPECT_FALSE(l1.insert("huge", entry(std::string(20'000, 'x')), {}, l1.epoch(), kL1Now));
  l1.invalidate({"t"});
  EXPECT_EQ(reported_bytes, 0u);
  EXPECT_EQ(reported_entries, 0u);
}

TEST(L1Cache, ReplacingAKeyMovesItsTags) {
  L1Cache l1(1 << 20, 30s);
  l1.enable();
  ASSERT_TRUE(l1.insert("k", entry("v1"), {"old"}, l1.epoch(), kL1Now));
  ASSERT_TRUE(l1.insert("k", entry("v2"), {"new"}, l1.epoch(), kL1Now));
  EXPECT_EQ(l1.entries(), 1u);
  l1.invalidate({"old"});
  ASSERT_NE(l1.get("k", kL1Now), nullptr);
  EXPECT_EQ(l1.get("k", kL1Now)->body, "v2");
  l1.invalidate({"new"});
  EXPECT_EQ(l1.get("k", kL1Now), nullptr);
}

// Entries share tags, name one twice, are replaced and dropped: each purge takes exactly the entries indexed
// under its tags, checked against a plain model after every step.
TEST(L1Cache, TagIndexFollowsInsertsReplacementsErasesAndPurges) {
  L1Cache l1(1 << 24, 30s);
  l1.enable();
  std::map<std::string, std::set<std::string>> model;  // key -> its tags
  std::mt19937 rng(17);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int step = 0; step < 3'000; ++step) {
    const std::string key = "k" + std::to_string(pick(24));
    const int op = pick(10);
    if (op < 6) {
      std::vector<std::string> tags;
      for (int i = pick(4); i >= 0; --i) tags.push_back("t" + std::to_string(pick(5)));  // repeats allowed
      ASSERT_TRUE(l1.insert(key, entry(key), tags, l1.epoch(), kL1Now));
      model[key] = {tags.begin(), tags.end()};
    } else if (op < 7) {
      l1.erase(key);
      model.erase(key);
    } else {
      const std::vector<std::string> purged{"t" + std::to_string(pick(5)), "t" + std::to_string(pick(5))};
      l1.invalidate(purged);
      std::erase_if(model, [&](const auto& kv) {
        return std::any_of(purged.begin(), purged.end(),
                           [&](const auto& t) { return kv.second.count(t) > 0; });
      });
    }
    ASSERT_EQ(l1.entries(), model.size()) << "step " << step;
    for (int k = 0; k < 24; ++k) {
      const std::string probe = "k" + std::to_string(k);
      auto e = l1.get(probe, kL1Now);
      ASSERT_EQ(e != nullptr, model.count(probe) > 0) << probe << " at step " << step;
      if (e) {
        EXPECT_EQ(e->body, probe);
      }
    }
  }
  l1.invalidate({"t0", "t1", "t2", "t3", "t4"});
  EXPECT_EQ(l1.entries(), 0u);
  EXPECT_EQ(l1.bytes(), 0u);
}

// An entry evicted for room leaves its tags' lists: a later purge of them drops only what is still kept.
TEST(L1Cache, EvictedEntriesLeaveTheirTags) {
  L1Cache l1(12'000, 30s);
  l1.enable();
  const std::string body(3'000, 'x');
  ASSERT_TRUE(l1.insert("a", entry(body), {"x", "y"}, l1.epoch(), kL1Now));
  ASSERT_TRUE(l1.insert("b", entry(body), {"y"}, l1.epoch(), kL1Now));
  ASSERT_TRUE(l1.insert("c", entry(body), {"x", "x"}, l1.epoch(), kL1Now));
  ASSERT_TRUE(l1.insert("d", entry(body), {"z"}, l1.epoch(), kL1Now));  // evicts "a"
  EXPECT_EQ(l1.get("a", kL1Now), nullptr);
  EXPECT_EQ(l1.entries(), 3u);
  l1.invalidate({"x"});
  EXPECT_EQ(l1.get("c", kL1Now), nullptr);
  EXPECT_NE(l1.get("b", kL1Now), nullptr);
  EXPECT_NE(l1.get("d", kL1Now), nullptr);
  l1.invalidate({"y"});
  EXPECT_EQ(l1.get("b", kL1Now), nullptr);
  EXPECT_EQ(l1.entries(), 1u);
}

// Workers and the purge listener use it from several threads at once: the accounting stays exact.
TEST(L1Cache, ConcurrentInsertsReadsAndPurgesKeepTheBooksExact) {
  L1Cache l1(1 << 16, 30s);
  l1.enable();
  std::atomic<bool> stop{false};
  std::thread purger([&] {
    while (!stop) l1.invalidate({"t"});
  });
  std::thread reader([&] {
    while (!stop)
      for (int i = 0; i < 64; ++i) l1.get("k" + std::to_string(i), kL1Now);
  });
  for (int i = 0; i < 20'000; ++i)
    l1.insert("k" + std::to_string(i % 64), entry(std::string(i % 2000, 'x')), {"t"}, l1.epoch(), kL1Now);
  stop = true;
  purger.join();
  reader.join();
  EXPECT_LE(l1.bytes(), l1.max_bytes());
  l1.invalidate({"t"});
  EXPECT_EQ(l1.entries(), 0u);
  EXPECT_EQ(l1.bytes(), 0u);
}

}  // namespace
}  // namespace orc::cache
