// Black-box tests of the RFC 9111 behaviour of `ttl: origin` rules against a scripted origin (memory
// storage): the target URI as the key, purges by unsafe methods, Authorization, targeted fields (RFC 9213),
// Range hits, Set-Cookie and Vary matching on normalised values, revalidation, 304s from the cache,
// transfer codings. RFC 5861 needs the entry to expire, and the daemon has no clock a test can move: that
// test waits (polling) for a 1 s freshness lifetime to pass.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <initializer_list>
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

  TestBackend backend_;
};

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

  // The first answer that is no longer a fresh hit (the entry lives 1 s).
  auto once_expired = [&](const std::string& path) {
    HttpResponse r;
    EXPECT_TRUE(poll_until(
        [&] {
          r = fetch(path);
          return x_cache(r) != "HIT";
        },
        deadline_in(20s)))
        << path << ": the entry never expired";
    return r;
  };
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

}  // namespace
}  // namespace orc::test
