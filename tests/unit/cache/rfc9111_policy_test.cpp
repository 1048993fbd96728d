// Table-driven tests of the shared-cache policy of RFC 9111 (and RFC 5861, RFC 9213) for `ttl: origin` rules:
// each case names the section it checks. The pure functions of cache/cache_policy and cache/cache_key.
#include <gtest/gtest.h>

#include <chrono>

#include "cache/cache_key.hpp"
#include "cache/cache_policy.hpp"
#include "util/query.hpp"

namespace orc::cache {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kT = 1'700'000'000'000;  // ms: Tue, 14 Nov 2023 22:13:20 GMT

config::CacheAction origin_rule() {
  config::CacheAction a;
  a.ttl_origin = true;
  a.scope = config::Scope::public_;
  return a;
}

struct StoreCase {
  const char* section;
  unsigned status;
  HeaderList headers;
  bool shared_authorization;
  Storability expected;
};

TEST(Rfc9111Store, WhatASharedCacheMayStore) {
  const std::vector<StoreCase> cases = {
      {"3: a listed status with max-age",
       200,
       {{"Cache-Control", "max-age=60"}},
       false,
       Storability::storable},
      {"3: an unlisted final status with explicit freshness",
       302,
       {{"Cache-Control", "max-age=60"}},
       false,
       Storability::storable},
      {"3: an unlisted status with Expires",
       403,
       {{"Expires", "Tue, 14 Nov 2023 22:14:20 GMT"}},
       false,
       Storability::storable},
      {"3: an unlisted status with public", 405, {{"Cache-Control", "public"}}, false, Storability::storable},
      {"3: an unlisted status without explicit freshness",
       302,
       {{"Location", "/x"}},
       false,
       Storability::status_not_allowed},
      {"3: 206 is never stored whole",
       206,
       {{"Cache-Control", "max-age=60"}},
       false,
       Storability::status_not_allowed},
      {"3: 304 is never stored",
       304,
       {{"Cache-Control", "max-age=60"}},
       false,
       Storability::status_not_allowed},
      {"5.2.2.5: no-store", 200, {{"Cache-Control", "max-age=60, no-store"}}, false, Storability::no_store},
      {"5.2.2.5: NO-STORE in any case",
       200,
       {{"Cache-Control", "max-age=60, NO-STORE"}},
       false,
       Storability::no_store},
      {"5.2.2.7: private", 200, {{"Cache-Control", "private, max-age=60"}}, false, Storability::private_},
      {"5.2.2.7: private=field is still private",
       200,
       {{"Cache-Control", "private=\"x\", max-age=60"}},
       false,
       Storability::private_},
      {"5.2.2.3: must-understand with an understood status overrides no-store",
       200,
       {{"Cache-Control", "must-understand, no-store, max-age=60"}},
       false,
       Storability::storable},
      {"5.2.2.3: must-understand with a status the cache does not know",
       299,
       {{"Cache-Control", "must-understand, max-age=60"}},
       false,
       Storability::status_not_allowed},
      {"4.1: Vary: * never matches",
       200,
       {{"Cache-Control", "max-age=60"}, {"Vary", "*"}},
       false,
       Storability::vary_star},
      {"3.5: Authorization without public / s-maxage / must-revalidate",
       200,
       {{"Cache-Control", "max-age=60"}},
       true,
       Storability::authorization},
      {"3.5: Authorization with public",
       200,
       {{"Cache-Control", "public, max-age=60"}},
       true,
       Storability::storable},
      {"3.5: Authorization with s-maxage",
       200,
       {{"Cache-Control", "s-maxage=60"}},
       true,
       Storability::storable},
      {"3.5: Authorization with must-revalidate",
       200,
       {{"Cache-Control", "must-revalidate, max-age=60"}},
       true,
       Storability::storable},
      {"3: Set-Cookie under the default policy (bypass)",
       200,
       {{"Cache-Control", "max-age=60"}, {"Set-Cookie", "a=1"}},
       false,
       Storability::set_cookie},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(storable_head(origin_rule(), {c.status, &c.headers}, c.shared_authorization), c.expected)
        << "RFC 9111 section " << c.section;
  }
}

TEST(Rfc9111Store, SetCookieStripStoresTheResponse) {
  auto rule = origin_rule();
  rule.set_cookie_strip = true;
  HeaderList h{{"Cache-Control", "max-age=60"}, {"Set-Cookie", "a=1"}};
  EXPECT_EQ(storable_head(rule, {200, &h}), Storability::storable);
}

TEST(Rfc9111Store, RuleTtlKeepsItsStatusListAndIgnoresAuthorization) {
  config::CacheAction rule;  // ttl: 5m, the operator's list
  HeaderList h{{"Cache-Control", "max-age=60"}};
  EXPECT_EQ(storable_head(rule, {302, &h}), Storability::status_not_allowed);
  EXPECT_EQ(storable_head(rule, {200, &h}, true), Storability::storable);
}

struct FreshCase {
  const char* section;
  HeaderList headers;
  std::optional<std::int64_t> lifetime_ms;  // empty: not fresh
  bool must_revalidate = false;
};

TEST(Rfc9111Freshness, DirectivesAndRevalidation) {
  const std::vector<FreshCase> cases = {
      {"4.2.1: s-maxage over max-age", {{"Cache-Control", "max-age=10, s-maxage=60"}}, 60'000, true},
      {"5.2.2.10: s-maxage implies proxy-revalidate", {{"Cache-Control", "s-maxage=60"}}, 60'000, true},
      {"5.2.2.8: proxy-revalidate", {{"Cache-Control", "max-age=60, proxy-revalidate"}}, 60'000, true},
      {"5.2.2.2: must-revalidate", {{"Cache-Control", "max-age=60, must-revalidate"}}, 60'000, true},
      {"4.2.1: the first of duplicated directives",
       {{"Cache-Control", "max-age=30"}, {"Cache-Control", "max-age=90"}},
       30'000},
      {"5.2.2.4: no-cache is never fresh", {{"Cache-Control", "no-cache, max-age=60"}}, std::nullopt},
      {"5.2: a quoted max-age is invalid: stale", {{"Cache-Control", "max-age=\"60\""}}, std::nullopt},
      {"5.1: a fractional Age is ignored", {{"Cache-Control", "max-age=60"}, {"Age", "1.5"}}, 60'000},
      {"5.3: an invalid Expires means already expired", {{"Expires", "0"}}, std::nullopt},
      {"4.2.2: no heuristic unless the rule asks",
       {{"Last-Modified", "Tue, 14 Nov 2023 12:13:20 GMT"}},
       std::nullopt},
  };
  for (const auto& c : cases) {
    auto f = freshness(origin_rule(), {200, &c.headers}, kT);
    ASSERT_EQ(f.has_value(), c.lifetime_ms.has_value()) << "RFC 9111 section " << c.section;
    if (!f) continue;
    EXPECT_EQ(f->lifetime_ms, *c.lifetime_ms) << "RFC 9111 section " << c.section;
    EXPECT_EQ(f->must_revalidate, c.must_revalidate) << "RFC 9111 section " << c.section;
  }
}

// Section 4.3: with a validation window, an origin rule stores a response it cannot use fresh but can
// revalidate (no-cache, stale on arrival) with a lifetime of 0; without a validator or a window, it does not.
TEST(Rfc9111Validation, WhatIsStoredToBeRevalidated) {
  struct Case {
    const char* section;
    HeaderList headers;
    std::chrono::milliseconds window;
    std::optional<std::int64_t> lifetime_ms;  // empty: not stored
  };
  const std::vector<Case> cases = {
      {"4.2: fresh is stored as it is", {{"Cache-Control", "max-age=60"}}, 10min, 60'000},
      {"5.2.2.4: no-cache with an ETag",
       {{"Cache-Control", "no-cache, max-age=60"}, {"ETag", "\"a\""}},
       10min,
       0},
      {"4.2.3: stale on arrival, with Last-Modified",
       {{"Cache-Control", "max-age=10"}, {"Age", "20"}, {"Last-Modified", "Tue, 14 Nov 2023 22:00:00 GMT"}},
       10min,
       0},
      {"4.3.1: no-cache without a validator", {{"Cache-Control", "no-cache"}}, 10min, std::nullopt},
      {"no validation window", {{"Cache-Control", "no-cache"}, {"ETag", "\"a\""}}, 0min, std::nullopt},
  };
  for (const auto& c : cases) {
    auto rule = origin_rule();
    rule.validation_window = c.window;
    auto f = stored_freshness(rule, {200, &c.headers}, kT);
    ASSERT_EQ(f.has_value(), c.lifetime_ms.has_value()) << "RFC 9111 section " << c.section;
    if (f) {
      EXPECT_EQ(f->lifetime_ms, *c.lifetime_ms) << "RFC 9111 section " << c.section;
    }
  }
}

// Sections 3.2 and 4.3.4: a 304's fields replace the stored ones of their names, but Content-Length; the
// stored Date goes with or without a new one.
TEST(Rfc9111Validation, A304FreshensTheStoredFields) {
  const HeaderList stored{
      {"Content-Type", "application/json"},      {"Content-Length", "10"}, {"Cache-Control", "max-age=10"},
      {"Date", "Tue, 14 Nov 2023 22:00:00 GMT"}, {"X-Old", "1"},           {"X-Old", "2"}};
  const HeaderList answer{{"Cache-Control", "max-age=60"}, {"Content-Length", "0"}, {"X-Old", "3"}};
  const HeaderList fresh = freshened_fields(stored, answer);
  EXPECT_EQ(fresh, (HeaderList{{"Content-Type", "application/json"},
                               {"Content-Length", "10"},
                               {"Cache-Control", "max-age=60"},
                               {"X-Old", "3"}}));
  const HeaderList dated{{"Date", "Tue, 14 Nov 2023 22:13:20 GMT"}};
  EXPECT_EQ(find_header(freshened_fields(stored, dated), "Date"), "Tue, 14 Nov 2023 22:13:20 GMT");
}

// RFC 5861: stale-while-revalidate and stale-if-error from the response, for origin rules.
TEST(Rfc5861, StaleExtensionsComeFromTheResponse) {
  HeaderList h{{"Cache-Control", "max-age=60, stale-while-revalidate=30, stale-if-error=600"}};
  auto f = freshness(origin_rule(), {200, &h}, kT);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->stale_while_revalidate_ms, 30'000);
  EXPECT_EQ(f->stale_if_error_ms, 600'000);
  HeaderList none{{"Cache-Control", "max-age=60"}};
  f = freshness(origin_rule(), {200, &none}, kT);
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->stale_while_revalidate_ms);
  EXPECT_FALSE(f->stale_if_error_ms);
  HeaderList invalid{{"Cache-Control", "max-age=60, stale-if-error=soon"}};
  EXPECT_FALSE(freshness(origin_rule(), {200, &invalid}, kT)->stale_if_error_ms);
  // A rule with its own ttl takes nothing from the response.
  config::CacheAction ttl_rule;
  EXPECT_FALSE(freshness(ttl_rule, {200, &h}, kT)->stale_while_revalidate_ms);
}

// RFC 9213: a targeted field stands for Cache-Control (and Expires) when present and valid.
TEST(Rfc9213, TargetedFieldsTakePrecedence) {
  auto rule = origin_rule();
  rule.targeted = {"OpenRisk-Cache-Control", "CDN-Cache-Control"};
  struct Case {
    const char* what;
    HeaderList headers;
    std::optional<std::int64_t> lifetime_ms;
  };
  const std::vector<Case> cases = {
      {"CDN-Cache-Control over Cache-Control",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "max-age=60"}},
       60'000},
      {"the operator's field over CDN-Cache-Control",
       {{"CDN-Cache-Control", "max-age=60"}, {"OpenRisk-Cache-Control", "max-age=120"}},
       120'000},
      {"an invalid targeted field is ignored",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "Max-Age=60"}},
       10'000},
      {"Expires does not count beside a targeted field",
       {{"Expires", "Tue, 14 Nov 2023 22:23:20 GMT"}, {"CDN-Cache-Control", "public"}},
       std::nullopt},
      {"a targeted no-store",
       {{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "no-store"}},
       std::nullopt},
  };
  for (const auto& c : cases) {
    auto f = freshness(rule, {200, &c.headers}, kT);
    ASSERT_EQ(f.has_value(), c.lifetime_ms.has_value()) << c.what;
    if (f) {
      EXPECT_EQ(f->lifetime_ms, *c.lifetime_ms) << c.what;
    }
  }
  HeaderList targeted_no_store{{"Cache-Control", "max-age=10"}, {"CDN-Cache-Control", "no-store"}};
  EXPECT_EQ(storable_head(rule, {200, &targeted_no_store}), Storability::no_store);
  HeaderList targeted_allows{{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=60"}};
  EXPECT_EQ(storable_head(rule, {200, &targeted_allows}), Storability::storable);
}

// RFC 9110 section 15.4.5: a 304 from the cache leaves out representation metadata.
TEST(Rfc9110NotModified, FieldsOfA304) {
  for (const char* kept : {"ETag", "Date", "Vary", "Cache-Control", "Expires", "Content-Location",
                           "content-location", "Last-Modified", "X-Custom", "Content"})
    EXPECT_TRUE(sent_with_304(kept)) << kept;
  for (const char* left :
       {"Content-Type", "content-encoding", "Content-Language", "Content-Length", "Content-Range"})
    EXPECT_FALSE(sent_with_304(left)) << left;
}

// Section 5.2.1: the request directives that choose among stored responses.
TEST(Rfc9111Request, DirectivesAreReadAsTheGrammarSays) {
  auto d = request_directives("MAX-AGE=30, min-fresh=5, max-stale, only-if-cached", "");
  EXPECT_EQ(d.max_age_s, 30);
  EXPECT_EQ(d.min_fresh_s, 5);
  EXPECT_TRUE(d.max_stale);
  EXPECT_FALSE(d.max_stale_s) << "max-stale without a value: any staleness";
  EXPECT_TRUE(d.only_if_cached);
  EXPECT_FALSE(d.no_cache);
  EXPECT_TRUE(request_directives("max-age=0", "").no_cache) << "5.2.1.1: max-age=0 revalidates";
  EXPECT_EQ(request_directives("max-stale=10", "").max_stale_s, 10);
  auto quoted = request_directives("max-age=\"30\", max-stale=soon", "");
  EXPECT_FALSE(quoted.max_age_s) << "5.2.1.1: a quoted delta-seconds is invalid";
  EXPECT_FALSE(quoted.max_stale) << "an invalid max-stale is left out";
  EXPECT_FALSE(request_directives("", "").choose());
  EXPECT_TRUE(request_directives("", "no-cache").no_cache) << "5.4: Pragma without Cache-Control";
  EXPECT_FALSE(request_directives("max-stale=5", "no-cache").no_cache) << "5.4: Cache-Control wins";
}

TEST(Rfc9111Request, WhichStoredResponseARequestAccepts) {
  struct Case {
    const char* section;
    const char* cache_control;
    std::uint64_t age_s;
    std::int64_t fresh_left_ms;
    bool must_revalidate;
    RequestFit expected;
  };
  const std::vector<Case> cases = {
      {"4.2: fresh", "", 10, 5'000, false, RequestFit::fresh},
      {"4.2: stale", "", 10, -1, false, RequestFit::unusable},
      {"5.2.1.1: older than max-age", "max-age=5", 10, 5'000, false, RequestFit::unusable},
      {"5.2.1.1: within max-age", "max-age=10", 10, 5'000, false, RequestFit::fresh},
      {"5.2.1.3: less fresh than min-fresh", "min-fresh=6", 10, 5'000, false, RequestFit::unusable},
      {"5.2.1.3: fresh enough", "min-fresh=5", 10, 5'000, false, RequestFit::fresh},
      {"5.2.1.2: max-stale accepts any staleness", "max-stale", 100, -90'000, false,
       RequestFit::stale_accepted},
      {"5.2.1.2: within max-stale", "max-stale=10", 10, -10'000, false, RequestFit::stale_accepted},
      {"5.2.1.2: past max-stale", "max-stale=10", 10, -10'001, false, RequestFit::unusable},
      {"5.2.2.2: must-revalidate overrides max-stale", "max-stale", 10, -1'000, true, RequestFit::unusable},
  };
  for (const auto& c : cases)
    EXPECT_EQ(
        fit_request(request_directives(c.cache_control, ""), c.age_s, c.fresh_left_ms, c.must_revalidate),
        c.expected)
        << "RFC 9111 section " << c.section;
}

// RFC 9111 section 2: with `query: all` the key is the whole target URI, the query as sent.
TEST(Rfc9111Key, QueryAllKeysOnTheQueryAsSent) {
  auto rule = origin_rule();
  rule.key_query_all = true;
  util::Query a("b=2&a=1"), b("a=1&b=2"), c("a=1&b=2&utm=x"), none;
  EXPECT_EQ(key_query(rule, a), "?b=2&a=1");
  EXPECT_NE(key_query(rule, a), key_query(rule, b)) << "a different target URI is a different entry";
  EXPECT_NE(key_query(rule, b), key_query(rule, c));
  EXPECT_EQ(key_query(rule, none), "?");
  config::CacheAction listed;
  listed.key_query = {"a"};
  EXPECT_EQ(key_query(listed, b), "a=1");
  EXPECT_EQ(key_query(listed, c), "a=1") << "a rule that names its parameters ignores the others";
}

}  // namespace
}  // namespace orc::cache
