// Black-box tests of the RFC 9111 behaviour of `ttl: origin` rules against a scripted origin (memory
// storage): the target URI as the key, purges by unsafe methods, Authorization, targeted fields (RFC 9213),
// Range hits, Set-Cookie and Vary matching on normalised values, revalidation, 304s from the cache,
// transfer codings; freshness (s-maxage before max-age, Expires - Date in the three date forms, past and
// invalid Expires, the origin's Age and a malformed one, heuristic freshness only with heuristic_max); the
// response's stale-while-revalidate and stale-if-error (RFC 5861); what is stored (never private or
// no-store, a status outside `statuses` with explicit freshness, must-understand); a hit larger than the
// socket takes at once. Some of these need an entry to expire, and the daemon has no clock a test can move:
// those tests wait (polling) for a 1 s freshness lifetime to pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <ctime>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "cache_fixture.hpp"
#include "support/test_backend.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

// One public `ttl: origin` rule for GETs of `path`, with `options` added to its cache block.
std::string rfc9111_rule(const std::string& name, const std::string& path, const std::string& options = "") {
  return "  - name: " + name + "\n    match: { method: GET, path: " + path +
         " }\n    cache: { ttl: origin, scope: public" + options + " }\n";
}

HeaderList rfc9111_fields(std::initializer_list<std::pair<std::string, std::string>> fields) {
  HeaderList h;
  for (const auto& [name, value] : fields) h.add(name, value);
  return h;
}

// An origin that answers every request 200 "body of <target>" with `headers`.
TestBackend::Handler rfc9111_origin(HeaderList headers) {
  return [headers = std::move(headers)](const BackendRequest& req, ResponseWriter& w) {
    w.respond(200, "body of " + req.target, headers);
  };
}

// The three forms of an HTTP-date (RFC 9110 section 5.6.7), as strftime formats.
constexpr const char* kImfFixdate = "%a, %d %b %Y %H:%M:%S GMT";  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr const char* kRfc850 = "%A, %d-%b-%y %H:%M:%S GMT";      // Sunday, 06-Nov-94 08:49:37 GMT
constexpr const char* kAsctime = "%a %b %e %H:%M:%S %Y";          // Sun Nov  6 08:49:37 1994

std::time_t rfc9111_now() {
  return std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
}

// The HTTP-date of `t` (seconds since the epoch) in `format`.
std::string rfc9111_date(std::time_t t, const char* format = kImfFixdate) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[64];
  return std::string(out, std::strftime(out, sizeof out, format, &tm));
}

// The Age of a response when it is delta-seconds (RFC 9111 section 5.1); empty otherwise.
std::optional<long> rfc9111_age(const HttpResponse& r) {
  const std::string age = header(r, "Age");
  if (age.empty() || age.size() > 9 ||
      !std::all_of(age.begin(), age.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;
  return std::stol(age);
}

class Rfc9111Test : public CacheTest {
 protected:
  // backend_ answers with `handler`; one daemon (memory storage, so no warm-up) with `rules` in front of it.
  void start(const std::string& rules, TestBackend::Handler handler) {
    backend_.set_handler(std::move(handler));
    ASSERT_NE(start_proxy(config_yaml(rules, false, "", backend_.url()), {}, ""), nullptr);
  }
  void TearDown() override { CacheTest::TearDown(); }  // the daemons go before the backend

  // The GETs the backend saw for `path`, whatever their query.
  std::size_t backend_gets(std::string_view path) const {
    std::size_t n = 0;
    for (const auto& r : backend_.requests())
      if (r.method == "GET" && std::string_view(r.target).substr(0, r.target.find('?')) == path) ++n;
    return n;
  }

  HttpResponse fetch(const std::string& target, const HeaderList& headers = {}) {
    return through(0, "GET", target, headers);
  }

  // Fetches `target` until the answer is no longer a fresh hit and returns that answer (the entries that must
  // expire here live about 1 s; 20 s is generous).
  HttpResponse once_expired(const std::string& target) { return once_expired_with(target, {}); }
  HttpResponse once_expired_with(const std::string& target, const HeaderList& headers) {
    HttpResponse r;
    EXPECT_TRUE(poll_until_not_hit([&] { return fetch(target, headers); }, r))
        << target << ": the entry never expired\n"
        << r.describe();
    return r;
  }

  TestBackend backend_;
};

// A hit larger than the client's socket takes at once (24 MiB, far past the kernel's send buffer): what the
// first non-blocking send did not write goes out with the asynchronous write, whole and in order (the miss
// that stored it relays its body the same way).
TEST_F(Rfc9111Test, AHitLargerThanTheSocketTakesAtOnceArrivesWhole) {
  auto big = std::make_shared<std::string>(24u << 20, '\0');
  for (std::size_t i = 0; i < big->size(); ++i) (*big)[i] = static_cast<char>('a' + (i * 7 + i / 4099) % 26);
  ASSERT_NO_FATAL_FAILURE(start("rules:\n" + rfc9111_rule("big", "/big", ", max_body: 32MiB"),
                                [big](const BackendRequest&, ResponseWriter& w) {
                                  w.respond(200, *big, rfc9111_fields({{"Cache-Control", "max-age=60"}}));
                                }));
  HttpResponse miss = fetch("/big");
  ASSERT_EQ(miss.status, 200) << miss.error;
  EXPECT_EQ(x_cache(miss), "MISS");
  EXPECT_EQ(miss.body.size(), big->size());
  EXPECT_TRUE(miss.body == *big) << "the relayed body differs";

  HttpResponse hit = fetch("/big");
  ASSERT_EQ(hit.status, 200) << hit.error;
  EXPECT_EQ(x_cache(hit), "HIT");
  EXPECT_EQ(hit.body.size(), big->size());
  EXPECT_TRUE(hit.body == *big) << "the hit's body differs: bytes lost, repeated or out of order";
  EXPECT_EQ(backend_gets("/big"), 1u);
}

// RFC 9111 section 2: the key of an origin rule is the target URI, its query exactly as sent (key.query
// defaults to `all`), so the same parameters in another order are another entry.
TEST_F(Rfc9111Test, KeyIsTheTargetUriWithTheQueryAsSent) {
  ASSERT_NO_FATAL_FAILURE(start("rules:\n" + rfc9111_rule("origin", "/r"),
                                rfc9111_origin(rfc9111_fields({{"Cache-Control", "max-age=60"}}))));
  HttpResponse first = fetch("/r?a=1&b=2");
  ASSERT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(x_cache(first), "MISS") << first.describe();
  EXPECT_EQ(backend_gets("/r"), 1u);

  HttpResponse swapped = fetch("/r?b=2&a=1");
  EXPECT_EQ(x_cache(swapped), "MISS") << "another target URI got the first one's entry\n"
                                      << swapped.describe();
  EXPECT_EQ(swapped.body, "body of /r?b=2&a=1") << swapped.describe();
  EXPECT_EQ(backend_gets("/r"), 2u);

  HttpResponse again = fetch("/r?a=1&b=2");
  EXPECT_EQ(x_cache(again), "HIT") << again.describe();
  EXPECT_EQ(again.body, "body of /r?a=1&b=2") << again.describe();
  EXPECT_EQ(backend_gets("/r"), 2u);
}

// RFC 9111 section 4.4: a non-error answer to an unsafe method purges the target URI's entries, whether the
// write matches no rule (/r: the cache rule is GET only) or the cache rule itself (/r2: no method). An error
// answer, and a safe method (OPTIONS), leave them.
TEST_F(Rfc9111Test, UnsafeMethodWithANonErrorAnswerPurgesTheUri) {
  const std::string rules = R"(rules:
  - name: get-only
    match: { method: GET, path: /r }
    cache: { ttl: origin, scope: public }
  - name: any-method
    match: { path: /r2 }
    cache: { ttl: origin, scope: public }
)";
  ASSERT_NO_FATAL_FAILURE(start(rules, [](const BackendRequest& req, ResponseWriter& w) {
    if (req.method == "GET") {
      w.respond(200, "body of " + req.target, rfc9111_fields({{"Cache-Control", "max-age=60"}}));
      return;
    }
    // Anything else gets the status the test names.
    w.respond(std::stoi(req.headers.get("X-Answer-Status").value_or("200")), "answer to " + req.method);
  }));
  auto answered = [](const std::string& status) { return rfc9111_fields({{"X-Answer-Status", status}}); };
  for (const std::string path : {"/r", "/r2"}) {
    SCOPED_TRACE(path);
    ASSERT_EQ(fetch(path).status, 200);
    ASSERT_EQ(x_cache(fetch(path)), "HIT") << "not cached, the test proves nothing";

    HttpResponse failed = through(0, "POST", path, answered("500"), "{}");
    EXPECT_EQ(failed.status, 500) << failed.describe();
    HttpResponse after_error = fetch(path);
    EXPECT_EQ(x_cache(after_error), "HIT") << "a POST answered 500 purged\n" << after_error.describe();

    HttpResponse options = through(0, "OPTIONS", path, answered("200"));
    EXPECT_EQ(options.status, 200) << options.describe();
    HttpResponse after_options = fetch(path);
    EXPECT_EQ(x_cache(after_options), "HIT") << "OPTIONS purged\n" << after_options.describe();
    EXPECT_EQ(backend_gets(path), 1u);

    HttpResponse created = through(0, "POST", path, answered("201"), "{}");
    EXPECT_EQ(created.status, 201) << created.describe();
    HttpResponse after_write = fetch(path);
    EXPECT_EQ(x_cache(after_write), "MISS") << "a POST answered 201 left the entry\n"
                                            << after_write.describe();
    EXPECT_EQ(backend_gets(path), 2u);
  }
}

// RFC 9111 section 4.4: the Location and Content-Location of a write's non-error answer name URIs whose
// entries it purges too, when they are of this host; another host's are left alone.
TEST_F(Rfc9111Test, AWritesLocationAndContentLocationArePurgedOnThisHostOnly) {
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("docs", "/docs/:name"), [](const BackendRequest& req, ResponseWriter& w) {
        if (req.method == "GET") {
          w.respond(200, "body of " + req.target, rfc9111_fields({{"Cache-Control", "max-age=60"}}));
          return;
        }
        w.respond(
            201, "",
            rfc9111_fields({{"Location", "/docs/a?v=1"}, {"Content-Location", "http://elsewhere/docs/b"}}));
      }));
  for (const char* path : {"/docs/a", "/docs/b"}) {
    ASSERT_EQ(fetch(path).status, 200);
    ASSERT_EQ(x_cache(fetch(path)), "HIT") << path << ": not cached, the test proves nothing";
  }
  HttpResponse created = through(0, "POST", "/docs/new", {}, "{}");
  ASSERT_EQ(created.status, 201) << created.describe();
  HttpResponse located = fetch("/docs/a");
  EXPECT_EQ(x_cache(located), "MISS") << "the Location's entry survived the write\n" << located.describe();
  HttpResponse foreign = fetch("/docs/b");
  EXPECT_EQ(x_cache(foreign), "HIT") << "another host's Content-Location purged this host's entry\n"
                                     << foreign.describe();
}

// RFC 9111 section 3.5: under scope public, a response to a request with Authorization is stored only when
// it says it may be shared (public here); max-age alone is not enough.
TEST_F(Rfc9111Test, ResponseToAuthorizationIsStoredOnlyWhenMarkedShareable) {
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("origin", "\"/auth/**\""), [](const BackendRequest& req, ResponseWriter& w) {
        const bool shared = req.target == "/auth/public";
        w.respond(200, "body of " + req.target,
                  rfc9111_fields({{"Cache-Control", shared ? "public, max-age=60" : "max-age=60"}}));
      }));
  const HeaderList auth = rfc9111_fields({{"Authorization", "Bearer x"}});

  for (int i = 1; i <= 2; ++i) {
    HttpResponse r = fetch("/auth/max-age", auth);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(x_cache(r), "MISS") << r.describe();
    EXPECT_EQ(backend_gets("/auth/max-age"), static_cast<std::size_t>(i));
  }
  // The same response without Authorization is stored: what kept it out above is the request's field.
  EXPECT_EQ(x_cache(fetch("/auth/anonymous")), "MISS");
  EXPECT_EQ(x_cache(fetch("/auth/anonymous")), "HIT");

  EXPECT_EQ(x_cache(fetch("/auth/public", auth)), "MISS");
  HttpResponse hit = fetch("/auth/public", auth);
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_EQ(backend_gets("/auth/public"), 1u);
}

// RFC 9213: CDN-Cache-Control stands for Cache-Control (its max-age beats Cache-Control: no-store) and,
// unless the rule forwards targeted fields, reaches neither the client of the miss nor the entry.
TEST_F(Rfc9111Test, CdnCacheControlStandsForCacheControlAndIsRemoved) {
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("cdn", "/cdn") +
          rfc9111_rule("cdn-forwarded", "/cdn-forwarded", ", forward_targeted: true"),
      rfc9111_origin(rfc9111_fields({{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=60"}}))));
  HttpResponse miss = fetch("/cdn");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
  EXPECT_FALSE(miss.headers.has("CDN-Cache-Control")) << miss.describe();
  HttpResponse hit = fetch("/cdn");
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_FALSE(hit.headers.has("CDN-Cache-Control")) << hit.describe();
  EXPECT_EQ(backend_gets("/cdn"), 1u);

  HttpResponse forwarded_miss = fetch("/cdn-forwarded");
  EXPECT_EQ(x_cache(forwarded_miss), "MISS") << forwarded_miss.describe();
  EXPECT_EQ(header(forwarded_miss, "CDN-Cache-Control"), "max-age=60") << forwarded_miss.describe();
  HttpResponse forwarded_hit = fetch("/cdn-forwarded");
  EXPECT_EQ(x_cache(forwarded_hit), "HIT") << forwarded_hit.describe();
  EXPECT_EQ(header(forwarded_hit, "CDN-Cache-Control"), "max-age=60") << forwarded_hit.describe();
  EXPECT_EQ(backend_gets("/cdn-forwarded"), 1u);
}

// RFC 9213 section 2.2: the rule's own targeted field comes before CDN-Cache-Control (whose no-store then
// does not count); both are removed by default.
TEST_F(Rfc9111Test, RulesTargetedFieldComesBeforeCdnCacheControl) {
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("own-field", "/own", ", targeted_field: OpenRisk-Cache-Control"),
      rfc9111_origin(
          rfc9111_fields({{"CDN-Cache-Control", "no-store"}, {"OpenRisk-Cache-Control", "max-age=60"}}))));
  HttpResponse miss = fetch("/own");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
  HttpResponse hit = fetch("/own");
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_EQ(backend_gets("/own"), 1u);
  for (const auto* r : {&miss, &hit})
    for (const char* field : {"OpenRisk-Cache-Control", "CDN-Cache-Control"})
      EXPECT_FALSE(r->headers.has(field)) << field << " reached the client\n" << r->describe();
}

// RFC 9110 section 14: a hit answers one byte range from the stored 200 (206, or 416 when unsatisfiable),
// honours If-Range, and sends several ranges to the backend.
TEST_F(Rfc9111Test, HitAnswersOneRangeAndForwardsSeveral) {
  std::string body;  // 100 bytes: "00" "01" ... "49"
  for (int i = 0; i < 50; ++i)
    body += std::string{static_cast<char>('0' + i / 10), static_cast<char>('0' + i % 10)};
  ASSERT_EQ(body.size(), 100u);
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("ranges", "/range"), [body](const BackendRequest&, ResponseWriter& w) {
        w.respond(200, body, rfc9111_fields({{"Cache-Control", "max-age=60"}, {"ETag", "\"range-v1\""}}));
      }));
  HttpResponse miss = fetch("/range");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  ASSERT_EQ(miss.body, body);

  struct Case {
    const char* range;
    const char* if_range;  // nullptr: none
    int status;
    const char* content_range;  // "": none
    std::string body;
  };
  const Case cases[] = {
      {"bytes=10-19", nullptr, 206, "bytes 10-19/100", body.substr(10, 10)},
      {"bytes=-5", nullptr, 206, "bytes 95-99/100", body.substr(95)},
      {"bytes=200-", nullptr, 416, "bytes */100", ""},
      {"bytes=10-19", "\"range-v1\"", 206, "bytes 10-19/100", body.substr(10, 10)},  // the entry's ETag
      {"bytes=10-19", "\"other\"", 200, "", body},  // another representation: the whole of this one
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.range) + (c.if_range ? std::string(", If-Range: ") + c.if_range : ""));
    HeaderList h = rfc9111_fields({{"Range", c.range}});
    if (c.if_range) h.add("If-Range", c.if_range);
    HttpResponse r = fetch("/range", h);
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.status, c.status) << r.describe();
    EXPECT_EQ(x_cache(r), "HIT") << r.describe();
    EXPECT_EQ(header(r, "Content-Range"), c.content_range) << r.describe();
    EXPECT_EQ(r.body, c.body) << r.describe();
  }
  EXPECT_EQ(backend_gets("/range"), 1u);

  // Several ranges: the cache builds no multipart/byteranges; the backend gets the request.
  HttpResponse several = fetch("/range", rfc9111_fields({{"Range", "bytes=0-1,5-6"}}));
  ASSERT_TRUE(several.ok()) << several.describe();
  EXPECT_EQ(backend_gets("/range"), 2u);
  EXPECT_NE(header(several, "Cache-Status").find("fwd=request"), std::string::npos) << several.describe();
  EXPECT_EQ(x_cache(several), "BYPASS") << several.describe();
  EXPECT_EQ(backend_.requests().back().headers.get("Range"), "bytes=0-1,5-6");
  EXPECT_EQ(x_cache(fetch("/range")), "HIT") << "the forwarded answer replaced the entry";
}

// RFC 9111 section 3 (set_cookie): by default a response with Set-Cookie is never stored; with `set_cookie:
// strip` it is stored without the cookie, which only the client of the miss gets.
TEST_F(Rfc9111Test, SetCookieBypassesByDefaultAndIsStrippedOnRequest) {
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("cookie-default", "/cookie/default") +
                rfc9111_rule("cookie-strip", "/cookie/strip", ", set_cookie: strip"),
            rfc9111_origin(rfc9111_fields({{"Set-Cookie", "a=1"}, {"Cache-Control", "max-age=60"}}))));
  for (int i = 1; i <= 3; ++i) {
    HttpResponse r = fetch("/cookie/default");
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_NE(x_cache(r), "HIT") << r.describe();
    EXPECT_EQ(header(r, "Set-Cookie"), "a=1") << r.describe();
    EXPECT_EQ(backend_gets("/cookie/default"), static_cast<std::size_t>(i));
  }

  HttpResponse miss = fetch("/cookie/strip");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
  EXPECT_EQ(header(miss, "Set-Cookie"), "a=1") << "the client of the miss lost its cookie\n"
                                               << miss.describe();
  HttpResponse hit = fetch("/cookie/strip");
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_FALSE(hit.headers.has("Set-Cookie")) << "a hit handed out the filler's cookie\n" << hit.describe();
  EXPECT_EQ(backend_gets("/cookie/strip"), 1u);
}

// RFC 9111 section 4.1: a Vary'd field selects the stored variant by its normalised value: whitespace
// around list members does not count, the order of Accept-Language's (equally weighted) members does.
TEST_F(Rfc9111Test, VaryMatchesNormalisedAcceptLanguage) {
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("vary", "/vary"), [](const BackendRequest& req, ResponseWriter& w) {
        w.respond(200, "language " + req.headers.get("Accept-Language").value_or("none"),
                  rfc9111_fields({{"Vary", "Accept-Language"}, {"Cache-Control", "max-age=60"}}));
      }));
  auto language = [](const std::string& value) { return rfc9111_fields({{"Accept-Language", value}}); };
  HttpResponse first = fetch("/vary", language("en, de"));
  ASSERT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(x_cache(first), "MISS") << first.describe();

  HttpResponse squeezed = fetch("/vary", language("en,de"));
  EXPECT_EQ(x_cache(squeezed), "HIT") << squeezed.describe();
  EXPECT_EQ(squeezed.body, "language en, de") << squeezed.describe();
  EXPECT_EQ(backend_gets("/vary"), 1u);

  HttpResponse reordered = fetch("/vary", language("de, en"));
  EXPECT_EQ(x_cache(reordered), "MISS") << "another preference order got the first variant\n"
                                        << reordered.describe();
  EXPECT_EQ(reordered.body, "language de, en") << reordered.describe();
  EXPECT_EQ(backend_gets("/vary"), 2u);
}

// RFC 9111 section 4.3.2 with RFC 9110 section 15.4.5: a conditional request the stored response satisfies is
// answered 304 from the cache, with its validators and caching fields but no representation metadata.
TEST_F(Rfc9111Test, AConditionalHitIs304WithoutRepresentationMetadata) {
  ASSERT_NO_FATAL_FAILURE(start("rules:\n" + rfc9111_rule("cond", "/cond"),
                                rfc9111_origin(rfc9111_fields({{"Cache-Control", "max-age=60"},
                                                               {"ETag", "\"e1\""},
                                                               {"Content-Type", "application/json"},
                                                               {"Content-Language", "en"}}))));
  ASSERT_EQ(fetch("/cond").status, 200);
  HttpResponse r = fetch("/cond", rfc9111_fields({{"If-None-Match", "W/\"e1\""}}));
  ASSERT_EQ(r.status, 304) << r.describe();
  EXPECT_EQ(x_cache(r), "HIT") << r.describe();
  EXPECT_EQ(header(r, "ETag"), "\"e1\"") << r.describe();
  EXPECT_EQ(header(r, "Cache-Control"), "max-age=60") << r.describe();
  EXPECT_FALSE(r.headers.has("Content-Type")) << r.describe();
  EXPECT_FALSE(r.headers.has("Content-Language")) << r.describe();
  EXPECT_EQ(backend_gets("/cond"), 1u);
}

// RFC 9110 section 13.2.1: a precondition is ignored when the answer would not be a 2xx, so a stored 404
// or 301 answers a conditional request whole, never 304; and no ETag of the proxy's own is put on it.
TEST_F(Rfc9111Test, AConditionalRequestForAStoredErrorGetsTheErrorWhole) {
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("gone", "/gone/:which", ", statuses: [200, 301, 404]"),
            [](const BackendRequest& req, ResponseWriter& w) {
              const bool moved = req.target == "/gone/moved";
              w.respond(moved ? 301 : 404, "body of " + req.target,
                        rfc9111_fields({{"Cache-Control", "max-age=60"},
                                        {"Location", "/elsewhere"},
                                        {"Last-Modified", "Thu, 01 Jan 2015 00:00:00 GMT"}}));
            }));
  for (const auto& [path, status] : {std::pair{"/gone/missing", 404}, std::pair{"/gone/moved", 301}}) {
    SCOPED_TRACE(path);
    ASSERT_EQ(fetch(path).status, status);
    for (const auto& conditional : {rfc9111_fields({{"If-None-Match", "*"}}),
                                    rfc9111_fields({{"If-Modified-Since", rfc9111_date(rfc9111_now())}})}) {
      HttpResponse hit = fetch(path, conditional);
      EXPECT_EQ(hit.status, status) << hit.describe();
      EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
      EXPECT_EQ(hit.body, std::string("body of ") + path) << hit.describe();
      EXPECT_FALSE(hit.headers.has("ETag")) << hit.describe();
    }
    EXPECT_EQ(backend_gets(path), 1u);
  }
}

// If-Match and If-Unmodified-Since make the backend's answer (412 or not) depend on the request: such a
// request bypasses the cache, so one client's 412 is never stored and served to others.
TEST_F(Rfc9111Test, APreconditionBypassesAndItsAnswerIsNeverStored) {
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("pre", "/pre", ", statuses: [200, 412]"),
            [](const BackendRequest& req, ResponseWriter& w) {
              const auto h = rfc9111_fields({{"Cache-Control", "max-age=60"}, {"ETag", "\"v1\""}});
              const bool failed = req.headers.get("If-Match").value_or("\"v1\"") != "\"v1\"" ||
                                  req.headers.has("If-Unmodified-Since");
              w.respond(failed ? 412 : 200, failed ? "precondition failed" : "body", h);
            }));
  for (const auto& precondition :
       {rfc9111_fields({{"If-Match", "\"nope\""}}),
        rfc9111_fields({{"If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"}})}) {
    HttpResponse refused = fetch("/pre", precondition);
    EXPECT_EQ(refused.status, 412) << refused.describe();
    EXPECT_EQ(x_cache(refused), "BYPASS") << refused.describe();
    EXPECT_EQ(header(refused, "Cache-Status"), "openrisk-cache; fwd=bypass; detail=precondition");
  }
  HttpResponse plain = fetch("/pre");
  EXPECT_EQ(plain.status, 200) << plain.describe();
  EXPECT_EQ(x_cache(plain), "MISS") << plain.describe();
  EXPECT_EQ(x_cache(fetch("/pre")), "HIT");
}

// only-if-cached (RFC 9111 section 5.2.1.7) never reaches the backend, also when the request would bypass
// the cache (a body, no-store, a rewriting header).
TEST_F(Rfc9111Test, OnlyIfCachedNeverReachesTheBackendEvenWhenItBypasses) {
  ASSERT_NO_FATAL_FAILURE(start("rules:\n" + rfc9111_rule("oic", "/oic", ""),
                                rfc9111_origin(rfc9111_fields({{"Cache-Control", "max-age=60"}}))));
  for (const auto& extra : {std::pair<std::string, std::string>{"Cache-Control", "only-if-cached, no-store"},
                            std::pair<std::string, std::string>{"X-Original-URL", "/elsewhere"}}) {
    HeaderList h = rfc9111_fields({{"Cache-Control", "only-if-cached"}});
    if (extra.first == "Cache-Control")
      h = rfc9111_fields({extra});
    else
      h.add(extra.first, extra.second);
    HttpResponse r = fetch("/oic", h);
    EXPECT_EQ(r.status, 504) << extra.first << ": " << r.describe();
  }
  HttpResponse with_body =
      through(0, "GET", "/oic", rfc9111_fields({{"Cache-Control", "only-if-cached"}}), "x");
  EXPECT_EQ(with_body.status, 504) << with_body.describe();
  EXPECT_EQ(backend_gets("/oic"), 0u);
}

// A miss that asked for an answer of its own (a Range the backend answers 206) is not stored, and says
// nothing of the key: the next plain request fills it at once (not only after the coalescer's memory of
// unstorable keys, 10 s, has passed).
TEST_F(Rfc9111Test, ARangeMissDoesNotKeepTheKeyFromBeingStored) {
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("ranged", "/ranged"), [](const BackendRequest& req, ResponseWriter& w) {
        auto h = rfc9111_fields({{"Cache-Control", "max-age=60"}});
        if (req.headers.has("Range")) {
          h.add("Content-Range", "bytes 0-3/14");
          w.respond(206, "body", h);
        } else {
          w.respond(200, "body of ranged", h);
        }
      }));
  HttpResponse partial = fetch("/ranged", rfc9111_fields({{"Range", "bytes=0-3"}}));
  ASSERT_EQ(partial.status, 206) << partial.describe();
  HttpResponse miss = fetch("/ranged");
  EXPECT_EQ(miss.status, 200) << miss.describe();
  HttpResponse hit = fetch("/ranged");
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_EQ(hit.body, "body of ranged");
  EXPECT_EQ(backend_gets("/ranged"), 2u);
}

// RFC 9111 sections 4.3 and 5.2.2.4: a no-cache response with an ETag is stored and revalidated before every
// reuse: the backend is asked with the stored ETag, a 304 serves the stored body with the 304's fields, a 200
// replaces the entry.
TEST_F(Rfc9111Test, NoCacheIsRevalidatedWithTheStoredValidator) {
  std::atomic<int> version{1};  // read by the backend's thread
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("validated", "/doc"),
            [&version](const BackendRequest& req, ResponseWriter& w) {
              const std::string v = std::to_string(version.load());
              const std::string etag = "\"v" + v + "\"";
              auto fields = rfc9111_fields({{"Cache-Control", "no-cache"}, {"ETag", etag}});
              if (req.headers.get("If-None-Match") == etag) {
                fields.add("X-Checked", "yes");
                w.respond(304, "", fields);
              } else {
                w.respond(200, "version " + v, fields);
              }
            }));
  HttpResponse first = fetch("/doc");
  ASSERT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(x_cache(first), "MISS") << first.describe();

  HttpResponse second = fetch("/doc", rfc9111_fields({{"If-None-Match", "\"mine\""}}));
  ASSERT_EQ(second.status, 200) << second.describe();
  EXPECT_EQ(x_cache(second), "HIT") << second.describe();
  EXPECT_EQ(second.body, "version 1") << second.describe();
  EXPECT_EQ(header(second, "X-Checked"), "yes") << "the 304's fields were not merged\n" << second.describe();
  EXPECT_NE(header(second, "Cache-Status").find("fwd=stale; fwd-status=304"), std::string::npos)
      << second.describe();
  ASSERT_EQ(backend_.requests().size(), 2u);
  EXPECT_EQ(backend_.requests()[1].headers.get("If-None-Match"), "\"v1\"")
      << "the client's validator went to the backend instead of the stored one";

  version = 2;
  HttpResponse changed = fetch("/doc");
  EXPECT_EQ(changed.body, "version 2") << changed.describe();
  EXPECT_EQ(x_cache(changed), "MISS") << changed.describe();
  HttpResponse after = fetch("/doc");
  EXPECT_EQ(after.body, "version 2") << after.describe();
  EXPECT_EQ(backend_.requests().size(), 4u) << "one conditional request per reuse";
}

// RFC 9112 section 6.1 with RFC 9110 section 7.6.1: Transfer-Encoding is hop-by-hop, so a transfer coding the
// proxy cannot undo ("gzip, chunked", a close-delimited coding) is never relayed without it: 502, not stored.
TEST_F(Rfc9111Test, AnUnusualTransferCodingIsAnswered502) {
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("coded", "/coded"), [](const BackendRequest& req, ResponseWriter& w) {
        if (req.target == "/coded/plain") {
          w.begin_chunked(200, rfc9111_fields({{"Cache-Control", "max-age=60"}}));
          w.write_chunk("plain");
          w.end_chunks();
          return;
        }
        w.write(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
            "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nxxxxx\r\n0\r\n\r\n");
        w.close_connection();
      }));
  HttpResponse coded = fetch("/coded/gzip");
  EXPECT_EQ(coded.status, 502) << coded.describe();
  HttpResponse again = fetch("/coded/gzip");
  EXPECT_EQ(again.status, 502) << "a coded body was stored\n" << again.describe();
  HttpResponse plain = fetch("/coded/plain");
  EXPECT_EQ(plain.status, 200) << plain.describe();
  EXPECT_EQ(plain.body, "plain") << plain.describe();
}

// The cache's own requests (a verify here; a background refresh the same) read past interim responses as a
// client's does (RFC 9110 section 15.2). Found by a probe: a verify took a 103 Early Hints for the answer,
// counted a mismatch and put the connection back in the pool with the real 200 still coming, which the next
// request then got (and stored) as its own.
TEST_F(Rfc9111Test, TheCachesOwnRequestReadsPastAnEarlyHint) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.target == "/early") {
      w.write("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
      w.respond(200, "body of /early", rfc9111_fields({{"Cache-Control", "max-age=60"}}));
      return;
    }
    w.respond(200, "body of " + req.target);
  });
  std::string yaml = config_yaml("rules:\n" + rfc9111_rule("early", "/early"), false, "", backend_.url());
  yaml.replace(yaml.find("threads: 2"), 10, "threads: 1");
  const std::string cache_line = "cache: { key_secret: test-secret";
  ASSERT_NE(yaml.find(cache_line), std::string::npos) << yaml;
  yaml.replace(yaml.find(cache_line), cache_line.size(),
               "cache: { verify: { sample: 1, max_per_second: 1000 }, key_secret: test-secret");
  yaml += "admin: { listen: 127.0.0.1:0, token: rfc9111-test-admin-token }\n";  // for metric_of
  DaemonProcess* proxy = start_proxy(yaml, {}, "");
  ASSERT_NE(proxy, nullptr);
  const auto verifies = [&](const std::string& result) {
    return metric_of(*proxy, R"(openrisk_cache_verify_total{result=")" + result + R"(",rule="early"})")
        .value_or(0);
  };

  HttpResponse miss = fetch("/early");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(miss.body, "body of /early");
  HttpResponse hit = fetch("/early");
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();
  ASSERT_TRUE(poll_until([&] { return verifies("match") + verifies("mismatch") >= 1; }, deadline_in(10s)))
      << proxy->stderr_text();
  EXPECT_EQ(verifies("match"), 1) << proxy->stderr_text();
  EXPECT_EQ(verifies("mismatch"), 0);
  HttpResponse other = fetch("/other");
  EXPECT_EQ(other.body, "body of /other") << other.describe();
}

// RFC 5861 section 4 and RFC 9111 section 5.2.2.2: the response's own stale-if-error serves the expired entry
// when the backend then fails (here: it closes the connection without an answer); with must-revalidate it
// may not, and the failure reaches the client. Real time: the entries live 1 s, polled, not slept on.
TEST_F(Rfc9111Test, StaleIfErrorFromTheResponseUnlessMustRevalidate) {
  std::atomic<bool> failing{false};  // read by the backend's thread
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("lenient", "/lenient") + rfc9111_rule("strict", "/strict"),
      [&failing](const BackendRequest& req, ResponseWriter& w) {
        if (failing) {
          w.close_connection();
          return;
        }
        const bool strict = req.target == "/strict";
        w.respond(200, "body of " + req.target,
                  rfc9111_fields({{"Cache-Control", strict ? "max-age=1, stale-if-error=600, must-revalidate"
                                                           : "max-age=1, stale-if-error=600"}}));
      }));
  for (const char* path : {"/lenient", "/strict"}) ASSERT_EQ(x_cache(fetch(path)), "MISS") << path;
  failing = true;

  // The first answers that are no longer fresh hits (the entries live 1 s): once_expired.
  HttpResponse lenient = once_expired("/lenient");
  EXPECT_EQ(lenient.status, 200) << lenient.describe();
  EXPECT_EQ(x_cache(lenient), "STALE") << "stale-if-error=600 from the response did not serve it\n"
                                       << lenient.describe();
  EXPECT_EQ(lenient.body, "body of /lenient");

  HttpResponse strict = once_expired("/strict");
  EXPECT_EQ(strict.status, 502) << "must-revalidate: a stale answer instead of the failure\n"
                                << strict.describe();
  EXPECT_NE(x_cache(strict), "STALE") << strict.describe();
}

// RFC 9111 sections 4.2.1 and 5.2.2.10: a shared cache takes s-maxage before max-age, both ways. With
// max-age=600, s-maxage=1 the entry expires after about a second and the backend is asked again; with
// max-age=1, s-maxage=600, stored before it, the entry is still fresh by then. Real time, polled.
TEST_F(Rfc9111Test, SMaxageComesBeforeMaxAge) {
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("shared", "/shared/:which"),
            [](const BackendRequest& req, ResponseWriter& w) {
              const bool short_lived = req.target == "/shared/short";
              w.respond(200, "body of " + req.target,
                        rfc9111_fields({{"Cache-Control", short_lived ? "max-age=600, s-maxage=1"
                                                                      : "max-age=1, s-maxage=600"}}));
            }));
  ASSERT_EQ(x_cache(fetch("/shared/long")), "MISS");
  ASSERT_EQ(x_cache(fetch("/shared/short")), "MISS");
  ASSERT_EQ(x_cache(fetch("/shared/short")), "HIT") << "not cached, the test proves nothing";

  HttpResponse expired = once_expired("/shared/short");
  EXPECT_EQ(expired.status, 200) << expired.describe();
  EXPECT_EQ(x_cache(expired), "MISS") << "max-age=600 outlived s-maxage=1\n" << expired.describe();
  EXPECT_EQ(backend_gets("/shared/short"), 2u);

  // Stored before the short one, so older than its 1 s: max-age=1 did not count.
  HttpResponse long_lived = fetch("/shared/long");
  EXPECT_EQ(x_cache(long_lived), "HIT") << "max-age=1 counted instead of s-maxage=600\n"
                                        << long_lived.describe();
  EXPECT_GT(cache_status_ttl(long_lived).value_or(0), 500) << long_lived.describe();
  EXPECT_EQ(backend_gets("/shared/long"), 1u);
}

// RFC 9111 sections 4.2.1, 4.2.3 and 5.3: without max-age, the lifetime is Expires - Date, less the age.
// An Expires in the past, an invalid one ("0": already expired), and one an hour after a Date two hours old
// give a response that is stale on arrival: never reused, every fetch reaches the backend. max-age comes
// before a past Expires.
TEST_F(Rfc9111Test, AnExpiresInThePastOrInvalidIsNeverReused) {
  auto origin = [](const BackendRequest& req, ResponseWriter& w) {
    const std::time_t now = rfc9111_now();
    HeaderList fields = rfc9111_fields({{"Date", rfc9111_date(now)}});
    if (req.target == "/expires/past") {
      fields.add("Expires", "Thu, 01 Jan 1970 00:00:00 GMT");
    } else if (req.target == "/expires/invalid") {
      fields.add("Expires", "0");
    } else if (req.target == "/expires/old-date") {
      fields = rfc9111_fields({{"Date", rfc9111_date(now - 7200)}, {"Expires", rfc9111_date(now - 3600)}});
    } else {  // /expires/max-age
      fields.add("Expires", "Thu, 01 Jan 1970 00:00:00 GMT");
      fields.add("Cache-Control", "max-age=60");
    }
    w.respond(200, "body of " + req.target, fields);
  };
  ASSERT_NO_FATAL_FAILURE(start("rules:\n" + rfc9111_rule("expires", "/expires/:which"), origin));
  for (const std::string path : {"/expires/past", "/expires/invalid", "/expires/old-date"}) {
    SCOPED_TRACE(path);
    for (int i = 1; i <= 3; ++i) {
      HttpResponse r = fetch(path);
      ASSERT_EQ(r.status, 200) << r.describe();
      EXPECT_NE(x_cache(r), "HIT") << "a response stale on arrival was reused\n" << r.describe();
      EXPECT_EQ(backend_gets(path), static_cast<std::size_t>(i));
    }
  }
  EXPECT_EQ(x_cache(fetch("/expires/max-age")), "MISS");
  HttpResponse hit = fetch("/expires/max-age");
  EXPECT_EQ(x_cache(hit), "HIT") << "the past Expires counted over max-age=60\n" << hit.describe();
  EXPECT_EQ(backend_gets("/expires/max-age"), 1u);
}

// RFC 9111 sections 4.2.1 and 5.3 with RFC 9110 section 5.6.7: an Expires an hour after the Date is reused
// for about an hour, whichever of the three date forms it is in (IMF-fixdate, the obsolete RFC 850 and
// asctime forms a recipient must accept).
TEST_F(Rfc9111Test, AnExpiresInTheFutureIsReusedInEveryDateForm) {
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("expires", "/expires/:form"),
      [](const BackendRequest& req, ResponseWriter& w) {
        const std::time_t now = rfc9111_now();
        const char* form = req.target == "/expires/rfc850"    ? kRfc850
                           : req.target == "/expires/asctime" ? kAsctime
                                                              : kImfFixdate;
        w.respond(200, "body of " + req.target,
                  rfc9111_fields({{"Date", rfc9111_date(now)}, {"Expires", rfc9111_date(now + 3600, form)}}));
      }));
  for (const std::string path : {"/expires/imf-fixdate", "/expires/rfc850", "/expires/asctime"}) {
    SCOPED_TRACE(path);
    HttpResponse miss = fetch(path);
    ASSERT_EQ(miss.status, 200) << miss.describe();
    EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
    HttpResponse hit = fetch(path);
    EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
    EXPECT_EQ(hit.body, "body of " + path) << hit.describe();
    const long ttl = cache_status_ttl(hit).value_or(-1);
    EXPECT_GT(ttl, 3500) << "the lifetime is not Expires - Date\n" << hit.describe();
    EXPECT_LE(ttl, 3600) << hit.describe();
    EXPECT_EQ(backend_gets(path), 1u);
  }
}

// RFC 9111 sections 4.2.3 and 5.1: the Age the origin reports is spent freshness and is counted in the Age
// of a hit: Age: 500 with max-age=600 leaves 100 s, Age: 599 about one (polled until it is stale). An Age
// that is not delta-seconds (negative, a fraction, an exponent) is ignored: the entry is fresh for its whole
// max-age=600, and the hit's own Age is small. Values a lenient parser would read as 600 or more (600.5, a
// negative number wrapped around, 1e3) would make those entries stale.
TEST_F(Rfc9111Test, TheOriginsAgeCountsAndAMalformedOneIsIgnored) {
  auto origin = [](const BackendRequest& req, ResponseWriter& w) {  // Age: the last segment of the path
    const std::string age = req.target.substr(std::string_view("/age/").size());
    w.respond(200, "body of " + req.target, rfc9111_fields({{"Cache-Control", "max-age=600"}, {"Age", age}}));
  };
  ASSERT_NO_FATAL_FAILURE(start("rules:\n" + rfc9111_rule("aged", "/age/:value"), origin));
  ASSERT_EQ(x_cache(fetch("/age/500")), "MISS");
  HttpResponse aged = fetch("/age/500");
  EXPECT_EQ(x_cache(aged), "HIT") << aged.describe();
  const long age = rfc9111_age(aged).value_or(-1);
  EXPECT_GE(age, 500) << "the hit's Age left out the origin's\n" << aged.describe();
  EXPECT_LT(age, 600) << aged.describe();
  const long ttl = cache_status_ttl(aged).value_or(-1);
  EXPECT_GT(ttl, 0) << aged.describe();
  EXPECT_LE(ttl, 100) << "the origin's Age was not taken off the lifetime\n" << aged.describe();

  ASSERT_EQ(x_cache(fetch("/age/599")), "MISS");
  HttpResponse expired = once_expired("/age/599");
  EXPECT_EQ(x_cache(expired), "MISS") << expired.describe();
  EXPECT_EQ(backend_gets("/age/599"), 2u);

  for (const std::string path : {"/age/-5", "/age/600.5", "/age/1e3"}) {
    SCOPED_TRACE(path);
    ASSERT_EQ(x_cache(fetch(path)), "MISS");
    HttpResponse hit = fetch(path);
    EXPECT_EQ(x_cache(hit), "HIT") << "a malformed Age made the entry stale\n" << hit.describe();
    const auto hit_age = rfc9111_age(hit);
    ASSERT_TRUE(hit_age.has_value()) << "the hit's Age is not delta-seconds\n" << hit.describe();
    EXPECT_LT(*hit_age, 60) << "a malformed Age counted\n" << hit.describe();
    EXPECT_GT(cache_status_ttl(hit).value_or(-1), 500) << hit.describe();
    EXPECT_EQ(backend_gets(path), 1u);
  }
}

// RFC 9111 section 4.2.2: a response with neither explicit freshness nor anything but Last-Modified is not
// reused by default (each fetch reaches the backend). A rule with heuristic_max gives it 10 % of Date -
// Last-Modified, at most heuristic_max: 100 s for a change 1000 s before the Date, 1 h (the cap) for one
// years ago.
TEST_F(Rfc9111Test, HeuristicFreshnessOnlyWhenTheRuleEnablesIt) {
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("no-heuristic", "/plain") +
          rfc9111_rule("heuristic", "/heuristic/:which", ", heuristic_max: 1h"),
      [](const BackendRequest& req, ResponseWriter& w) {
        const std::time_t now = rfc9111_now();
        const std::string modified =
            req.target == "/heuristic/recent" ? rfc9111_date(now - 1000) : "Thu, 01 Jan 2015 00:00:00 GMT";
        w.respond(200, "body of " + req.target,
                  rfc9111_fields({{"Date", rfc9111_date(now)}, {"Last-Modified", modified}}));
      }));
  for (int i = 1; i <= 3; ++i) {
    HttpResponse r = fetch("/plain");
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_NE(x_cache(r), "HIT") << "a heuristic lifetime the rule did not ask for\n" << r.describe();
    EXPECT_EQ(backend_gets("/plain"), static_cast<std::size_t>(i));
  }

  struct Case {
    const char* path;
    long max_ttl;
  };
  for (const Case c : {Case{"/heuristic/recent", 100}, Case{"/heuristic/old", 3600}}) {
    SCOPED_TRACE(c.path);
    EXPECT_EQ(x_cache(fetch(c.path)), "MISS");
    HttpResponse hit = fetch(c.path);
    EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
    EXPECT_EQ(hit.body, std::string("body of ") + c.path) << hit.describe();
    const long ttl = cache_status_ttl(hit).value_or(-1);
    EXPECT_GT(ttl, c.max_ttl - 10) << hit.describe();
    EXPECT_LE(ttl, c.max_ttl) << hit.describe();
    EXPECT_EQ(backend_gets(c.path), 1u);
  }
}

// RFC 5861 section 3: the response's own stale-while-revalidate serves the expired entry at once (the
// backend is held until the test has that answer) while one background request refreshes it; once that
// request is answered, a fetch is a fresh hit with the new body. Real time: the first version lives 1 s.
TEST_F(Rfc9111Test, StaleWhileRevalidateFromTheResponse) {
  struct Script {
    int answered = 0;      // under the backend's lock
    bool release = false;  // likewise: the refresh's answer may go
  };
  // Shared with the handler, which may still wait when a failed test has returned.
  auto script = std::make_shared<Script>();
  auto origin = [script](const BackendRequest&, ResponseWriter& w) {
    int version = 0;
    w.update([&] { version = ++script->answered; });
    if (version == 1) {
      w.respond(200, "version 1",
                rfc9111_fields({{"Cache-Control", "max-age=1, stale-while-revalidate=600"}}));
      return;
    }
    w.wait_until([&] { return script->release; }, deadline_in(20s));
    w.respond(200, "version " + std::to_string(version), rfc9111_fields({{"Cache-Control", "max-age=600"}}));
  };
  ASSERT_NO_FATAL_FAILURE(start("rules:\n" + rfc9111_rule("swr", "/swr"), origin));
  HttpResponse first = fetch("/swr");
  ASSERT_EQ(first.status, 200) << first.describe();
  ASSERT_EQ(first.body, "version 1") << first.describe();

  HttpResponse stale = once_expired("/swr");
  EXPECT_EQ(stale.status, 200) << stale.describe();
  EXPECT_EQ(x_cache(stale), "STALE") << "stale-while-revalidate=600 from the response did not serve it\n"
                                     << stale.describe();
  EXPECT_EQ(stale.body, "version 1") << stale.describe();
  EXPECT_NE(header(stale, "Cache-Status").find("fwd=stale"), std::string::npos) << stale.describe();

  EXPECT_TRUE(poll_until([&] { return backend_gets("/swr") >= 2; }, deadline_in(10s)))
      << "no background refresh reached the backend";
  HttpResponse meanwhile = fetch("/swr");
  EXPECT_EQ(x_cache(meanwhile), "STALE") << meanwhile.describe();
  EXPECT_EQ(meanwhile.body, "version 1") << meanwhile.describe();
  EXPECT_EQ(backend_gets("/swr"), 2u) << "more than one refresh";

  backend_.update([&] { script->release = true; });
  HttpResponse refreshed;
  EXPECT_TRUE(poll_until(
      [&] {
        refreshed = fetch("/swr");
        return x_cache(refreshed) == "HIT";
      },
      deadline_in(10s)))
      << "the refresh was never stored\n"
      << refreshed.describe();
  EXPECT_EQ(refreshed.body, "version 2") << refreshed.describe();
  EXPECT_EQ(backend_gets("/swr"), 2u);
}

// RFC 9111 sections 3, 5.2.2.5 and 5.2.2.7: a shared cache never stores a response that says no-store or
// private (also private="field"), whatever its max-age: every fetch reaches the backend.
TEST_F(Rfc9111Test, PrivateAndNoStoreAreNeverStored) {
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("never", "/never/:which"), [](const BackendRequest& req, ResponseWriter& w) {
        const std::string directive = req.target == "/never/private"         ? "private"
                                      : req.target == "/never/private-field" ? "private=\"X-Secret\""
                                                                             : "no-store";
        w.respond(200, "body of " + req.target,
                  rfc9111_fields({{"Cache-Control", directive + ", max-age=60"}, {"X-Secret", "s"}}));
      }));
  for (const std::string path : {"/never/private", "/never/private-field", "/never/no-store"}) {
    SCOPED_TRACE(path);
    for (int i = 1; i <= 3; ++i) {
      HttpResponse r = fetch(path);
      ASSERT_EQ(r.status, 200) << r.describe();
      EXPECT_NE(x_cache(r), "HIT") << r.describe();
      EXPECT_EQ(r.body, "body of " + path) << r.describe();
      EXPECT_EQ(backend_gets(path), static_cast<std::size_t>(i));
    }
  }
}

// RFC 9111 section 3: on an origin rule, a final status outside the rule's `statuses` (here [200]) is stored
// when the response has explicit freshness (a 404, a 308 with max-age=60); without it, the list decides: a
// 404 with only Last-Modified is not stored, though the same rule stores a 200 so (heuristic_max).
TEST_F(Rfc9111Test, AStatusOutsideTheRulesListIsStoredWithExplicitFreshness) {
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("listed", "/status/:which", ", statuses: [200], heuristic_max: 1h"),
      [](const BackendRequest& req, ResponseWriter& w) {
        const std::time_t now = rfc9111_now();
        const auto heuristic =
            rfc9111_fields({{"Date", rfc9111_date(now)}, {"Last-Modified", "Thu, 01 Jan 2015 00:00:00 GMT"}});
        if (req.target == "/status/404")
          w.respond(404, "body of " + req.target, rfc9111_fields({{"Cache-Control", "max-age=60"}}));
        else if (req.target == "/status/308")
          w.respond(308, "body of " + req.target,
                    rfc9111_fields({{"Cache-Control", "max-age=60"}, {"Location", "/status/elsewhere"}}));
        else if (req.target == "/status/404-heuristic")
          w.respond(404, "body of " + req.target, heuristic);
        else
          w.respond(200, "body of " + req.target, heuristic);
      }));
  struct Case {
    const char* path;
    int status;
  };
  for (const Case c :
       {Case{"/status/404", 404}, Case{"/status/308", 308}, Case{"/status/200-heuristic", 200}}) {
    SCOPED_TRACE(c.path);
    HttpResponse miss = fetch(c.path);
    ASSERT_EQ(miss.status, c.status) << miss.describe();
    EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
    HttpResponse hit = fetch(c.path);
    EXPECT_EQ(hit.status, c.status) << hit.describe();
    EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
    EXPECT_EQ(hit.body, std::string("body of ") + c.path) << hit.describe();
    EXPECT_EQ(backend_gets(c.path), 1u);
  }
  EXPECT_EQ(header(fetch("/status/308"), "Location"), "/status/elsewhere");

  for (int i = 1; i <= 3; ++i) {
    HttpResponse r = fetch("/status/404-heuristic");
    ASSERT_EQ(r.status, 404) << r.describe();
    EXPECT_NE(x_cache(r), "HIT") << "a status outside `statuses` stored without explicit freshness\n"
                                 << r.describe();
    EXPECT_EQ(backend_gets("/status/404-heuristic"), static_cast<std::size_t>(i));
  }
}

// RFC 9111 section 5.2.2.3: must-understand lets a cache that understands the status ignore no-store (a 200
// with "must-understand, no-store" is stored), and keeps out a status it does not understand (299), with or
// without no-store, though the same status with max-age alone is stored.
TEST_F(Rfc9111Test, MustUnderstandStoresUnderstoodStatusesOnly) {
  ASSERT_NO_FATAL_FAILURE(start(
      "rules:\n" + rfc9111_rule("understood", "/mu/:which"),
      [](const BackendRequest& req, ResponseWriter& w) {
        const bool ok = req.target == "/mu/200";
        std::string directives = "must-understand, no-store, max-age=60";
        if (req.target == "/mu/299-must-understand") directives = "must-understand, max-age=60";
        if (req.target == "/mu/299-plain") directives = "max-age=60";
        w.respond(ok ? 200 : 299, "body of " + req.target, rfc9111_fields({{"Cache-Control", directives}}));
      }));
  struct Case {
    const char* path;
    int status;
  };
  for (const Case c : {Case{"/mu/200", 200}, Case{"/mu/299-plain", 299}}) {
    SCOPED_TRACE(c.path);
    HttpResponse miss = fetch(c.path);
    ASSERT_EQ(miss.status, c.status) << miss.describe();
    EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
    HttpResponse hit = fetch(c.path);
    EXPECT_EQ(hit.status, c.status) << hit.describe();
    EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
    EXPECT_EQ(backend_gets(c.path), 1u);
  }
  for (const std::string path : {"/mu/299-no-store", "/mu/299-must-understand"}) {
    SCOPED_TRACE(path);
    for (int i = 1; i <= 3; ++i) {
      HttpResponse r = fetch(path);
      ASSERT_EQ(r.status, 299) << r.describe();
      EXPECT_NE(x_cache(r), "HIT") << "must-understand with a status the cache does not know was stored\n"
                                   << r.describe();
      EXPECT_EQ(backend_gets(path), static_cast<std::size_t>(i));
    }
  }
}

// RFC 9110 section 6.6.1 with RFC 9111 section 4.3.2: an origin response without Date (or Last-Modified) is
// stored with the time the cache received it; a hit carries that Date, and an If-Modified-Since is compared
// with it: a date a second or more after it is a 304 from the cache; the same second (the client's copy may
// be another answer of that second, from before a write) or an older date, the whole response.
TEST_F(Rfc9111Test, AResponseWithoutADateIsDatedAndAnswersIfModifiedSince) {
  ASSERT_NO_FATAL_FAILURE(start("rules:\n" + rfc9111_rule("undated", "/undated"),
                                rfc9111_origin(rfc9111_fields({{"Cache-Control", "max-age=600"}}))));
  const std::time_t before = rfc9111_now();
  HttpResponse miss = fetch("/undated");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  HttpResponse hit = fetch("/undated");
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();
  const std::string date = header(hit, "Date");
  ASSERT_FALSE(date.empty()) << "a stored response without a Date was served without one\n" << hit.describe();
  std::tm tm{};
  ASSERT_NE(strptime(date.c_str(), kImfFixdate, &tm), nullptr) << date;
  const std::time_t dated = timegm(&tm);
  EXPECT_GE(dated, before) << date;
  EXPECT_LE(dated, rfc9111_now()) << date;

  HttpResponse later = fetch("/undated", rfc9111_fields({{"If-Modified-Since", rfc9111_date(dated + 1)}}));
  EXPECT_EQ(later.status, 304) << later.describe();
  EXPECT_TRUE(later.body.empty()) << later.describe();
  HttpResponse same = fetch("/undated", rfc9111_fields({{"If-Modified-Since", date}}));
  EXPECT_EQ(same.status, 200) << same.describe();
  EXPECT_EQ(same.body, "body of /undated") << same.describe();
  HttpResponse older = fetch("/undated", rfc9111_fields({{"If-Modified-Since", rfc9111_date(dated - 3600)}}));
  EXPECT_EQ(older.status, 200) << older.describe();
  EXPECT_EQ(older.body, "body of /undated") << older.describe();
  EXPECT_EQ(backend_gets("/undated"), 1u);
}

// RFC 9111 section 4.1 with RFC 5861 section 3: the background refresh of a stale variant is the request of
// the client that found it stale, Vary's fields included (the backend answers that variant, not another),
// and its answer replaces that variant only: the other language's entry stays as it was.
// A refresh in the background is sent on an idle backend connection of the pool, as a client's request is;
// when the backend closed that connection meanwhile (it answers nothing), the refresh is sent again on a new
// one. One worker, so that the pool is the miss's.
TEST_F(Rfc9111Test, ARefreshInTheBackgroundReusesAnIdleBackendConnection) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.connection_id == 1 && req.index_on_connection == 2) {  // its third request
      w.close_connection();  // without a byte of an answer, as a backend whose idle timeout just passed
      return;
    }
    w.respond(
        200,
        "conn=" + std::to_string(req.connection_id) + " request=" + std::to_string(req.index_on_connection),
        rfc9111_fields({{"Cache-Control", "max-age=1, stale-while-revalidate=600"}}));
  });
  std::string yaml = config_yaml("rules:\n" + rfc9111_rule("swr", "/swr"), false, "", backend_.url());
  yaml.replace(yaml.find("threads: 2"), 10, "threads: 1");
  yaml += "admin: { listen: 127.0.0.1:0, token: rfc9111-test-admin-token }\n";  // for metric_of
  DaemonProcess* proxy = start_proxy(yaml, {}, "");
  ASSERT_NE(proxy, nullptr);
  ASSERT_EQ(fetch("/swr").body, "conn=1 request=0");

  // Refreshed on connection 1, which the miss left in the pool.
  auto refreshed_to = [&](const std::string& body) {
    HttpResponse r;
    const bool seen = poll_until(
        [&] {
          r = fetch("/swr");
          return x_cache(r) == "HIT" && r.body == body;
        },
        deadline_in(20s));
    EXPECT_TRUE(seen) << "never refreshed to '" << body << "'\n" << r.describe();
  };
  EXPECT_EQ(x_cache(once_expired("/swr")), "STALE");
  refreshed_to("conn=1 request=1");
  EXPECT_EQ(backend_.connections_accepted(), 1u) << "the refresh opened a connection of its own";

  // The backend drops connection 1 when the next refresh arrives on it: the refresh goes again on a new one.
  EXPECT_EQ(x_cache(once_expired("/swr")), "STALE");
  refreshed_to("conn=2 request=0");
  EXPECT_EQ(backend_.connections_accepted(), 2u);
  EXPECT_EQ(metric_of(*proxy, R"(openrisk_cache_upstream_requests_total{code_class="error",rule="swr"})")
                .value_or(0),
            0.0)
      << "a refresh failed on the dropped connection instead of being sent again";
  EXPECT_GE(metric_of(*proxy, R"(openrisk_cache_upstream_requests_total{code_class="2xx",rule="swr"})"), 3.0)
      << "the miss and the two refreshes";
}

// A refresh the backend does not answer leaves the stale entry served, and says so in the log (the client
// never sees the failure), with the request's id and its target.
TEST_F(Rfc9111Test, ARefreshTheBackendDoesNotAnswerIsLogged) {
  auto origin = [](const BackendRequest& req, ResponseWriter& w) {
    if (req.connection_id > 1 || req.index_on_connection > 0) {
      w.close_connection();  // the refresh, on the pooled connection and then on a new one
      return;
    }
    w.respond(200, "version 1", rfc9111_fields({{"Cache-Control", "max-age=1, stale-while-revalidate=600"}}));
  };
  ASSERT_NO_FATAL_FAILURE(start("rules:\n" + rfc9111_rule("swr", "/swr"), origin));
  ASSERT_EQ(fetch("/swr").body, "version 1");
  HttpResponse stale = once_expired("/swr");
  EXPECT_EQ(x_cache(stale), "STALE") << stale.describe();
  EXPECT_EQ(stale.body, "version 1");
  const std::string id = header(stale, "X-Request-ID");
  ASSERT_FALSE(id.empty()) << stale.describe();
  EXPECT_TRUE(
      proxies_.at(0)->wait_for_log("request " + id +
                                   R"( GET /swr: the cache's own request \(a refresh or a verify\) to )"
                                   R"(upstream 127\.0\.0\.1:\d+ failed: )"))
      << proxies_.at(0)->stderr_text();
}

TEST_F(Rfc9111Test, ARefreshInTheBackgroundAsksForTheStaleVariant) {
  std::atomic<int> version{1};  // read by the backend's thread
  ASSERT_NO_FATAL_FAILURE(
      start("rules:\n" + rfc9111_rule("varied", "/varied"),
            [&version](const BackendRequest& req, ResponseWriter& w) {
              const auto lang = req.headers.get("Accept-Language").value_or("none");
              w.respond(200, lang + " version " + std::to_string(version.load()),
                        rfc9111_fields({{"Cache-Control", "max-age=1, stale-while-revalidate=600"},
                                        {"Vary", "Accept-Language"}}));
            }));
  const auto fr = rfc9111_fields({{"Accept-Language", "fr"}});
  const auto de = rfc9111_fields({{"Accept-Language", "de"}});
  ASSERT_EQ(fetch("/varied", fr).body, "fr version 1");
  ASSERT_EQ(fetch("/varied", de).body, "de version 1");
  ASSERT_EQ(x_cache(fetch("/varied", fr)), "HIT") << "not cached, the test proves nothing";
  version = 2;

  HttpResponse stale = once_expired_with("/varied", fr);
  EXPECT_EQ(x_cache(stale), "STALE") << stale.describe();
  EXPECT_EQ(stale.body, "fr version 1") << stale.describe();
  EXPECT_TRUE(poll_until([&] { return backend_gets("/varied") >= 3; }, deadline_in(10s)))
      << "no background refresh reached the backend";
  const auto requests = backend_.requests();
  EXPECT_EQ(requests.back().headers.get("Accept-Language"), "fr") << "the refresh asked for another variant";

  HttpResponse refreshed;
  EXPECT_TRUE(poll_until(
      [&] {
        refreshed = fetch("/varied", fr);
        return x_cache(refreshed) == "HIT";
      },
      deadline_in(10s)))
      << refreshed.describe();
  EXPECT_EQ(refreshed.body, "fr version 2") << refreshed.describe();
  HttpResponse other = fetch("/varied", de);
  EXPECT_EQ(other.body, "de version 1") << "the refresh replaced the other variant\n" << other.describe();
}

}  // namespace
}  // namespace orc::test
