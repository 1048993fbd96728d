// Black-box tests of the header rewriting on the proxy hop: hop-by-hop removal both ways, Via,
// X-Forwarded-*, Host pass-through and X-Request-ID generation and propagation.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "proxy_fixture.hpp"

namespace orc::test {
namespace {

bool has_token(const HeaderList& h, std::string_view name, std::string_view token) {
  auto tokens = h.tokens(name);
  return std::find(tokens.begin(), tokens.end(), to_lower(token)) != tokens.end();
}

bool is_request_id(const std::optional<std::string>& id) {
  static const std::regex hex32("^[0-9a-fA-F]{32}$");
  return id && std::regex_match(*id, hex32);
}

TEST_F(ProxyTest, HopByHopHeadersAreRemovedBothWays) {
  backend_.set_handler([](const BackendRequest&, ResponseWriter& w) {
    w.write(
        "HTTP/1.1 200 OK\r\n"
        "Connection: X-Resp-Hop\r\n"
        "X-Resp-Hop: from-backend\r\n"
        "Keep-Alive: timeout=99\r\n"
        "Proxy-Connection: keep-alive\r\n"
        "Upgrade: h2c\r\n"
        "Trailer: X-Checksum\r\n"
        "X-Resp-End: kept\r\n"
        "Content-Length: 2\r\n"
        "\r\n"
        "ok");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  HeaderList h;
  h.add("Connection", "keep-alive, X-Req-Hop");
  h.add("X-Req-Hop", "from-client");
  h.add("Keep-Alive", "timeout=5");
  h.add("Proxy-Connection", "keep-alive");
  h.add("TE", "trailers");
  h.add("Upgrade", "websocket");
  h.add("Trailer", "X-Checksum");
  h.add("X-Req-End", "kept");

  HttpResponse r = send_request(make_request("GET", "/hop", h));

  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(backend_.request_count(), 1u);
  const HeaderList up = backend_.requests()[0].headers;
  SCOPED_TRACE("upstream request headers:\n" + up.to_string() + "client response:\n" + r.describe());
  for (const char* name : {"X-Req-Hop", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade", "Trailer"})
    EXPECT_FALSE(up.has(name)) << name << " reached the backend";
  EXPECT_FALSE(has_token(up, "Connection", "X-Req-Hop")) << "the client's Connection header was forwarded";
  EXPECT_EQ(up.get("X-Req-End"), "kept");

  for (const char* name : {"X-Resp-Hop", "Proxy-Connection", "Upgrade", "Trailer"})
    EXPECT_FALSE(r.headers.has(name)) << name << " reached the client";
  EXPECT_NE(r.headers.get("Keep-Alive"), "timeout=99") << "the backend's Keep-Alive reached the client";
  EXPECT_FALSE(has_token(r.headers, "Connection", "X-Resp-Hop"))
      << "the backend's Connection header was relayed";
  EXPECT_EQ(r.headers.get("X-Resp-End"), "kept");
  EXPECT_EQ(r.body, "ok");
}

TEST_F(ProxyTest, ForwardingHeadersAreAddedBothWays) {
  backend_.set_handler([](const BackendRequest&, ResponseWriter& w) {
    HeaderList h;
    h.add("Via", "1.1 origin-server");
    w.respond(200, "ok", h);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  HeaderList h;
  h.add("Host", "api.example.test:8443");
  h.add("X-Forwarded-For", "203.0.113.7");

  HttpResponse r = send_request(make_request("GET", "/fwd", h));

  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(backend_.request_count(), 1u);
  const HeaderList up = backend_.requests()[0].headers;
  SCOPED_TRACE("upstream request headers:\n" + up.to_string() + "client response:\n" + r.describe());
  EXPECT_EQ(up.get_all("Host"), std::vector<std::string>{"api.example.test:8443"});
  auto xff = up.get_all("X-Forwarded-For");
  ASSERT_EQ(xff.size(), 1u);
  EXPECT_TRUE(std::regex_match(xff[0], std::regex(R"(203\.0\.113\.7\s*,\s*127\.0\.0\.1)"))) << xff[0];
  EXPECT_EQ(up.get_all("X-Forwarded-Proto"), std::vector<std::string>{"http"});
  EXPECT_EQ(up.get_all("X-Forwarded-Host"), std::vector<std::string>{"api.example.test:8443"});
  EXPECT_TRUE(has_token(up, "Via", "1.1 openrisk-cache"));
  EXPECT_TRUE(is_request_id(up.get("X-Request-ID"))) << "no generated X-Request-ID upstream";

  EXPECT_TRUE(has_token(r.headers, "Via", "1.1 openrisk-cache"));
  EXPECT_TRUE(has_token(r.headers, "Via", "1.1 origin-server")) << "the backend's Via entry was dropped";
  EXPECT_EQ(r.headers.get("X-Request-ID"), up.get("X-Request-ID"));
}

// RFC 9110 section 6.6.1: a response forwarded without a Date gets the time it was received, and so does one
// the proxy makes (an error); a backend's own Date is kept as it is.
TEST_F(ProxyTest, AResponseWithoutADateGetsOneAndTheBackendsIsKept) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    HeaderList h;
    if (req.target == "/dated") h.add("Date", "Sun, 06 Nov 1994 08:49:37 GMT");
    w.respond(200, "ok", h);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::regex imf_fixdate(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)");

  HttpResponse undated = send_request(make_request("GET", "/undated"));
  ASSERT_EQ(undated.status, 200) << undated.describe();
  ASSERT_EQ(undated.headers.count("Date"), 1u) << undated.describe();
  EXPECT_TRUE(std::regex_match(*undated.headers.get("Date"), imf_fixdate)) << undated.describe();

  HttpResponse dated = send_request(make_request("GET", "/dated"));
  EXPECT_EQ(dated.headers.get_all("Date"), std::vector<std::string>{"Sun, 06 Nov 1994 08:49:37 GMT"})
      << dated.describe();

  HttpResponse refused = send_request("GET /bad HTTP/1.1\r\nHost: test.local\r\nContent-Length: x\r\n\r\n");
  ASSERT_EQ(refused.status, 400) << refused.describe();
  ASSERT_EQ(refused.headers.count("Date"), 1u) << refused.describe();
  EXPECT_TRUE(std::regex_match(*refused.headers.get("Date"), imf_fixdate)) << refused.describe();
}

// RFC 9110 section 7.6.2: Max-Forwards on OPTIONS and TRACE goes on decremented, and at 0 the proxy answers
// as the final recipient without asking the backend. Other methods forward the field as it is.
TEST_F(ProxyTest, MaxForwardsIsDecrementedAndZeroIsAnsweredHere) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  auto with_max = [](const char* value) {
    HeaderList h;
    h.add("Max-Forwards", value);
    return h;
  };
  HttpResponse options = send_request(make_request("OPTIONS", "/api/v1/risks", with_max("0")));
  EXPECT_EQ(options.status, 200) << options.describe();
  EXPECT_EQ(options.headers.get("Allow"), "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
      << options.describe();
  HttpResponse trace = send_request(make_request("TRACE", "/api/v1/risks", with_max("0")));
  EXPECT_EQ(trace.status, 405) << trace.describe();
  EXPECT_TRUE(trace.headers.has("Allow")) << trace.describe();
  EXPECT_EQ(backend_.request_count(), 0u);

  HttpResponse forwarded = send_request(make_request("OPTIONS", "/api/v1/risks", with_max("5")));
  EXPECT_EQ(forwarded.status, 200) << forwarded.describe();
  HttpResponse get = send_request(make_request("GET", "/api/v1/risks", with_max("5")));
  EXPECT_EQ(get.status, 200) << get.describe();
  ASSERT_EQ(backend_.request_count(), 2u);
  EXPECT_EQ(backend_.requests()[0].headers.get_all("Max-Forwards"), std::vector<std::string>{"4"});
  EXPECT_EQ(backend_.requests()[1].headers.get_all("Max-Forwards"), std::vector<std::string>{"5"});
}

TEST_F(ProxyTest, ForwardedForStartsWithClientAddressWhenAbsent) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse r = send_request(make_request("GET", "/fwd"));

  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(backend_.request_count(), 1u);
  const HeaderList up = backend_.requests()[0].headers;
  EXPECT_EQ(up.get_all("X-Forwarded-For"), std::vector<std::string>{"127.0.0.1"}) << up.to_string();
  EXPECT_EQ(up.get("X-Forwarded-Host"), "test.local") << up.to_string();
}

TEST_F(ProxyTest, ForwardedProtoAndHostReplaceClientSuppliedValues) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  HeaderList h;
  h.add("Host", "real.example.test");
  h.add("X-Forwarded-Proto", "https");
  h.add("X-Forwarded-Host", "spoofed.example.test");

  HttpResponse r = send_request(make_request("GET", "/fwd", h));

  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(backend_.request_count(), 1u);
  const HeaderList up = backend_.requests()[0].headers;
  EXPECT_EQ(up.get_all("X-Forwarded-Proto"), std::vector<std::string>{"http"}) << up.to_string();
  EXPECT_EQ(up.get_all("X-Forwarded-Host"), std::vector<std::string>{"real.example.test"}) << up.to_string();
}

TEST_F(ProxyTest, ValidRequestIdIsPropagatedUnchanged) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string id = "0123456789abcdef0123456789abcdef";
  HeaderList h;
  h.add("X-Request-ID", id);

  HttpResponse r = send_request(make_request("GET", "/id", h));

  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(backend_.request_count(), 1u);
  EXPECT_EQ(backend_.requests()[0].headers.get_all("X-Request-ID"), std::vector<std::string>{id});
  EXPECT_EQ(r.headers.get("X-Request-ID"), id) << r.describe();
}

TEST_F(ProxyTest, InvalidRequestIdIsReplaced) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string bad = "<script>alert(1)</script> \"quoted\"";
  HeaderList h;
  h.add("X-Request-ID", bad);

  HttpResponse r = send_request(make_request("GET", "/id", h));

  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(backend_.request_count(), 1u);
  auto up = backend_.requests()[0].headers.get_all("X-Request-ID");
  ASSERT_EQ(up.size(), 1u) << backend_.requests()[0].headers.to_string();
  EXPECT_TRUE(is_request_id(up[0])) << up[0];
  EXPECT_EQ(r.headers.get("X-Request-ID"), up[0]) << r.describe();
}

TEST_F(ProxyTest, GeneratedRequestIdsDifferPerRequest) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse first = send_request(make_request("GET", "/a"));
  HttpResponse second = send_request(make_request("GET", "/b"));

  ASSERT_TRUE(first.ok() && second.ok()) << first.describe() << "\n" << second.describe();
  EXPECT_TRUE(is_request_id(first.headers.get("X-Request-ID"))) << first.describe();
  EXPECT_TRUE(is_request_id(second.headers.get("X-Request-ID"))) << second.describe();
  EXPECT_NE(first.headers.get("X-Request-ID"), second.headers.get("X-Request-ID"));
}

}  // namespace
}  // namespace orc::test
