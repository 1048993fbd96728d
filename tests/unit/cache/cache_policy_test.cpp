// Unit tests for cache/cache_policy and cache/cache_entry: what may be stored, for how long (the rule's ttl
// or the backend's RFC 9111 freshness), Vary, ETags and conditional requests, and the entry's binary form.
#include "cache/cache_policy.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cache/cache_entry.hpp"
#include "support/paths.hpp"

namespace orc::cache {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;  // ms

config::CacheAction rule_ttl(std::chrono::milliseconds ttl) {
  config::CacheAction a;
  a.ttl = ttl;
  return a;
}

config::CacheAction rule_origin() {
  config::CacheAction a;
  a.ttl_origin = true;
  return a;
}

TEST(Freshness, RuleTtlIgnoresTheBackendsHeaders) {
  HeaderList h{{"Cache-Control", "max-age=5"}, {"Age", "100"}};
  auto f = freshness(rule_ttl(std::chrono::minutes(2)), {200, &h}, kNow);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->lifetime_ms, 120'000);
  EXPECT_EQ(f->initial_age_s, 0u);
  EXPECT_FALSE(freshness(rule_ttl(std::chrono::milliseconds(0)), {200, &h}, kNow));
}

TEST(Freshness, OriginPrefersSMaxAgeThenMaxAgeThenExpires) {
  HeaderList both{{"Cache-Control", "max-age=10, s-maxage=60"}};
  EXPECT_EQ(freshness(rule_origin(), {200, &both}, kNow)->lifetime_ms, 60'000);
  HeaderList max_age{{"Cache-Control", "public, max-age=30"}};
  EXPECT_EQ(freshness(rule_origin(), {200, &max_age}, kNow)->lifetime_ms, 30'000);
  HeaderList expires{{"Date", "Tue, 14 Nov 2023 22:13:20 GMT"}, {"Expires", "Tue, 14 Nov 2023 22:14:20 GMT"}};
  EXPECT_EQ(freshness(rule_origin(), {200, &expires}, kNow)->lifetime_ms, 60'000);
}

TEST(Freshness, OriginSubtractsAgeAndRefusesWhatIsAlreadyStale) {
  HeaderList aged{{"Cache-Control", "max-age=60"}, {"Age", "20"}};
  auto f = freshness(rule_origin(), {200, &aged}, kNow);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->lifetime_ms, 40'000);
  EXPECT_EQ(f->initial_age_s, 20u);
  HeaderList spent{{"Cache-Control", "max-age=60"}, {"Age", "60"}};
  EXPECT_FALSE(freshness(rule_origin(), {200, &spent}, kNow));
}

TEST(Freshness, OriginWithoutExplicitFreshnessOrWithNoCacheIsNotStored) {
  HeaderList none{{"Content-Type", "application/json"}};
  EXPECT_FALSE(freshness(rule_origin(), {200, &none}, kNow));
  HeaderList no_cache{{"Cache-Control", "no-cache, max-age=60"}};
  EXPECT_FALSE(freshness(rule_origin(), {200, &no_cache}, kNow));
  HeaderList bad_expires{{"Expires", "0"}};
  EXPECT_FALSE(freshness(rule_origin(), {200, &bad_expires}, kNow));
}

TEST(Freshness, MustRevalidateIsReported) {
  HeaderList h{{"Cache-Control", "max-age=60, must-revalidate"}};
  EXPECT_TRUE(freshness(rule_origin(), {200, &h}, kNow)->must_revalidate);
}

TEST(StorableHead, FollowsDesignSectionFive) {
  auto rule = rule_ttl(std::chrono::minutes(1));
  rule.max_body = 100;
  HeaderList plain{{"Content-Type", "application/json"}};
  EXPECT_EQ(storable_head(rule, {200, &plain}), Storability::storable);
  EXPECT_EQ(storable_head(rule, {500, &plain}), Storability::status_not_allowed);
  EXPECT_EQ(storable_head(rule, {201, &plain}), Storability::status_not_allowed);
  HeaderList cookie{{"Set-Cookie", "a=b"}};
  EXPECT_EQ(storable_head(rule, {200, &cookie}), Storability::set_cookie);
  HeaderList no_store{{"Cache-Control", "no-store"}};
  EXPECT_EQ(storable_head(rule, {200, &no_store}), Storability::no_store);
  HeaderList priv{{"Cache-Control", "private, max-age=60"}};
  EXPECT_EQ(storable_head(rule, {200, &priv}), Storability::private_);
  HeaderList star{{"Vary", "Accept, *"}};
  EXPECT_EQ(storable_head(rule, {200, &star}), Storability::vary_star);
  HeaderList big{{"Content-Length", "101"}};
  EXPECT_EQ(storable_head(rule, {200, &big}), Storability::too_large);
  HeaderList fits{{"Content-Length", "100"}};
  EXPECT_EQ(storable_head(rule, {200, &fits}), Storability::storable);
}

TEST(Vary, NamesAreLowerCasedSortedAndUnique) {
  HeaderList h{{"Vary", "Origin, Accept-Language"}, {"vary", "origin"}};
  bool star = true;
  EXPECT_EQ(vary_names({200, &h}, star), (std::vector<std::string>{"accept-language", "origin"}));
  EXPECT_FALSE(star);
}

TEST(ETag, StrongAndStableAndBodyDependent) {
  auto a = strong_etag("{\"n\":1}");
  EXPECT_EQ(a, strong_etag("{\"n\":1}"));
  EXPECT_NE(a, strong_etag("{\"n\":2}"));
  EXPECT_EQ(a.size(), 34u);
  EXPECT_EQ(a.front(), '"');
  EXPECT_EQ(a.back(), '"');
}

TEST(IfNoneMatch, WeakComparisonListsAndStar) {
  std::string etag = "\"abc\"";
  EXPECT_TRUE(if_none_match("\"abc\"", etag));
  EXPECT_TRUE(if_none_match("W/\"abc\"", etag));
  EXPECT_TRUE(if_none_match("\"x\", \"abc\"", etag));
  EXPECT_TRUE(if_none_match("*", etag));
  EXPECT_FALSE(if_none_match("\"abd\"", etag));
  EXPECT_FALSE(if_none_match("abc", etag));
}

TEST(NotModified, IfNoneMatchFirstThenIfModifiedSince) {
  // RFC 9110 section 13.2.2: If-None-Match when present (If-Modified-Since is then ignored), otherwise
  // If-Modified-Since against Last-Modified.
  const std::string etag = "\"v1\"";
  const std::string_view lm = "Tue, 01 Dec 2026 10:00:00 GMT";
  EXPECT_TRUE(not_modified("\"v1\"", "", etag, std::nullopt));
  EXPECT_TRUE(not_modified("W/\"v1\"", "", etag, lm));
  EXPECT_FALSE(not_modified("\"v2\"", "", etag, lm));
  EXPECT_FALSE(not_modified("\"v2\"", "Tue, 01 Dec 2026 10:00:00 GMT", etag, lm)) << "If-None-Match wins";
  EXPECT_TRUE(not_modified("", "Tue, 01 Dec 2026 10:00:00 GMT", etag, lm)) << "equal: not modified";
  EXPECT_TRUE(not_modified(" ", "Wed, 02 Dec 2026 00:00:00 GMT", etag, lm))
      << "a blank If-None-Match is absent";
  EXPECT_FALSE(not_modified("", "Tue, 01 Dec 2026 09:59:59 GMT", etag, lm)) << "modified since";
  EXPECT_FALSE(not_modified("", "garbage", etag, lm));
  EXPECT_FALSE(not_modified("", "Wed, 02 Dec 2026 00:00:00 GMT", etag, std::nullopt)) << "no Last-Modified";
  EXPECT_FALSE(not_modified("", "Wed, 02 Dec 2026 00:00:00 GMT", etag, "not a date"));
  EXPECT_FALSE(not_modified("", "", etag, lm));
}

TEST(RequestDirectives, NoStoreAndNoCache) {
  EXPECT_TRUE(request_directives("no-store", "").no_store);
  EXPECT_TRUE(request_directives("no-cache", "").no_cache);
  EXPECT_TRUE(request_directives("max-age=0", "").no_cache);
  EXPECT_TRUE(request_directives("", "no-cache").no_cache);
  auto none = request_directives("max-age=60", "");
  EXPECT_FALSE(none.no_store);
  EXPECT_FALSE(none.no_cache);
}

TEST(HttpDate, ImfFixdateOnly) {
  EXPECT_EQ(parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000);
  EXPECT_FALSE(parse_http_date_ms("yesterday"));
  EXPECT_FALSE(parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT trailing"));
}

TEST(CacheEntry, SerialisesEveryFieldAndRejectsDamage) {
  CacheEntry e;
  e.status = 203;
  e.headers = {{"Content-Type", "application/json"}, {"X-Empty", ""}};
  e.body = std::string("bin\0ary", 7);
  e.material = "rule=r\nscope=tenant:t\n";
  e.etag = "\"e\"";
  e.stored_at_ms = 1;
  e.fresh_until_ms = 2;
  e.swr_until_ms = 3;
  e.sie_until_ms = 4;
  e.initial_age_s = 5;
  e.vary_names = {"origin"};
  auto blob = serialize(e);
  auto back = deserialize(blob);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, e.status);
  EXPECT_EQ(back->headers, e.headers);
  EXPECT_EQ(back->body, e.body);
  EXPECT_EQ(back->material, e.material);
  EXPECT_EQ(back->etag, e.etag);
  EXPECT_EQ(back->fresh_until_ms, 2);
  EXPECT_EQ(back->swr_until_ms, 3);
  EXPECT_EQ(back->sie_until_ms, 4);
  EXPECT_EQ(back->initial_age_s, 5u);
  EXPECT_EQ(back->vary_names, e.vary_names);
  EXPECT_FALSE(back->vary_marker);

  EXPECT_FALSE(deserialize(blob.substr(0, blob.size() - 1)));  // truncated
  EXPECT_FALSE(deserialize(blob.substr(1)));                   // the body's first byte gone
  EXPECT_FALSE(deserialize(blob + "x"));                       // trailing bytes
  EXPECT_FALSE(deserialize("x" + blob));                       // the body's length no longer fits the fields
  EXPECT_FALSE(deserialize(""));
  EXPECT_FALSE(deserialize(std::string("orc\x02", 4)));
  std::string other_version = blob;
  other_version.back() = 1;  // version 1 wrote a version byte first and the body last
  EXPECT_FALSE(deserialize(other_version));
  std::string huge_length = blob;
  huge_length[huge_length.size() - 5] = '\x7f';  // the body's length's top byte
  EXPECT_FALSE(deserialize(huge_length));
}

TEST(CacheEntry, TheFuzzSeedsAreEntriesOfThisVersion) {
  // tests/fuzz/corpus/entry seeds the decoder's fuzzer: they must decode, or the fuzzer starts from nothing.
  std::size_t seeds = 0;
  for (const auto& f :
       std::filesystem::directory_iterator(orc::test::source_file("tests/fuzz/corpus/entry"))) {
    std::ifstream in(f.path(), std::ios::binary);
    std::string blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(deserialize(blob).has_value()) << f.path();
    ++seeds;
  }
  EXPECT_GE(seeds, 3u);
}

TEST(CacheEntry, TheBodyComesFirstAndLeavesInTheBlobsBuffer) {
  CacheEntry e;
  e.status = 200;
  e.body = std::string(4096, 'b');
  e.material = "m";
  auto blob = serialize(e);
  EXPECT_EQ(blob.compare(0, e.body.size(), e.body), 0) << "the body leads the blob";
  const char* buffer = blob.data();
  auto back = deserialize(std::move(blob));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->body, e.body);
  EXPECT_EQ(back->body.data(), buffer) << "the body was copied out of the blob";
}

// Redis may be shared: a blob that serialize() of a stored response never writes is refused, not served.
TEST(CacheEntry, RefusesStatusesAndHeadersNoBackendResponseHas) {
  auto decodes = [](auto change) {
    CacheEntry e;
    e.headers = {{"Content-Type", "application/json"}};
    e.vary_names = {"accept-language"};
    change(e);
    return deserialize(serialize(e)).has_value();
  };
  EXPECT_TRUE(decodes([](CacheEntry&) {}));
  EXPECT_TRUE(decodes([](CacheEntry& e) { e.status = 100; }));
  EXPECT_TRUE(decodes([](CacheEntry& e) { e.status = 599; }));
  EXPECT_FALSE(decodes([](CacheEntry& e) { e.status = 99; }));
  EXPECT_FALSE(decodes([](CacheEntry& e) { e.status = 600; }));
  EXPECT_FALSE(decodes([](CacheEntry& e) { e.headers.emplace_back("X-Split", "a\r\nSet-Cookie: s=1"); }));
  EXPECT_FALSE(decodes([](CacheEntry& e) { e.headers.emplace_back("X-Nul", std::string("a\0b", 3)); }));
  EXPECT_FALSE(decodes([](CacheEntry& e) { e.headers.emplace_back("Bad Name", "v"); }));
  EXPECT_FALSE(decodes([](CacheEntry& e) { e.headers.emplace_back("", "v"); }));
  EXPECT_FALSE(decodes([](CacheEntry& e) { e.vary_names.push_back("a:b"); }));
}

}  // namespace
}  // namespace orc::cache
