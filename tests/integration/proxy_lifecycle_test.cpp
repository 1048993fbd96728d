// Black-box tests of the daemon's life and logs: graceful shutdown on SIGTERM/SIGINT, config errors with
// their position, and the access log (query redaction, text and JSON formats).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

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
  // Logged as cut by the shutdown, not as the backend's failure.
  EXPECT_NE(log.find("GET /hangs/a: cut by the shutdown"), std::string::npos) << log;
  EXPECT_NE(log.find("GET /hangs/b: cut by the shutdown"), std::string::npos) << log;
  EXPECT_FALSE(daemon_->wait_for_log("upstream .* failed", Clock::now())) << "a backend failure was logged\n"
                                                                          << log;
  EXPECT_NE(log.find("GET /hangs/a 502 0 "), std::string::npos) << log;
  EXPECT_NE(log.find("outcome=shutdown"), std::string::npos) << log;
  EXPECT_EQ(log.find("outcome=upstream_error"), std::string::npos) << log;
}

TEST_F(ProxyTest, SigintShutsDownIdleDaemonWithStatusZero) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  ASSERT_TRUE(daemon_->send_signal(SIGINT));

  EXPECT_TRUE(daemon_->wait_for_log("shutdown requested")) << "no 'shutdown requested' after SIGINT";
  auto status = daemon_->wait_exit();
  ASSERT_TRUE(status.has_value()) << "the daemon did not exit after SIGINT";
  EXPECT_TRUE(status->success()) << status->describe();
}

// A TCP port that accepts connections and never answers: a sentinel the daemon waits on at start (for up to
// redis.connect_timeout), which holds it between the start of serve() and the handlers of its signals.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() {
    for (int c : accepted_) ::close(c);
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  // Waits for a connection (accepted and then left alone); false after `timeout`.
  bool wait_connection(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return false;
    accepted_.push_back(c);
    return true;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> accepted_;
};

// A port already taken: the daemon says so in the system's words (no source location of the library) and
// exits 1.
TEST_F(ProxyTest, AListenPortInUseIsOneClearLineAndExitOne) {
  SilentListener taken;
  ProxyConfig cfg = config();
  cfg.listen = "127.0.0.1:" + std::to_string(taken.port());
  DaemonProcess daemon(daemon_path(), cfg.to_yaml());
  auto status = daemon.wait_exit();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited && status->code == 1) << status->describe();
  const std::string log = daemon.stderr_text();
  EXPECT_NE(
      log.find("cannot listen on 127.0.0.1:" + std::to_string(taken.port()) + ": Address already in use\n"),
      std::string::npos)
      << log;
  EXPECT_EQ(log.find(".hpp"), std::string::npos) << log;
}

// A signal sent while the daemon starts (systemd's `reload` right after its start) waits for its handler: a
// SIGHUP is a reload once the daemon listens, a SIGTERM a graceful stop with status 0. Each is sent while
// the daemon waits on a silent sentinel at start.
TEST_F(ProxyTest, SignalsSentDuringTheStartAreHandledOnceItListens) {
  for (int signo : {SIGHUP, SIGTERM}) {
    SCOPED_TRACE(signo == SIGHUP ? "SIGHUP" : "SIGTERM");
    SilentListener sentinel;
    const std::string yaml =
        config().to_yaml() +
        "redis: { url: \"redis://127.0.0.1:1/0\", connect_timeout: 3s, sentinel: { master: m, "
        "nodes: [\"127.0.0.1:" +
        std::to_string(sentinel.port()) + "\"] } }\n";
    DaemonProcess daemon(daemon_path(), yaml);
    ASSERT_TRUE(sentinel.wait_connection(10s)) << daemon.stderr_text();
    // Still starting (held by the sentinel for 3 s): else the signal would meet the handler and prove
    // nothing.
    ASSERT_FALSE(daemon.wait_for_log("listening on", Clock::now())) << daemon.stderr_text();
    ASSERT_TRUE(daemon.send_signal(signo));
    if (signo == SIGHUP) {
      EXPECT_TRUE(daemon.wait_listening()) << daemon.stderr_text();
      EXPECT_TRUE(daemon.wait_for_log("SIGHUP received: reloading")) << daemon.stderr_text();
      EXPECT_TRUE(daemon.running());
      ASSERT_TRUE(daemon.send_signal(SIGTERM));
    } else {
      EXPECT_TRUE(daemon.wait_for_log("shutdown requested \\(SIGTERM\\)")) << daemon.stderr_text();
    }
    auto status = daemon.wait_exit();
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->success()) << status->describe() << "\n" << daemon.stderr_text();
  }
}

// While the daemon drains, /readyz answers 503 with "draining" (a load balancer stops sending it connections)
// and the admin endpoints still answer, a purge or a reload with 503 (the workers are winding down); a second
// SIGTERM cuts the drain short, and the daemon exits 0.
TEST_F(ProxyTest, WhileDrainingReadyzIsNotReadyAndASecondSigtermStopsAtOnce) {
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) {
    w.wait_until([] { return false; }, deadline_in(60s));  // ends when the backend stops
  });
  ProxyConfig cfg = config();
  cfg.timeouts["drain"] = "60s";
  cfg.upstream["first_byte_timeout"] = "60s";
  daemon_ = std::make_unique<DaemonProcess>(
      daemon_path(), cfg.to_yaml() + "admin: { listen: 127.0.0.1:0, token: drain-test }\n");
  ASSERT_TRUE(daemon_->wait_listening()) << daemon_->stderr_text();
  auto admin = daemon_->wait_for_log(R"(admin endpoints on 127\.0\.0\.1:(\d+))");
  ASSERT_TRUE(admin) << daemon_->stderr_text();
  const auto admin_port = static_cast<std::uint16_t>(std::stoi(admin->groups[1]));
  RawClient client(port());
  ASSERT_TRUE(client.send(make_request("GET", "/hangs")));
  ASSERT_TRUE(backend_.wait_for_requests(1));

  ASSERT_TRUE(daemon_->send_signal(SIGTERM));
  ASSERT_TRUE(daemon_->wait_for_log("shutdown requested")) << daemon_->stderr_text();
  auto admin_get = [&](std::string_view target) {
    return roundtrip(admin_port, make_request("GET", target));
  };
  HttpResponse ready = admin_get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.describe();
  EXPECT_NE(ready.body.find("\"draining\":true"), std::string::npos) << ready.describe();
  EXPECT_EQ(admin_get("/healthz").status, 200);
  EXPECT_EQ(admin_get("/metrics").status, 200);
  HeaderList token;
  token.add("Authorization", "Bearer drain-test");
  EXPECT_EQ(roundtrip(admin_port, make_request("POST", "/admin/purge", token, R"({"tags":["x"]})")).status,
            503);
  EXPECT_EQ(roundtrip(admin_port, make_request("POST", "/admin/reload", token)).status, 503);
  EXPECT_TRUE(daemon_->running()) << "the drain lasts 60 s";

  ASSERT_TRUE(daemon_->send_signal(SIGTERM));
  EXPECT_TRUE(daemon_->wait_for_log("drain cut short by a second signal")) << daemon_->stderr_text();
  EXPECT_FALSE(client.read_response().ok());
  auto status = daemon_->wait_exit(deadline_in(20s));
  ASSERT_TRUE(status.has_value()) << "the second SIGTERM did not stop the daemon";
  EXPECT_TRUE(status->success()) << status->describe();
}

// At limits.max_connections the proxy closes each new connection at once: every refusal is counted in
// openrisk_cache_connections_refused_total, and a flood of them is one warning line, not one per refusal.
TEST_F(ProxyTest, RefusedConnectionsAreCountedAndLoggedOnce) {
  backend_.set_handler([](const BackendRequest&, ResponseWriter& w) { w.respond(200, "ok"); });
  ProxyConfig cfg = config();
  cfg.limits["max_connections"] = "2";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));
  auto admin = daemon_->wait_for_log(R"(admin endpoints on 127\.0\.0\.1:(\d+))");
  ASSERT_TRUE(admin);
  const auto admin_port = static_cast<std::uint16_t>(std::stoi(admin->groups[1]));
  auto refused = [&] {
    return metric_sample(roundtrip(admin_port, make_request("GET", "/metrics")).body,
                         "openrisk_cache_connections_refused_total");
  };
  EXPECT_EQ(refused(), 0.0);

  auto held = std::make_unique<RawClient>(port()), held2 = std::make_unique<RawClient>(port());
  ASSERT_TRUE(held->send(make_request("GET", "/one")));
  ASSERT_TRUE(held->read_response().ok());
  ASSERT_TRUE(held2->send(make_request("GET", "/two")));
  ASSERT_TRUE(held2->read_response().ok());
  for (int i = 0; i < 5; ++i) {
    RawClient over(port());
    over.send(make_request("GET", "/over"));
    EXPECT_FALSE(over.read_response().ok()) << "connection " << i << " over the limit was served";
  }
  EXPECT_TRUE(poll_until([&] { return refused() == 5.0; }, deadline_in(10s))) << refused().value_or(-1);

  held.reset();
  held2.reset();
  EXPECT_TRUE(poll_until(
      [&] {
        RawClient again(port());
        return again.send(make_request("GET", "/again")) && again.read_response().ok();
      },
      deadline_in(10s)))
      << "no connection served once the held ones closed";
  // Every refusal's line, had there been one each, came before the access line of that later request.
  ASSERT_TRUE(daemon_->wait_for_log("GET /again 200")) << daemon_->stderr_text();
  const std::string log = daemon_->stderr_text();
  std::size_t lines = 0;
  for (auto at = log.find("connection limit (2) reached"); at != std::string::npos;
       at = log.find("connection limit (2) reached", at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << log;
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

// A head that never ends: at timeouts.client_header the connection closes (Beast closes the socket, so no
// 408 can be written, as with nginx). The access line records 408 with 0 bytes sent, and the info line says
// why under the same request id.
TEST_F(ProxyTest, AHeadThatNeverEndsIsClosedAndLoggedUnderOneRequestId) {
  ProxyConfig cfg = config();
  cfg.timeouts["client_header"] = "300ms";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));
  RawClient client(port());
  ASSERT_TRUE(client.send("GET /slow HTTP/1.1\r\nHost: test.local\r\n"));
  EXPECT_FALSE(client.read_response().ok()) << "closed without an answer";
  auto why = daemon_->wait_for_log(R"(rejected request ([0-9a-f]{32}) from 127\.0\.0\.1: request timeout)");
  ASSERT_TRUE(why) << daemon_->stderr_text();
  auto access = daemon_->wait_for_log(" 408 0 .*id=" + why->groups[1]);
  EXPECT_TRUE(access) << daemon_->stderr_text();
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
