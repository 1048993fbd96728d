// Black-box tests of what the cache stores and how it answers, against a scripted backend: ETag and 304,
// the origin's validators, hop-by-hop fields never stored, HEAD from the GET entry, Set-Cookie / no-store /
// private never stored, Vary splitting entries.
#include <gtest/gtest.h>

#include <string>

#include "cache_fixture.hpp"
#include "proxy_fixture.hpp"
#include "support/test_backend.hpp"

namespace orc::test {
namespace {

const char* const kPublicRules = R"(rules:
  - name: pub
    match: { method: GET, path: "/pub/**" }
    cache: { ttl: 5m, scope: public }
)";

const char* const kOriginEtag = "\"origin-v1\"";
const char* const kLastModified = "Tue, 01 Dec 2026 10:00:00 GMT";

class CacheHttpTest : public CacheStorageTest {
 protected:
  void SetUp() override {
    backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
      HeaderList h;
      h.add("Content-Type", "text/plain");
      std::string body = "body of " + req.target;
      if (req.target == "/pub/cookie") {
        h.add("Set-Cookie", "session=secret-session; Path=/; HttpOnly");
      } else if (req.target == "/pub/no-store") {
        h.add("Cache-Control", "no-store");
      } else if (req.target == "/pub/private") {
        h.add("Cache-Control", "private, max-age=60");
      } else if (req.target == "/pub/vary") {
        h.add("Vary", "Accept-Language");
        body = "language " + req.headers.get("Accept-Language").value_or("none");
      } else if (req.target == "/pub/validators") {
        h.add("ETag", kOriginEtag);
        h.add("Last-Modified", kLastModified);
      } else if (req.target == "/pub/conditional") {
        // A backend that honours conditionals: a client's validator gets a 304 that only that client can use.
        if (req.headers.get("If-None-Match") || req.headers.get("If-Modified-Since")) {
          w.respond(304, "", h);
          return;
        }
        h.add("ETag", kOriginEtag);
      } else if (req.target == "/pub/chunked") {
        // Hop-by-hop fields of the backend's connection: Keep-Alive, a field Connection names, and the
        // chunked framing itself.
        h.add("Connection", "keep-alive, X-Hop-Secret");
        h.add("Keep-Alive", "timeout=5, max=100");
        h.add("X-Hop-Secret", "for-the-proxy-only");
        h.add("X-End-To-End", "kept");
        if (w.begin_chunked(200, h) && w.write_chunk("chunked ") && w.write_chunk("body")) w.end_chunks();
        return;
      }
      w.respond(200, body, h);
    });
    if (use_redis()) {
      ASSERT_NO_THROW(start_redis());
    }
    ASSERT_NE(start_proxy(config_yaml(kPublicRules, use_redis(), "", backend_.url()), {}, "/pub/warmup"),
              nullptr);
  }
  void TearDown() override {
    CacheStorageTest::TearDown();  // the daemons go before the backend
  }

  std::size_t backend_count(const std::string& target) const {
    std::size_t n = 0;
    for (const auto& r : backend_.requests())
      if (r.target == target) ++n;
    return n;
  }

  HttpResponse get_pub(const std::string& target, const HeaderList& h = {}) {
    return through(0, "GET", target, h);
  }

  TestBackend backend_;
};

TEST_P(CacheHttpTest, IfNoneMatchWithTheEtagOfAHitGets304) {
  HttpResponse miss = get_pub("/pub/plain");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
  HttpResponse hit = get_pub("/pub/plain");
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();
  const std::string etag = header(hit, "ETag");
  ASSERT_FALSE(etag.empty()) << hit.describe();

  HeaderList h;
  h.add("If-None-Match", etag);
  HttpResponse not_modified = get_pub("/pub/plain", h);
  ASSERT_TRUE(not_modified.ok()) << not_modified.describe();
  EXPECT_EQ(not_modified.status, 304) << not_modified.describe();
  EXPECT_TRUE(not_modified.body.empty()) << not_modified.describe();
  EXPECT_EQ(header(not_modified, "ETag"), etag);

  HeaderList other;
  other.add("If-None-Match", "\"some-other-etag\"");
  HttpResponse full = get_pub("/pub/plain", other);
  EXPECT_EQ(full.status, 200) << full.describe();
  EXPECT_EQ(full.body, miss.body);
  EXPECT_EQ(backend_count("/pub/plain"), 1u);
}

TEST_P(CacheHttpTest, OriginValidatorsAreKeptAndAnswerConditionals) {
  HttpResponse miss = get_pub("/pub/validators");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(header(miss, "ETag"), kOriginEtag) << miss.describe();
  HttpResponse hit = get_pub("/pub/validators");
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_EQ(header(hit, "ETag"), kOriginEtag) << "the origin's ETag was replaced\n" << hit.describe();
  EXPECT_EQ(header(hit, "Last-Modified"), kLastModified) << hit.describe();

  struct Case {
    const char* field;
    std::string value;
    int status;
  };
  const Case cases[] = {
      {"If-None-Match", kOriginEtag, 304},                      // the tag the miss returned
      {"If-None-Match", std::string("W/") + kOriginEtag, 304},  // weak comparison (RFC 9110 section 8.8.3.2)
      {"If-None-Match", "\"x\", " + std::string(kOriginEtag), 304},
      {"If-None-Match", "\"origin-v2\"", 200},
      {"If-Modified-Since", kLastModified, 304},  // not modified since that date
      {"If-Modified-Since", "Wed, 02 Dec 2026 10:00:00 GMT", 304},
      {"If-Modified-Since", "Mon, 30 Nov 2026 10:00:00 GMT", 200},  // modified since
      {"If-Modified-Since", "not a date", 200},
      // The obsolete forms a recipient must accept (RFC 9110 section 5.6.7): RFC 850 and asctime.
      {"If-Modified-Since", "Tuesday, 01-Dec-26 10:00:00 GMT", 304},
      {"If-Modified-Since", "Tue Dec  1 10:00:00 2026", 304},
      {"If-Modified-Since", "Monday, 30-Nov-26 10:00:00 GMT", 200},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.field) + ": " + c.value);
    HeaderList h;
    h.add(c.field, c.value);
    HttpResponse r = get_pub("/pub/validators", h);
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.status, c.status) << r.describe();
    EXPECT_EQ(x_cache(r), "HIT") << r.describe();
    EXPECT_EQ(header(r, "ETag"), kOriginEtag) << r.describe();
    EXPECT_EQ(r.body, c.status == 304 ? "" : miss.body);
  }
  // If-None-Match wins over If-Modified-Since (RFC 9110 section 13.2.2).
  HeaderList both;
  both.add("If-None-Match", "\"origin-v2\"");
  both.add("If-Modified-Since", kLastModified);
  EXPECT_EQ(get_pub("/pub/validators", both).status, 200);
  EXPECT_EQ(backend_count("/pub/validators"), 1u);
}

TEST_P(CacheHttpTest, AMissWithAClientsConditionalStillFills) {
  // The fill asks the backend unconditionally (it needs the whole response to store), answers the client
  // with the 200, and the next conditional from the entry.
  HeaderList h;
  h.add("If-None-Match", kOriginEtag);
  h.add("If-Modified-Since", kLastModified);
  HttpResponse miss = get_pub("/pub/conditional", h);
  ASSERT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
  for (const auto& r : backend_.requests())
    if (r.target == "/pub/conditional") {
      EXPECT_FALSE(r.headers.get("If-None-Match")) << "the fill forwarded the client's validator";
      EXPECT_FALSE(r.headers.get("If-Modified-Since"));
    }
  HttpResponse not_modified = get_pub("/pub/conditional", h);
  EXPECT_EQ(not_modified.status, 304) << not_modified.describe();
  EXPECT_EQ(x_cache(not_modified), "HIT") << not_modified.describe();
  EXPECT_EQ(get_pub("/pub/conditional").body, "body of /pub/conditional");
  EXPECT_EQ(backend_count("/pub/conditional"), 1u);
}

TEST_P(CacheHttpTest, HopByHopFieldsOfAChunkedBackendAreNeverStored) {
  HttpResponse miss = get_pub("/pub/chunked");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  ASSERT_EQ(miss.body, "chunked body") << miss.describe();
  for (const char* method : {"GET", "HEAD"}) {
    SCOPED_TRACE(method);
    HttpResponse hit = through(0, method, "/pub/chunked");
    ASSERT_TRUE(hit.ok()) << hit.describe();
    ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();
    EXPECT_EQ(hit.body, std::string(method) == "GET" ? "chunked body" : "") << hit.describe();
    EXPECT_EQ(header(hit, "Content-Length"), "12") << hit.describe();
    EXPECT_EQ(header(hit, "X-End-To-End"), "kept") << hit.describe();
    for (const char* hop : {"Transfer-Encoding", "Keep-Alive", "X-Hop-Secret"})
      EXPECT_EQ(header(hit, hop), "") << hop << " was stored\n" << hit.describe();
  }
  HeaderList h;
  h.add("If-None-Match", header(get_pub("/pub/chunked"), "ETag"));
  HttpResponse not_modified = get_pub("/pub/chunked", h);
  ASSERT_EQ(not_modified.status, 304) << not_modified.describe();
  for (const char* framing : {"Transfer-Encoding", "Content-Length", "Keep-Alive"})
    EXPECT_EQ(header(not_modified, framing), "") << framing << " on a 304\n" << not_modified.describe();
  // The connection is still in a known state: the 304 carried no body and no framing.
  EXPECT_EQ(get_pub("/pub/chunked").body, "chunked body");
  EXPECT_EQ(backend_count("/pub/chunked"), 1u);
}

TEST_P(CacheHttpTest, HeadAfterGetIsAHitWithoutBody) {
  HttpResponse miss = get_pub("/pub/plain");
  ASSERT_EQ(miss.status, 200) << miss.describe();
  HttpResponse head = through(0, "HEAD", "/pub/plain");
  ASSERT_TRUE(head.ok()) << head.describe();
  EXPECT_EQ(head.status, 200) << head.describe();
  EXPECT_EQ(x_cache(head), "HIT") << head.describe();
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(header(head, "Content-Length"), std::to_string(miss.body.size())) << head.describe();
  // The connection carries no stray body: a request after the HEAD on the same connection is read cleanly.
  RawClient client(proxy_port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send(make_request("HEAD", "/pub/plain") + make_request("GET", "/pub/plain")));
  ReadOptions head_read;
  head_read.head_request = true;
  HttpResponse h2 = client.read_response(head_read);
  HttpResponse g2 = client.read_response();
  EXPECT_EQ(h2.status, 200) << h2.describe();
  EXPECT_EQ(g2.status, 200) << g2.describe();
  EXPECT_EQ(g2.body, miss.body);
  EXPECT_EQ(backend_count("/pub/plain"), 1u);
}

TEST_P(CacheHttpTest, ResponseWithSetCookieIsNotStored) {
  for (int i = 1; i <= 3; ++i) {
    HttpResponse r = get_pub("/pub/cookie");
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_NE(x_cache(r), "HIT") << r.describe();
    EXPECT_EQ(header(r, "Set-Cookie").find("session=secret-session"), 0u)
        << "the backend's cookie is relayed\n"
        << r.describe();
    EXPECT_EQ(backend_count("/pub/cookie"), static_cast<std::size_t>(i));
  }
}

TEST_P(CacheHttpTest, NoStoreAndPrivateResponsesAreNotStored) {
  for (const std::string target : {"/pub/no-store", "/pub/private"}) {
    SCOPED_TRACE(target);
    for (int i = 1; i <= 3; ++i) {
      HttpResponse r = get_pub(target);
      ASSERT_EQ(r.status, 200) << r.describe();
      EXPECT_NE(x_cache(r), "HIT") << r.describe();
      EXPECT_EQ(backend_count(target), static_cast<std::size_t>(i));
    }
  }
}

TEST_P(CacheHttpTest, RequestNoStoreBypassesAndNoCacheRefreshes) {
  ASSERT_EQ(get_pub("/pub/plain").status, 200);
  ASSERT_EQ(x_cache(get_pub("/pub/plain")), "HIT");

  HeaderList no_store;
  no_store.add("Cache-Control", "no-store");
  HttpResponse bypass = get_pub("/pub/plain", no_store);
  EXPECT_EQ(x_cache(bypass), "BYPASS") << bypass.describe();
  EXPECT_EQ(backend_count("/pub/plain"), 2u);

  HeaderList no_cache;
  no_cache.add("Cache-Control", "no-cache");
  HttpResponse refreshed = get_pub("/pub/plain", no_cache);
  EXPECT_EQ(refreshed.status, 200) << refreshed.describe();
  EXPECT_NE(x_cache(refreshed), "HIT") << refreshed.describe();
  EXPECT_EQ(backend_count("/pub/plain"), 3u);
  EXPECT_EQ(x_cache(get_pub("/pub/plain")), "HIT");
  EXPECT_EQ(backend_count("/pub/plain"), 3u);
}

TEST_P(CacheHttpTest, VaryAcceptLanguageSplitsEntries) {
  HeaderList en;
  en.add("Accept-Language", "en");
  HeaderList de;
  de.add("Accept-Language", "de");

  HttpResponse en1 = get_pub("/pub/vary", en);
  HttpResponse de1 = get_pub("/pub/vary", de);
  EXPECT_EQ(x_cache(en1), "MISS") << en1.describe();
  EXPECT_EQ(x_cache(de1), "MISS") << "the German request got the English entry\n" << de1.describe();
  EXPECT_EQ(en1.body, "language en");
  EXPECT_EQ(de1.body, "language de");

  HttpResponse en2 = get_pub("/pub/vary", en);
  HttpResponse de2 = get_pub("/pub/vary", de);
  EXPECT_EQ(x_cache(en2), "HIT") << en2.describe();
  EXPECT_EQ(x_cache(de2), "HIT") << de2.describe();
  EXPECT_EQ(en2.body, "language en");
  EXPECT_EQ(de2.body, "language de");
  EXPECT_EQ(backend_count("/pub/vary"), 2u);
}

INSTANTIATE_TEST_SUITE_P(Storages, CacheHttpTest,
                         ::testing::Values(Storage::memory, Storage::redis, Storage::redis_cluster),
                         storage_name);

}  // namespace
}  // namespace orc::test
