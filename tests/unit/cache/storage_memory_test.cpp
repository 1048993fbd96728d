// What only the memory backend has: the byte budget, its LRU order, and generations that expire.
#include <gtest/gtest.h>

#include "cache/memory_storage.hpp"

namespace orc::cache {
namespace {

using namespace std::chrono_literals;

class MemoryStorageTest : public ::testing::Test {
 protected:
  // Keys "k1".."k9" are 2 bytes, blobs 8 and their seal 8 without tags (17 more a tag): 18 bytes an
  // untagged entry, so a 60-byte budget holds three.
  static constexpr std::chrono::milliseconds kMaxFill = 5s;
  MemoryStorage store_{60, [this] { return now_; }, kMaxFill};
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::time_point() + 1h;

  bool put(const std::string& key, std::vector<std::string> tags = {}, std::chrono::milliseconds ttl = 60s) {
    return store_.put_if_current_now(key, "12345678", ttl, tags, store_.generations_now(tags));
  }
  bool present(const std::string& key, const std::vector<std::string>& tags = {}) {
    return store_.read_now(key, tags).blob.has_value();
  }
};

TEST_F(MemoryStorageTest, CountsSealedBlobAndKeyBytes) {
  ASSERT_TRUE(put("k1"));
  EXPECT_EQ(store_.bytes(), 18u);
  ASSERT_TRUE(put("k1"));  // an overwrite replaces, it does not add
  EXPECT_EQ(store_.bytes(), 18u);
  ASSERT_TRUE(put("k2", {"t"}));  // a tag adds its token (18 digits) and a separator to the seal
  EXPECT_EQ(store_.bytes(), 55u);
}

TEST_F(MemoryStorageTest, EvictsTheLeastRecentlyUsedWhenOverBudget) {
  ASSERT_TRUE(put("k1"));
  ASSERT_TRUE(put("k2"));
  ASSERT_TRUE(put("k3"));
  ASSERT_TRUE(put("k4"));
  EXPECT_FALSE(present("k1"));
  EXPECT_TRUE(present("k2"));
  EXPECT_TRUE(present("k3"));
  EXPECT_TRUE(present("k4"));
  EXPECT_EQ(store_.entries(), 3u);
  EXPECT_LE(store_.bytes(), store_.max_bytes());
}

TEST_F(MemoryStorageTest, AGetRefreshesRecency) {
  ASSERT_TRUE(put("k1"));
  ASSERT_TRUE(put("k2"));
  ASSERT_TRUE(put("k3"));
  ASSERT_TRUE(present("k1"));  // k1 is now the most recently used; k2 the least
  ASSERT_TRUE(put("k4"));
  EXPECT_TRUE(present("k1"));
  EXPECT_FALSE(present("k2"));
  EXPECT_TRUE(present("k3"));
}

TEST_F(MemoryStorageTest, AnEntryLargerThanTheBudgetIsNotStored) {
  ASSERT_TRUE(put("k1"));
  EXPECT_FALSE(store_.put_if_current_now("big", std::string(100, 'x'), 60s, {}, store_.generations_now({})));
  EXPECT_FALSE(present("big"));
  EXPECT_TRUE(present("k1"));  // and nothing was evicted for it
}

// A purge outdates entries without deleting them: they drift to the cold end of the LRU (a read that finds
// one outdated does not make it recent) and go first.
TEST_F(MemoryStorageTest, OutdatedEntriesAreEvictedFirst) {
  MemoryStorage store(73, [this] { return now_; });  // k2, k3 (18 bytes each) and k1 under a tag (37)
  auto put_in = [&](const std::string& key, const std::vector<std::string>& tags) {
    return store.put_if_current_now(key, "12345678", 60s, tags, store.generations_now(tags));
  };
  ASSERT_TRUE(put_in("k2", {}));
  ASSERT_TRUE(put_in("k3", {}));
  ASSERT_TRUE(put_in("k1", {"t"}));
  store.purge_now({"t"});
  ASSERT_TRUE(store.read_now("k2", {}).blob);
  ASSERT_TRUE(store.read_now("k3", {}).blob);
  EXPECT_FALSE(store.read_now("k1", {"t"}).blob);  // the most recent read, but of an outdated entry
  ASSERT_TRUE(put_in("k4", {}));
  EXPECT_EQ(store.entries(), 3u) << "k1 went, not k2";
  EXPECT_TRUE(store.read_now("k2", {}).blob);
}

// A tag's generation lives as long as the longest entry sealed with it (a fill that would outlive it makes it
// twice that fill's TTL, so the fills after it need not write it again), and a purge's for max_fill at least;
// then the tag has none, which matches no entry, and it is dropped.
TEST_F(MemoryStorageTest, GenerationsLiveAsLongAsTheirEntriesThenGo) {
  store_.purge_now({"t"});
  EXPECT_EQ(store_.generation_count(), 1u);
  now_ += kMaxFill;
  EXPECT_EQ(store_.generations_now({"t"}).tokens.at(0), "") << "no entry kept it";

  ASSERT_TRUE(put("k1", {"t"}, 60s));  // t gets a generation, until 120 s from now
  const auto token = store_.generations_now({"t"}).tokens.at(0);
  ASSERT_NE(token, "");
  store_.purge_now({"u"});  // each set drops what expired: the purge's generation of t is gone
  EXPECT_EQ(store_.generation_count(), 2u);
  now_ += 59s;
  EXPECT_TRUE(present("k1", {"t"}));
  now_ += 1s;
  EXPECT_FALSE(present("k1", {"t"})) << "the entry's own TTL";
  EXPECT_EQ(store_.generations_now({"t"}).tokens.at(0), token) << "its generation reaches further";
  ASSERT_TRUE(put("k2", {"t"}, 30s));  // 60 s left, more than 30: the generation stays as it is
  now_ += 40s;                         // 20 s left
  ASSERT_TRUE(put("k3", {"t"}, 30s));  // which k3 would outlive: extended to 60 s from now
  now_ += 59s;
  EXPECT_EQ(store_.generations_now({"t"}).tokens.at(0), token);
  now_ += 1s;
  EXPECT_EQ(store_.generations_now({"t"}).tokens.at(0), "");
  store_.purge_now({"v"});
  EXPECT_EQ(store_.generation_count(), 1u) << "only v's";
}

}  // namespace
}  // namespace orc::cache
