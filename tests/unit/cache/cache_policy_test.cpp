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

// RFC 9111 section 4.2, table-driven: what an origin rule makes of the backend's freshness fields. `Date`
// is kNow unless a case sets it. Empty lifetime: not stored (no or unusable freshness, or already stale).
TEST(Freshness, OriginRfc9111Section4_2) {
  const std::string now = "Tue, 14 Nov 2023 22:13:20 GMT";  // kNow
  struct Case {
    const char* why;
    HeaderList fields;
    std::optional<std::int64_t> lifetime_ms;
    std::uint64_t initial_age_s = 0;
  };
  config::CacheAction heuristic = rule_origin();
  heuristic.heuristic_max = std::chrono::hours(1);
  const Case cases[] = {
      // 4.2.1 precedence and 5.2.2 syntax
      {"s-maxage over max-age", {{"Cache-Control", "max-age=10, s-maxage=60"}}, 60'000},
      {"max-age over Expires",
       {{"Cache-Control", "max-age=10"}, {"Expires", "Tue, 14 Nov 2023 23:13:20 GMT"}},
       10'000},
      {"directive names in any case", {{"Cache-Control", "MAX-AGE=30"}}, 30'000},
      {"S-MaxAge in any case", {{"Cache-Control", "max-age=5, S-MAXAGE=40"}}, 40'000},
      {"the first of two max-age wins", {{"Cache-Control", "max-age=30, max-age=90"}}, 30'000},
      {"the first across field lines",
       {{"Cache-Control", "max-age=20"}, {"Cache-Control", "max-age=90"}},
       20'000},
      {"quoted max-age is not the token form: stale", {{"Cache-Control", "max-age=\"30\""}}, std::nullopt},
      {"non-numeric max-age: stale", {{"Cache-Control", "max-age=abc"}}, std::nullopt},
      {"negative max-age: stale", {{"Cache-Control", "max-age=-5"}}, std::nullopt},
      {"an invalid s-maxage is not replaced by max-age",
       {{"Cache-Control", "s-maxage=x, max-age=60"}},
       std::nullopt},
      {"a huge max-age is 2^31 seconds",
       {{"Cache-Control", "max-age=99999999999999999999"}},
       2147483648LL * 1000},
      {"max-age=0 is stale at once", {{"Cache-Control", "max-age=0"}}, std::nullopt},
      // Expires - Date (5.3), with the three date forms and invalid dates
      {"Expires minus Date", {{"Date", now}, {"Expires", "Tue, 14 Nov 2023 22:14:20 GMT"}}, 60'000},
      {"Expires in RFC 850 form", {{"Date", now}, {"Expires", "Tuesday, 14-Nov-23 22:15:20 GMT"}}, 120'000},
      {"Expires in asctime form", {{"Date", now}, {"Expires", "Tue Nov 14 22:16:20 2023"}}, 180'000},
      {"an invalid Expires is already expired", {{"Date", now}, {"Expires", "0"}}, std::nullopt},
      {"Expires before Date", {{"Date", now}, {"Expires", "Tue, 14 Nov 2023 22:13:00 GMT"}}, std::nullopt},
      // 4.2.3 current age: Age (5.1) strictly parsed, and the apparent age Now - Date
      {"Age is subtracted", {{"Cache-Control", "max-age=60"}, {"Age", "20"}}, 40'000, 20},
      {"a fractional Age is ignored", {{"Cache-Control", "max-age=60"}, {"Age", "20.5"}}, 60'000, 0},
      {"a negative Age is ignored", {{"Cache-Control", "max-age=60"}, {"Age", "-20"}}, 60'000, 0},
      {"a non-numeric Age is ignored", {{"Cache-Control", "max-age=60"}, {"Age", "soon"}}, 60'000, 0},
      {"an Age spending the lifetime", {{"Cache-Control", "max-age=60"}, {"Age", "60"}}, std::nullopt},
      {"the apparent age when it is larger",
       {{"Cache-Control", "max-age=60"}, {"Date", "Tue, 14 Nov 2023 22:13:05 GMT"}, {"Age", "5"}},
       45'000,
       15},
      {"a Date in the future is no age",
       {{"Cache-Control", "max-age=60"}, {"Date", "Tue, 14 Nov 2023 22:20:00 GMT"}},
       60'000,
       0},
      // 4.2.2 heuristic freshness is off unless the rule asks
      {"no explicit freshness",
       {{"Date", now}, {"Last-Modified", "Tue, 14 Nov 2023 12:13:20 GMT"}},
       std::nullopt},
  };
  for (const auto& c : cases) {
    auto f = freshness(rule_origin(), {200, &c.fields}, kNow);
    if (!c.lifetime_ms) {
      EXPECT_FALSE(f) << c.why << ": lifetime " << f->lifetime_ms;
      continue;
    }
    ASSERT_TRUE(f) << c.why;
    EXPECT_EQ(f->lifetime_ms, *c.lifetime_ms) << c.why;
    EXPECT_EQ(f->initial_age_s, c.initial_age_s) << c.why;
  }
}

// RFC 9111 section 4.2.2 with the rule's heuristic_max: 10 % of Date - Last-Modified, capped, for the
// heuristically cacheable statuses (RFC 9110 section 15.1) only, never over explicit freshness.
TEST(Freshness, HeuristicFreshnessWhenTheRuleAsks) {
  config::CacheAction rule = rule_origin();
  rule.heuristic_max = std::chrono::hours(1);
  const std::string now = "Tue, 14 Nov 2023 22:13:20 GMT";
  HeaderList ten_hours{{"Date", now}, {"Last-Modified", "Tue, 14 Nov 2023 12:13:20 GMT"}};
  HeaderList five_hours{{"Date", now}, {"Last-Modified", "Tue, 14 Nov 2023 17:13:20 GMT"}};
  EXPECT_EQ(freshness(rule, {200, &ten_hours}, kNow)->lifetime_ms, 3'600'000) << "capped at heuristic_max";
  EXPECT_EQ(freshness(rule, {200, &five_hours}, kNow)->lifetime_ms, 1'800'000) << "10 % of 5 h";
  for (unsigned status : {203u, 204u, 300u, 301u, 308u, 404u, 405u, 410u, 414u, 501u})
    EXPECT_TRUE(freshness(rule, {status, &five_hours}, kNow)) << status;
  for (unsigned status : {302u, 307u, 403u, 500u, 503u})
    EXPECT_FALSE(freshness(rule, {status, &five_hours}, kNow)) << status << " is not heuristically cacheable";
  HeaderList explicit_{
      {"Date", now}, {"Last-Modified", "Tue, 14 Nov 2023 12:13:20 GMT"}, {"Cache-Control", "max-age=10"}};
  EXPECT_EQ(freshness(rule, {200, &explicit_}, kNow)->lifetime_ms, 10'000) << "explicit freshness wins";
  HeaderList bad{{"Date", now}, {"Last-Modified", "long ago"}};
  EXPECT_FALSE(freshness(rule, {200, &bad}, kNow));
  HeaderList no_cache{
      {"Date", now}, {"Last-Modified", "Tue, 14 Nov 2023 12:13:20 GMT"}, {"Cache-Control", "no-cache"}};
  EXPECT_FALSE(freshness(rule, {200, &no_cache}, kNow));
}

TEST(Freshness, MustRevalidateIsReported) {
  HeaderList h{{"Cache-Control", "max-age=60, must-revalidate"}};
  EXPECT_TRUE(freshness(rule_origin(), {200, &h}, kNow)->must_revalidate);
}

// A stored entry's fields are read in place (ResponseHead over StoredFields) when a request's own terms
// (max-stale) ask whether the entry forbids stale use (RFC 9111 sections 5.2.2.2, 5.2.2.8, 5.2.2.10).
TEST(Freshness, MustRevalidateOfAStoredEntry) {
  const auto rule = rule_origin();
  EXPECT_TRUE(must_revalidate(rule, StoredFields{{"Cache-Control", "max-age=60, must-revalidate"}}));
  EXPECT_TRUE(must_revalidate(
      rule, StoredFields{{"cache-control", "max-age=60"}, {"Cache-Control", "proxy-revalidate"}}));
  EXPECT_TRUE(must_revalidate(rule, StoredFields{{"Cache-Control", "s-maxage=60"}}));
  EXPECT_FALSE(must_revalidate(rule, StoredFields{{"Cache-Control", "max-age=60"}, {"ETag", "\"a\""}}));
  EXPECT_FALSE(must_revalidate(rule, StoredFields{}));

  const StoredFields stored{{"ETag", "\"a\""}, {"Vary", "accept"}, {"vary", "origin"}};
  const ResponseHead head{200, nullptr, &stored};
  EXPECT_EQ(head.get("etag"), "\"a\"");
  EXPECT_EQ(head.all("Vary"), (std::vector<std::string_view>{"accept", "origin"}));
  EXPECT_FALSE(head.get("Last-Modified"));
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
  EXPECT_TRUE(not_modified("\"v1\"", "", etag, std::nullopt, std::nullopt, kNow));
  EXPECT_TRUE(not_modified("W/\"v1\"", "", etag, lm, std::nullopt, kNow));
  EXPECT_FALSE(not_modified("\"v2\"", "", etag, lm, std::nullopt, kNow));
  EXPECT_FALSE(not_modified("\"v2\"", "Tue, 01 Dec 2026 10:00:00 GMT", etag, lm, std::nullopt, kNow))
      << "If-None-Match wins";
  EXPECT_TRUE(not_modified("", "Tue, 01 Dec 2026 10:00:00 GMT", etag, lm, std::nullopt, kNow))
      << "equal: not modified";
  EXPECT_TRUE(not_modified(" ", "Wed, 02 Dec 2026 00:00:00 GMT", etag, lm, std::nullopt, kNow))
      << "a blank If-None-Match is absent";
  EXPECT_FALSE(not_modified("", "Tue, 01 Dec 2026 09:59:59 GMT", etag, lm, std::nullopt, kNow))
      << "modified since";
  EXPECT_FALSE(not_modified("", "garbage", etag, lm, std::nullopt, kNow));
  EXPECT_FALSE(not_modified("", "Wed, 02 Dec 2026 00:00:00 GMT", etag, std::nullopt, std::nullopt, kNow))
      << "no Last-Modified";
  EXPECT_FALSE(not_modified("", "Wed, 02 Dec 2026 00:00:00 GMT", etag, "not a date", std::nullopt, kNow));
  EXPECT_FALSE(not_modified("", "", etag, lm, std::nullopt, kNow));

  // RFC 9111 section 4.3.2: without Last-Modified, the Date; only one a whole second before the date given,
  // since the client's copy may be an answer of that same second from before a write.
  const std::string_view date = "Tue, 01 Dec 2026 10:00:00 GMT";
  EXPECT_FALSE(not_modified("", "Tue, 01 Dec 2026 10:00:00 GMT", etag, std::nullopt, date, kNow))
      << "the same second: maybe another answer";
  EXPECT_TRUE(not_modified("", "Tue, 01 Dec 2026 10:00:01 GMT", etag, std::nullopt, date, kNow));
  EXPECT_FALSE(not_modified("", "Tue, 01 Dec 2026 09:59:59 GMT", etag, std::nullopt, date, kNow));
  EXPECT_TRUE(
      not_modified("", "Tue, 01 Dec 2026 10:00:00 GMT", etag, lm, "Tue, 01 Dec 2026 12:00:00 GMT", kNow))
      << "Last-Modified first, compared as the origin gave it";
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

// RFC 9110 section 5.6.7: a recipient accepts the three forms; a two-digit year more than 50 years in the
// future is in the past century.
TEST(HttpDate, ImfFixdateRfc850AndAsctime) {
  struct Case {
    const char* text;
    std::optional<std::int64_t> ms;
  };
  const Case cases[] = {
      {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777000},
      {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777000},
      {"Sun Nov  6 08:49:37 1994", 784111777000},
      {"Monday, 01-Jan-24 00:00:00 GMT", 1704067200000},  // 2024: within 50 years of now (2023)
      {"Saturday, 01-Jan-50 00:00:00 GMT", 2524608000000},
      {"Tuesday, 01-Jan-74 00:00:00 GMT", 126230400000},  // 2074 is more than 50 years ahead: 1974
      {"yesterday", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37 GMT trailing", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37 UTC", std::nullopt},
      {"Sunday, 06-Nov-1994 08:49:37 GMT", std::nullopt},
      {"0", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_http_date_ms(c.text, kNow), c.ms) << c.text;
}

// The Date a cache adds to a response that has none (RFC 9110 section 6.6.1) is an IMF-fixdate, which reads
// back as the same second.
TEST(HttpDate, FormatsImfFixdate) {
  EXPECT_EQ(format_http_date(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(format_http_date(784111777999), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format_http_date(1709164800000), "Thu, 29 Feb 2024 00:00:00 GMT");
  const std::int64_t later = std::int64_t{kNow} + 86'400'000LL * 200 + 3'723'000;
  for (const std::int64_t ms : {std::int64_t{kNow}, later})
    EXPECT_EQ(parse_http_date_ms(format_http_date(ms), kNow), ms / 1000 * 1000) << ms;
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
  EXPECT_FALSE(decodes([](CacheEntry& e) { e.headers.emplace_back("X-Lf", "a\nb"); }));
  EXPECT_FALSE(decodes([](CacheEntry& e) { e.headers.emplace_back("X-Cr", "a\r"); }));
  EXPECT_TRUE(decodes([](CacheEntry& e) { e.headers.emplace_back("!#$%&'*+-.^_`|~09azAZ", "v"); }))
      << "every tchar of RFC 9110 section 5.6.2";
  for (std::string_view bad :
       {"a(b", "a)b", "a,b", "a/b", "a;b", "a=b", "a\"b", "a{b", "a@b", "a\x7f", "\xc3\xa9"})
    EXPECT_FALSE(decodes([&](CacheEntry& e) { e.headers.emplace_back(bad, "v"); })) << bad;
}

// The stored fields in one buffer read back as the list they were made from: order, repeated names, empty
// values, and copies that do not share the buffer.
TEST(StoredFields, KeepTheFieldsInOrderInOneBuffer) {
  const HeaderList list = {{"Content-Type", "application/json"},
                           {"Link", "</a>; rel=preload"},
                           {"X-Empty", ""},
                           {"link", "</b>; rel=preload"},
                           {"Content-Security-Policy", std::string(300, 'p')}};
  const StoredFields fields(list);
  ASSERT_EQ(fields.size(), list.size());
  EXPECT_EQ(fields.list(), list);
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(fields[i].first, list[i].first);
    EXPECT_EQ(fields[i].second, list[i].second);
  }
  EXPECT_EQ(find_header(fields, "LINK"), "</a>; rel=preload") << "the first of a repeated name";
  EXPECT_EQ(find_header(fields, "x-empty"), "");
  EXPECT_FALSE(find_header(fields, "ETag"));
  EXPECT_FALSE(has_validator(fields));

  StoredFields copy = fields;
  copy.emplace_back("ETag", "\"e\"");
  EXPECT_TRUE(has_validator(copy));
  EXPECT_EQ(copy.size(), fields.size() + 1);
  EXPECT_FALSE(copy == fields);
  EXPECT_EQ(fields.list(), list) << "the copy's append changed the original";
  StoredFields moved = std::move(copy);
  EXPECT_EQ(moved[moved.size() - 1].second, "\"e\"");

  // Through an entry's blob and back.
  CacheEntry e;
  e.headers = list;
  auto back = deserialize(serialize(e));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->headers == fields);
  EXPECT_EQ(back->headers.bytes(), fields.bytes());
  EXPECT_TRUE(StoredFields{} == StoredFields(HeaderList{}));
  EXPECT_TRUE(StoredFields{}.empty());
}

}  // namespace
}  // namespace orc::cache
