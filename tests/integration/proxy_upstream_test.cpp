// Black-box tests of the upstream side: pooled connections that died (retried or not), a backend that
// refuses connections (502) and one that never answers (504).
#include <gtest/gtest.h>

#include "proxy_fixture.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

void answer_with_connection_id(const BackendRequest& req, ResponseWriter& w) {
  w.respond(200, "conn=" + std::to_string(req.connection_id));
}

TEST_F(ProxyTest, PooledConnectionClosedByBackendIsReplaced) {
  // The backend closes right after its first response without announcing it (no Connection: close).
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    answer_with_connection_id(req, w);
    if (req.connection_id == 1) w.close_connection();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse first = send_request(make_request("GET", "/one"));
  ASSERT_TRUE(first.ok()) << first.describe();
  ASSERT_EQ(first.status, 200) << first.describe();
  HttpResponse second = send_request(make_request("GET", "/two"));

  ASSERT_TRUE(second.ok()) << second.describe();
  EXPECT_EQ(second.status, 200) << second.describe();
  EXPECT_EQ(second.body, "conn=2");
}

TEST_F(ProxyTest, IdempotentRequestIsRetriedWhenPooledConnectionDiesBeforeResponse) {
  // The pooled connection looks alive until the second request is on it; then the backend closes it
  // without a response byte: the proxy must retry once on a fresh connection.
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.connection_id == 1 && req.index_on_connection == 1) {
      w.close_connection();
      return;
    }
    answer_with_connection_id(req, w);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse first = send_request(make_request("GET", "/one"));
  ASSERT_TRUE(first.ok()) << first.describe();
  ASSERT_EQ(first.body, "conn=1");
  ASSERT_TRUE(access_line(first));  // connection 1 is back in the pool: the next request will use it
  HttpResponse second = send_request(make_request("GET", "/two"));

  ASSERT_TRUE(second.ok()) << second.describe();
  EXPECT_EQ(second.status, 200) << second.describe();
  EXPECT_EQ(second.body, "conn=2");
  auto seen = backend_.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].target, "/two");
  EXPECT_EQ(seen[2].target, "/two");
  EXPECT_EQ(backend_.connections_accepted(), 2u);
}

TEST_F(ProxyTest, RequestWithBodyIsNotRetriedWhenPooledConnectionDies) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.connection_id == 1 && req.index_on_connection == 1) {
      w.close_connection();
      return;
    }
    answer_with_connection_id(req, w);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse first = send_request(make_request("GET", "/one"));
  ASSERT_TRUE(first.ok()) << first.describe();
  ASSERT_EQ(first.body, "conn=1");
  ASSERT_TRUE(access_line(first));  // connection 1 is back in the pool: the POST will use it
  HttpResponse second = send_request(make_request("POST", "/orders", {}, "{\"qty\":1}"));

  ASSERT_TRUE(second.ok()) << second.describe();
  EXPECT_GE(second.status, 500) << "a POST whose connection died was retried or answered\n"
                                << second.describe();
  EXPECT_EQ(backend_.request_count(), 2u) << "the POST reached the backend more than once";
}

TEST_F(ProxyTest, UpstreamConnectionRefusedGives502) {
  ProxyConfig cfg = config();
  cfg.upstream["url"] = "http://127.0.0.1:" + std::to_string(unused_port());
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));

  HttpResponse r = send_request(make_request("GET", "/down"));

  expect_json_error(r, 502);
}

TEST_F(ProxyTest, SilentUpstreamGives504AfterFirstByteTimeout) {
  bool release = false;  // never set: the backend stays silent until the test ends
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) {
    if (w.wait_until([&] { return release; }, deadline_in(60s))) w.respond(200, "too late");
  });
  ProxyConfig cfg = config();
  cfg.upstream["first_byte_timeout"] = "300ms";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));

  auto start = Clock::now();
  HttpResponse r = send_request(make_request("GET", "/silent"));
  auto elapsed = Clock::now() - start;

  expect_json_error(r, 504);
  EXPECT_GE(elapsed, 300ms) << "the 504 came before first_byte_timeout";
  EXPECT_EQ(backend_.request_count(), 1u);
}

}  // namespace
}  // namespace orc::test
