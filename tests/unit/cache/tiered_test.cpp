// The two tiers seen as one (cache/tiered.hpp), in simulated time: a util::ManualClock drives the entries'
// windows, the memory storage's TTLs and the L1's max age, so TTL, stale-while-revalidate and stale-if-error
// are checked to the millisecond without waiting for real seconds.
#include "cache/tiered.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "cache/cache_policy.hpp"
#include "cache/memory_storage.hpp"
#include "cache/vary.hpp"
#include "util/digest.hpp"

namespace orc::cache {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class TieredTest : public ::testing::Test {
 protected:
  // Runs one operation of the cache to its end (the memory storage never suspends for long).
  template <typename T>
  T run(asio::awaitable<T> op) {
    auto f = asio::co_spawn(ctx_, std::move(op), asio::use_future);
    ctx_.restart();
    ctx_.run();
    return f.get();
  }

  Found lookup(const CacheKey& key, const HeaderList& request = {}) {
    return run(cache_.lookup(key, headers(request), tags_));
  }
  // A fill after a miss: the generations the lookup read, then the store.
  Stored fill(const CacheKey& key, const HeaderList& response, const HeaderList& request = {},
              std::string body = "body", unsigned status = 200) {
    auto found = lookup(key, request);
    EXPECT_TRUE(found.generations.has_value());
    return run(cache_.store(rule_, key, tags_, found.generations.value_or(Generations{}), found.l1_epoch,
                            status, response, std::move(body), headers(request)));
  }
  Use use_at(const CacheKey& key) {
    auto found = lookup(key);
    return found.entry ? usable(*found.entry, clock_.now_ms()) : Use::none;
  }
  // A lookup over a copy of `h`: the views it returns live as long as the lookup.
  static identity::HeaderLookup headers(const HeaderList& h) {
    return [h](std::string_view name) -> std::optional<std::string_view> {
      for (const auto& [k, v] : h)
        if (k == name) return std::string_view(v);
      return std::nullopt;
    };
  }

  util::ManualClock clock_;
  MemoryStorage storage_{1 << 20, [this] { return clock_.steady(); }};
  L1Cache l1_{1 << 20, 30s};
  TieredCache cache_{clock_, storage_, nullptr};
  config::CacheAction rule_;
  std::vector<std::string> tags_ = {"risks:t-1", "uri:/r"};
  CacheKey key_{"orc:e:k1", "rule=r\npath=/r\n"};
  asio::io_context ctx_;
};

TEST_F(TieredTest, AnEntryIsFreshForItsTtlThenGoneWithoutStaleWindows) {
  rule_.ttl = 60s;
  ASSERT_EQ(fill(key_, {{"Content-Type", "application/json"}}).outcome, Stored::stored);
  EXPECT_EQ(use_at(key_), Use::fresh);
  clock_.advance(59'999ms);
  EXPECT_EQ(use_at(key_), Use::fresh);
  clock_.advance(1ms);
  EXPECT_EQ(use_at(key_), Use::none) << "past its TTL";
  EXPECT_FALSE(lookup(key_).entry) << "and the storage let it go";
}

TEST_F(TieredTest, StaleWhileRevalidateThenStaleIfErrorWindows) {
  rule_.ttl = 10s;
  rule_.stale_while_revalidate = 20s;
  rule_.stale_if_error = 60s;
  ASSERT_EQ(fill(key_, {}).outcome, Stored::stored);
  clock_.advance(10s);
  EXPECT_EQ(use_at(key_), Use::stale_while_revalidate);
  clock_.advance(19'999ms);
  EXPECT_EQ(use_at(key_), Use::stale_while_revalidate);
  clock_.advance(1ms);
  auto found = lookup(key_);
  ASSERT_TRUE(found.entry);
  EXPECT_EQ(usable(*found.entry, clock_.now_ms()), Use::stale_if_error);
  EXPECT_TRUE(serves_on_error(*found.entry, clock_.now_ms()));
  clock_.advance(40s);  // 70 s after the store
  EXPECT_EQ(use_at(key_), Use::none);
}

TEST_F(TieredTest, AShortStaleIfErrorDoesNotServeErrorsDuringALongerRevalidateWindow) {
  rule_.ttl = 10s;
  rule_.stale_while_revalidate = 60s;
  rule_.stale_if_error = 5s;
  ASSERT_EQ(fill(key_, {}).outcome, Stored::stored);
  clock_.advance(20s);
  auto found = lookup(key_);
  ASSERT_TRUE(found.entry);
  EXPECT_EQ(usable(*found.entry, clock_.now_ms()), Use::stale_while_revalidate);
  EXPECT_FALSE(serves_on_error(*found.entry, clock_.now_ms())) << "stale_if_error ended 5 s ago";
}

TEST_F(TieredTest, OriginFreshnessSubtractsAgeAndMustRevalidateHasNoStaleWindows) {
  rule_.ttl_origin = true;
  rule_.stale_while_revalidate = 30s;
  ASSERT_EQ(fill(key_, {{"Cache-Control", "max-age=10, must-revalidate"}, {"Age", "3"}}).outcome,
            Stored::stored);
  auto found = lookup(key_);
  ASSERT_TRUE(found.entry);
  EXPECT_EQ(found.entry->initial_age_s, 3u);
  clock_.advance(6'999ms);
  EXPECT_EQ(use_at(key_), Use::fresh);
  clock_.advance(1ms);
  EXPECT_EQ(use_at(key_), Use::none) << "must-revalidate: no stale window";
}

TEST_F(TieredTest, AFillThatRacedWithAPurgeOfItsTagsIsRefused) {
  rule_.ttl = 60s;
  auto found = lookup(key_);
  ASSERT_TRUE(found.generations);
  ASSERT_EQ(run(storage_.purge({"risks:t-1"})), StorageStatus::ok);  // a write while the backend answered
  auto stored = run(cache_.store(rule_, key_, tags_, *found.generations, found.l1_epoch, 200, {}, "pre-write",
                                 headers({})));
  EXPECT_EQ(stored.outcome, Stored::refused);
  ASSERT_TRUE(stored.entry) << "the entry is built all the same (the flight's waiters may be served it)";
  EXPECT_EQ(stored.entry->body, "pre-write");
  EXPECT_FALSE(lookup(key_).entry);
}

TEST_F(TieredTest, NotStorableResponsesBuildNoEntry) {
  rule_.ttl_origin = true;
  EXPECT_EQ(fill(key_, {}).outcome, Stored::not_storable) << "ttl: origin without explicit freshness";
  rule_.ttl_origin = false;
  EXPECT_EQ(fill(key_, {{"Vary", "*"}}).outcome, Stored::not_storable);
  EXPECT_FALSE(lookup(key_).entry);
}

TEST_F(TieredTest, VaryVariantsAreFoundOnlyByTheirRequestFields) {
  rule_.ttl = 60s;
  ASSERT_EQ(fill(key_, {{"Vary", "Accept-Language"}}, {{"accept-language", "de"}}, "Hallo").outcome,
            Stored::stored);
  auto de = lookup(key_, {{"accept-language", "de"}});
  ASSERT_TRUE(de.entry);
  EXPECT_EQ(de.entry->body, "Hallo");
  EXPECT_TRUE(matches(*de.entry, key_, headers({{"accept-language", "de"}})));
  EXPECT_FALSE(matches(*de.entry, key_, headers({{"accept-language", "fr"}})));
  EXPECT_FALSE(lookup(key_, {{"accept-language", "fr"}}).entry);
  EXPECT_FALSE(lookup(key_).entry);
}

// A backend's `Vary: Authorization` (or `Cookie`) splits the entry per credential; the stored entry keeps a
// digest of each field's value, never the credential itself (found by a probe: the whole bearer token was in
// the Redis value).
TEST_F(TieredTest, AVaryOnACredentialFieldNeverStoresTheCredential) {
  rule_.ttl = 60s;
  const std::string token = "eyJhbGciOiJSUzI1NiJ9.secret-part.signature";
  const HeaderList alice{{"authorization", "Bearer " + token}, {"cookie", "or_access=" + token}};
  ASSERT_EQ(fill(key_, {{"Vary", "Authorization, Cookie"}}, alice, "alice's").outcome, Stored::stored);
  auto found = lookup(key_, alice);
  ASSERT_TRUE(found.entry);
  EXPECT_EQ(found.entry->body, "alice's");
  EXPECT_EQ(serialize(*found.entry).find("secret-part"), std::string::npos);
  EXPECT_EQ(found.entry->material.find("secret-part"), std::string::npos);
  EXPECT_FALSE(lookup(key_, {{"authorization", "Bearer other"}, {"cookie", "or_access=" + token}}).entry);
  EXPECT_FALSE(lookup(key_, {{"authorization", "Bearer " + token}}).entry) << "no Cookie is another variant";
}

// With cache.key_secret the digests are HMACs: a reader of Redis cannot test a guess of a low-entropy value
// (a Basic credential) against the stored material without the secret, and a new secret selects new
// variants, as it does new `credential` keys.
TEST_F(TieredTest, AVaryDigestIsKeyedWithTheKeySecret) {
  rule_.ttl = 60s;
  CacheKey keyed = key_;
  keyed.secret = "key-secret";
  const std::string basic = "Basic YWxpY2U6cGFzc3dvcmQ=";  // alice:password
  const HeaderList alice{{"authorization", basic}};
  ASSERT_EQ(fill(keyed, {{"Vary", "Authorization"}}, alice, "alice's").outcome, Stored::stored);
  auto found = lookup(keyed, alice);
  ASSERT_TRUE(found.entry);
  EXPECT_EQ(found.entry->body, "alice's");
  const auto value = vary_value("authorization", basic);
  EXPECT_NE(found.entry->material.find(util::hmac_sha256_hex("key-secret", value)), std::string::npos);
  EXPECT_EQ(found.entry->material.find(util::sha256_hex(value)), std::string::npos);
  EXPECT_TRUE(matches(*found.entry, keyed, headers(alice))) << "a follower of the flight takes it";
  CacheKey resecret = key_;
  resecret.secret = "another-secret";
  EXPECT_FALSE(matches(*found.entry, resecret, headers(alice)));
  EXPECT_FALSE(lookup(resecret, alice).entry);
  EXPECT_FALSE(lookup(key_, alice).entry) << "nor does the unkeyed digest";
}

TEST_F(TieredTest, AForeignEntryUnderTheKeyIsNeverReturned) {
  rule_.ttl = 60s;
  ASSERT_EQ(fill(key_, {}).outcome, Stored::stored);
  CacheKey same_hash_other_material{key_.key, "rule=other\n"};
  EXPECT_FALSE(lookup(same_hash_other_material).entry);
}

TEST_F(TieredTest, ValidatorsAreTheOriginsOrTheProxysOwn) {
  rule_.ttl = 60s;
  ASSERT_EQ(fill(key_, {{"ETag", "\"v7\""}}).outcome, Stored::stored);
  EXPECT_EQ(lookup(key_).entry->etag, "\"v7\"");
  CacheKey other{"orc:e:k2", "rule=r\npath=/other\n"};
  ASSERT_EQ(fill(other, {}, {}, "some body").outcome, Stored::stored);
  EXPECT_EQ(lookup(other).entry->etag, strong_etag("some body"));
}

// RFC 9110 section 6.6.1: a response stored without a Date gets the time the cache stored it (what an
// If-Modified-Since is compared with when there is no Last-Modified); the origin's Date is kept as it is.
TEST_F(TieredTest, AResponseWithoutADateIsStoredWithTheTimeItArrived) {
  rule_.ttl = 60s;
  clock_.advance(1'234'567ms);
  ASSERT_EQ(fill(key_, {{"Content-Type", "text/plain"}}).outcome, Stored::stored);
  const auto undated = lookup(key_).entry;
  ASSERT_TRUE(undated);
  EXPECT_EQ(find_header(undated->headers, "Date"), format_http_date(clock_.now_ms()));

  CacheKey other{"orc:e:k2", "rule=r\npath=/other\n"};
  const std::string origin_date = "Tue, 14 Nov 2023 22:13:20 GMT";
  ASSERT_EQ(fill(other, {{"date", origin_date}}).outcome, Stored::stored);
  const auto dated = lookup(other).entry;
  ASSERT_TRUE(dated);
  EXPECT_EQ(std::count_if(dated->headers.begin(), dated->headers.end(),
                          [](const auto& f) { return f.first == "Date" || f.first == "date"; }),
            1);
  EXPECT_EQ(find_header(dated->headers, "Date"), origin_date);
}

class TieredL1Test : public TieredTest {
 protected:
  void SetUp() override { l1_.enable(); }
  TieredCache with_l1_{clock_, storage_, &l1_};
};

TEST_F(TieredL1Test, HitsComeFromTheL1UntilItsMaxAgeThenOneReadRefreshesIt) {
  rule_.ttl = 5min;
  auto found = run(with_l1_.lookup(key_, headers({}), tags_));
  ASSERT_TRUE(found.generations);
  ASSERT_EQ(
      run(with_l1_.store(rule_, key_, tags_, *found.generations, found.l1_epoch, 200, {}, "v1", headers({})))
          .outcome,
      Stored::stored);
  auto hit = run(with_l1_.lookup(key_, headers({}), tags_));
  ASSERT_TRUE(hit.entry);
  EXPECT_TRUE(hit.from_l1);

  // Another instance replaced the entry in the storage; the L1 keeps its copy for l1_max_age (30 s).
  ASSERT_EQ(run(storage_.purge({"uri:/r"})), StorageStatus::ok);
  clock_.advance(29s);
  EXPECT_TRUE(run(with_l1_.lookup(key_, headers({}), tags_)).from_l1);
  clock_.advance(1s);
  auto refreshed = run(with_l1_.lookup(key_, headers({}), tags_));
  EXPECT_FALSE(refreshed.from_l1);
  EXPECT_FALSE(refreshed.entry) << "the storage has none now, so the L1 lets its copy go";
}

TEST_F(TieredL1Test, AnL1InsertRacingAPurgeOfItsTagsIsRefused) {
  rule_.ttl = 5min;
  auto found = run(with_l1_.lookup(key_, headers({}), tags_));
  ASSERT_TRUE(found.generations);
  l1_.invalidate({"risks:t-1"});  // another instance's purge, through the listener: not yet in the storage
  auto stored = run(with_l1_.store(rule_, key_, tags_, *found.generations, found.l1_epoch, 200, {},
                                   "pre-write", headers({})));
  EXPECT_EQ(stored.outcome, Stored::stored) << "the memory storage saw no purge";
  EXPECT_FALSE(run(with_l1_.lookup(key_, headers({}), tags_)).from_l1) << "the L1 must not keep it";
}

}  // namespace
}  // namespace orc::cache
