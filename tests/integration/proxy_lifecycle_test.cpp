// Black-box tests of the daemon's life and logs: graceful shutdown on SIGTERM/SIGINT, config errors with
// their position, and the access log (query redaction, text and JSON formats).
#include <gtest/gtest.h>

#include <signal.h>

#include <sstream>

#include "proxy_fixture.hpp"
#include "support/json_check.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

TEST_F(ProxyTest, SigtermLetsInFlightRequestFinishThenExitsZero) {
  bool release = false;
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) {
    if (w.wait_until([&] { return release; }, deadline_in(30s))) w.respond(200, "finished after shutdown");
  });
  ProxyConfig cfg = config();
  cfg.timeouts["drain"] = "20s";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  ASSERT_TRUE(client.send(make_request("GET", "/slow")));
  ASSERT_TRUE(backend_.wait_for_requests(1)) << "the request never reached the backend";

  ASSERT_TRUE(daemon_->send_signal(SIGTERM));
  ASSERT_TRUE(daemon_->wait_for_log("shutdown requested")) << "no 'shutdown requested' after SIGTERM";
  EXPECT_TRUE(daemon_->running()) << "the daemon exited with a request in flight";
  backend_.update([&] { release = true; });
  HttpResponse r = client.read_response();

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.body, "finished after shutdown");
  client.socket().close();  // else the daemon's lingering close waits for this idle connection
  auto status = daemon_->wait_exit(deadline_in(15s));
  ASSERT_TRUE(status.has_value()) << "the daemon did not exit after its last request finished";
  EXPECT_TRUE(status->success()) << status->describe();
}

TEST_F(ProxyTest, AtTheDrainDeadlineInFlightRequestsEndAndEveryCoroutineUnwinds) {
  // The backend never answers; the drain timeout is short and the backend timeouts long, so only the drain
  // deadline can end the two requests in flight (on two worker threads).
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) {
    w.wait_until([] { return false; }, deadline_in(60s));  // ends when the backend stops
  });
  ProxyConfig cfg = config();
  cfg.threads = 2;
  cfg.timeouts["drain"] = "1s";
  cfg.upstream["first_byte_timeout"] = "60s";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));
  RawClient a(port()), b(port());
  ASSERT_TRUE(a.connected() && b.connected());
  ASSERT_TRUE(a.send(make_request("GET", "/hangs/a")));
  ASSERT_TRUE(b.send(make_request("GET", "/hangs/b")));
  ASSERT_TRUE(backend_.wait_for_requests(2)) << "the requests never reached the backend";

  ASSERT_TRUE(daemon_->send_signal(SIGTERM));
  EXPECT_TRUE(daemon_->wait_for_log("drain timeout", deadline_in(10s))) << daemon_->stderr_text();
  // Closed without a response: the request could not finish.
  HttpResponse ra = a.read_response();
  HttpResponse rb = b.read_response();
  EXPECT_FALSE(ra.ok()) << ra.describe();
  EXPECT_FALSE(rb.ok()) << rb.describe();
  auto status = daemon_->wait_exit(deadline_in(20s));
  ASSERT_TRUE(status.has_value()) << "the daemon did not exit after the drain timeout";
  EXPECT_TRUE(status->success()) << status->describe() << "\n" << daemon_->stderr_text();
  // They ended by unwinding, not by a stopped context destroying their frames.
  const std::string log = daemon_->stderr_text();
  EXPECT_NE(log.find("every request ended after the drain timeout"), std::string::npos) << log;
  EXPECT_EQ(log.find("stopping the workers"), std::string::npos) << log;
}

TEST_F(ProxyTest, SigintShutsDownIdleDaemonWithStatusZero) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  ASSERT_TRUE(daemon_->send_signal(SIGINT));

  EXPECT_TRUE(daemon_->wait_for_log("shutdown requested")) << "no 'shutdown requested' after SIGINT";
  auto status = daemon_->wait_exit();
  ASSERT_TRUE(status.has_value()) << "the daemon did not exit after SIGINT";
  EXPECT_TRUE(status->success()) << status->describe();
}

// The start-up line names the allocator: jemalloc with its version when the build linked it (CMake's
// ORC_JEMALLOC, on outside sanitizer builds), the C library's malloc otherwise.
TEST_F(ProxyTest, StartUpLineNamesTheAllocator) {
  ASSERT_NO_FATAL_FAILURE(start_proxy(config()));
#if defined(ORC_DAEMON_JEMALLOC)
  EXPECT_TRUE(daemon_->wait_for_log("listening on .*, allocator jemalloc [0-9]+\\.[0-9]+"));
#else
  EXPECT_TRUE(daemon_->wait_for_log("listening on .*, allocator (glibc|libc) malloc$"));
#endif
}

TEST_F(ProxyTest, UnknownConfigKeyFailsWithPositionAndSuggestion) {
  daemon_ = std::make_unique<DaemonProcess>(daemon_path(), "threads: 1\nlistn: 127.0.0.1:0\n");

  auto status = daemon_->wait_exit();

  ASSERT_TRUE(status.has_value()) << "the daemon kept running with a bad config";
  EXPECT_FALSE(status->success()) << status->describe();
  const std::string err = daemon_->stderr_text();
  EXPECT_NE(err.find(daemon_->config_path() + ":2:1: error:"), std::string::npos) << err;
  EXPECT_NE(err.find("did you mean 'listen'"), std::string::npos) << err;
  EXPECT_EQ(err.find("listening on"), std::string::npos) << err;
}

TEST_F(ProxyTest, BadConfigValueFailsWithItsPosition) {
  daemon_ = std::make_unique<DaemonProcess>(daemon_path(),
                                            "listen: 127.0.0.1:0\n"
                                            "upstream:\n"
                                            "  url: http://127.0.0.1:1\n"
                                            "  connect_timeout: soon\n");

  auto status = daemon_->wait_exit();

  ASSERT_TRUE(status.has_value()) << "the daemon kept running with a bad config";
  EXPECT_FALSE(status->success()) << status->describe();
  const std::string err = daemon_->stderr_text();
  EXPECT_NE(err.find(daemon_->config_path() + ":4:20: error:"), std::string::npos) << err;
  EXPECT_NE(err.find("connect_timeout"), std::string::npos) << err;
  EXPECT_EQ(err.find("listening on"), std::string::npos) << err;
}

TEST_F(ProxyTest, AccessLogRedactsQueryValues) {
  ProxyConfig cfg = config();
  cfg.logging["access_log"] = "true";
  cfg.logging["redact_query"] = "[token]";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));

  HttpResponse r = send_request(make_request("GET", "/x?token=secret&a=1"));

  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(r.status, 200) << r.describe();
  auto line = access_line(r);
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->line.find("GET /x?token=REDACTED&a=1 200"), std::string::npos) << line->line;
  EXPECT_EQ(daemon_->stderr_text().find("secret"), std::string::npos) << "the token value was logged";
  ASSERT_EQ(backend_.request_count(), 1u);
  EXPECT_EQ(backend_.requests()[0].target, "/x?token=secret&a=1") << "redaction must only affect the log";
}

TEST_F(ProxyTest, AccessLogCoversRequestsRejectedByTheProxy) {
  ProxyConfig cfg = config();
  cfg.limits["request_body"] = "1KiB";
  cfg.logging["redact_query"] = "[token]";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));

  HttpResponse r = send_request(make_request("POST", "/upload?token=secret", {}, std::string(2048, 'b')));

  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(r.status, 413) << r.describe();
  auto line = access_line(r);
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->line.find("POST /upload?token=REDACTED 413"), std::string::npos)
      << "the access line lacks method, redacted path or status: " << line->line;
  EXPECT_EQ(daemon_->stderr_text().find("secret"), std::string::npos) << "the token value was logged";
}

TEST_F(ProxyTest, JsonLogFormatWritesOneObjectPerLine) {
  ProxyConfig cfg = config();
  cfg.logging["format"] = "json";
  cfg.logging["redact_query"] = "[token]";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));

  HttpResponse r = send_request(make_request("GET", "/json?token=secret&a=1"));

  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(daemon_->wait_for_log("token=REDACTED")) << "no access log line with the redacted target";
  // Raw bytes that are not UTF-8 in the target (and a well-formed "é"): the lines stay JSON, which is UTF-8
  // (is_json_object parses with Boost.JSON, which refuses invalid UTF-8).
  HttpResponse raw = send_request(make_request("GET", "/caf\xc3\xa9/\xff\xfe"));
  EXPECT_TRUE(raw.ok()) << raw.describe();
  ASSERT_TRUE(daemon_->wait_for_log(R"(\\u00ff\\u00fe)")) << "no log line with the raw bytes escaped";
  const std::string err = daemon_->stderr_text();
  EXPECT_EQ(err.find("secret"), std::string::npos) << "the token value was logged";
  std::istringstream lines(err);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    ++count;
    std::string error;
    EXPECT_TRUE(is_json_object(line, &error)) << error << ": " << line;
  }
  EXPECT_GE(count, 2) << "expected at least the listening line and the access line";
}

}  // namespace
}  // namespace orc::test
