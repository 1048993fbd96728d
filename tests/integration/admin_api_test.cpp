// Black-box tests of the admin listener: health, metrics, the token gate, purge by tag / rule and path /
// URL (the next read is a MISS), reload (a broken file keeps the old rules and reports its errors), and a
// stalled worker (reported by /readyz, passed over by new connections, never waited for by /metrics).
#include <gtest/gtest.h>

#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>
#include <tuple>

#include "integration/proxy_fixture.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "admin-test-token";

// The task id of the thread of process `pid` named `name` (/proc/<pid>/task/<tid>/comm); 0 when none is.
pid_t thread_named(pid_t pid, const std::string& name) {
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string n;
    if (std::getline(comm, n) && n == name) return static_cast<pid_t>(std::stol(task.path().filename()));
  }
  return 0;
}

// One thread of a child process stopped under ptrace (PTRACE_SEIZE and PTRACE_INTERRUPT stop that thread
// alone; the process's other threads run on), as a thread stuck in a blocking call would be. Resumed when
// this goes.
class StoppedThread {
 public:
  explicit StoppedThread(pid_t tid) : tid_(tid) {}
  ~StoppedThread() {
    if (seized_) ::ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
  }
  StoppedThread(const StoppedThread&) = delete;
  StoppedThread& operator=(const StoppedThread&) = delete;

  // Empty once the thread is stopped; otherwise why not (ptrace may be forbidden where the tests run).
  std::string stop() {
    if (::ptrace(PTRACE_SEIZE, tid_, nullptr, nullptr) != 0)
      return std::string("PTRACE_SEIZE: ") + std::strerror(errno);
    seized_ = true;
    if (::ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0)
      return std::string("PTRACE_INTERRUPT: ") + std::strerror(errno);
    int status = 0;
    if (::waitpid(tid_, &status, __WALL) != tid_ || !WIFSTOPPED(status)) return "the thread did not stop";
    return "";
  }

 private:
  pid_t tid_;
  bool seized_ = false;
};

// A cached route on the scriptable backend: every response carries a counter so a MISS is visible.
class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_.set_handler([this](const BackendRequest&, ResponseWriter& w) {
      int n = ++served_;
      w.respond(200, "{\"n\":" + std::to_string(n) + "}", HeaderList{{{"Content-Type", "application/json"}}});
    });
  }

  std::string config(bool with_token, const std::string& ttl = "5m") const {
    std::string y = "listen: 127.0.0.1:0\nthreads: " + std::to_string(threads_) +
                    "\nupstream: { url: " + backend_.url() + " }\n";
    if (!logging_.empty()) y += "logging: " + logging_ + "\n";
    if (case_insensitive_) y += "routing: { case_insensitive: true }\n";
    y += "identity: { jwt: { algorithm: HS256, secret: admin-test-jwt-secret } }\n";
    y += "admin:\n  listen: 127.0.0.1:0\n";
    if (with_token) y += std::string("  token: ") + kToken + "\n";
    y += "rules:\n"
         "  - name: items\n"
         "    match: { method: GET, path: \"/items/:id\" }\n"
         "    cache: { ttl: " +
         ttl +
         ", scope: public, tags: [\"item:{id}\"] }\n"
         "  - name: item-write\n"
         "    match: { method: PATCH, path: \"/items/:id\" }\n"
         "    invalidate: [\"item:{id}\", { tag: \"item:{answer.parent}\", fallback: \"item:{id}\" }]\n" +
         std::string(host_rule_ ? "  - name: api-items\n"
                                  "    match: { method: GET, path: \"/api-items/:id\", host: api.example }\n"
                                  "    cache: { ttl: 5m, scope: public }\n"
                                : "") +
         "  - name: reports\n"
         "    match: { method: GET, path: /reports }\n"
         "    cache: { ttl: 1m, scope: tenant, permission: \"reports:read\" }\n";
    return y;
  }

  void start(bool with_token = true) {
    daemon_ = std::make_unique<DaemonProcess>(daemon_path(), config(with_token));
    ASSERT_TRUE(daemon_->wait_listening()) << daemon_->stderr_text();
    auto admin = daemon_->wait_for_log(R"(admin endpoints on 127\.0\.0\.1:(\d+))");
    ASSERT_TRUE(admin) << daemon_->stderr_text();
    admin_port_ = static_cast<std::uint16_t>(std::stoi(admin->groups[1]));
  }

  HttpResponse get(std::string_view target) {
    return roundtrip(daemon_->port(), make_request("GET", target));
  }
  HttpResponse admin(std::string_view method, std::string_view target, std::string_view body = "",
                     std::optional<std::string> token = kToken) {
    HeaderList h;
    if (token) h.add("Authorization", "Bearer " + *token);
    if (!body.empty()) h.add("Content-Type", "application/json");
    return roundtrip(admin_port_, make_request(method, target, h, body));
  }
  // Holds the daemon's stderr (a log collector that stopped reading) and calls `one(n)` (a request that logs
  // a line; it checks its answer, and returns a pattern of that line) until the log counts a dropped line:
  // far more lines than a pipe (64 KiB by default, at most 1 MiB) and the log's buffer hold. Then releases
  // stderr and calls `one` until its line is written: logging resumes (just after the release the buffer may
  // still be full, until the writer took the batch).
  void hold_stderr_until_a_line_drops(const std::function<std::string(int)>& one) {
    daemon_->hold_stderr(true);
    constexpr int kMax = 20000;
    int sent = 0;
    double dropped = 0;
    while (sent < kMax && dropped == 0 && !::testing::Test::HasFailure()) {
      for (int i = 0; i < 200; ++i) one(sent++);
      auto m = admin("GET", "/metrics", "", std::nullopt);
      ASSERT_EQ(m.status, 200) << m.describe();
      dropped = metric_sample(m.body, "openrisk_cache_access_log_dropped_total").value_or(-1);
      ASSERT_GE(dropped, 0) << m.body;
    }
    EXPECT_GT(dropped, 0) << "no line dropped after " << sent << " requests with stderr held";
    daemon_->hold_stderr(false);
    const std::size_t from = daemon_->stderr_size();
    bool written = false;
    for (int i = 0; i < 50 && !written; ++i)
      written = daemon_->wait_for_log(one(sent++), deadline_in(1s), from).has_value();
    EXPECT_TRUE(written) << "no line written after stderr was read again";
  }
  // Prime /items/<id>: a MISS, then a HIT with the same body.
  void prime(const std::string& id) {
    auto first = get("/items/" + id);
    ASSERT_EQ(first.status, 200);
    ASSERT_EQ(first.headers.get("X-Cache"), "MISS");
    auto second = get("/items/" + id);
    ASSERT_EQ(second.headers.get("X-Cache"), "HIT");
    ASSERT_EQ(second.body, first.body);
  }

  TestBackend backend_;
  std::atomic<int> served_{0};
  std::string logging_;            // the logging section, when the test sets one
  bool case_insensitive_ = false;  // routing.case_insensitive
  bool host_rule_ = false;         // a cached rule for GET /api-items/:id on Host api.example only
  int threads_ = 1;
  std::unique_ptr<DaemonProcess> daemon_;
  std::uint16_t admin_port_ = 0;
};

TEST_F(AdminApiTest, HealthAndMetricsNeedNoToken) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto health = admin("GET", "/healthz", "", std::nullopt);
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("\"ok\""), std::string::npos);
  auto ready = admin("GET", "/readyz", "", std::nullopt);
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(ready.body.find("\"backend\":\"up\""), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("\"workers_stalled\":0"), std::string::npos) << ready.body;

  ASSERT_NO_FATAL_FAILURE(prime("1"));
  // A request is counted just before its access line is written: wait for the line, then scrape.
  ASSERT_TRUE(daemon_->wait_for_log("rule=items cache=hit"));
  auto metrics = admin("GET", "/metrics", "", std::nullopt);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find(R"(openrisk_cache_requests_total{method="GET",result="hit",rule="items"} 1)"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find(R"(openrisk_cache_requests_total{method="GET",result="miss",rule="items"} 1)"),
            std::string::npos);
}

// A request the proxy refuses itself (a malformed head) is counted as `rejected`, not as `error`, which is
// the proxy's own 502 / 504 (found by a probe: client garbage showed as proxy failures).
TEST_F(AdminApiTest, ARefusedRequestIsCountedRejectedNotError) {
  logging_ = "{ access_log: true }";
  ASSERT_NO_FATAL_FAILURE(start());
  HttpResponse r = roundtrip(daemon_->port(), "GET /items/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.describe();
  ASSERT_TRUE(r.headers.get("X-Request-ID")) << r.describe();
  ASSERT_TRUE(daemon_->wait_for_log("id=" + std::string(*r.headers.get("X-Request-ID"))))
      << daemon_->stderr_text();
  auto metrics = admin("GET", "/metrics", "", std::nullopt);
  EXPECT_NE(
      metrics.body.find(R"(openrisk_cache_requests_total{method="GET",result="rejected",rule="none"} 1)"),
      std::string::npos)
      << metrics.body;
  EXPECT_EQ(metrics.body.find(R"(result="error",rule="none"} 1)"), std::string::npos) << metrics.body;
}

// The admin listener's read buffer is bounded: a chunked request's 64 KiB trailer field gets 400 rather than
// an exception out of the admin thread's event loop, and the endpoints answer on.
TEST_F(AdminApiTest, AnOversizedTrailerGets400AndTheAdminEndpointsAnswerOn) {
  ASSERT_NO_FATAL_FAILURE(start());
  RawClient client(admin_port_);
  ASSERT_TRUE(client.connected()) << client.error();
  const std::string request =
      "POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\nX: " +
      std::string(65535, 'y') + "\r\n\r\n";
  std::thread sender([&] { client.send(request); });  // may fail once the listener closes
  HttpResponse r = client.read_response();
  sender.join();
  // The listener closes with the rest of the request unread: the reset may beat its 400 to the client.
  EXPECT_TRUE(!r.ok() || r.status == 400) << r.describe();
  auto health = admin("GET", "/healthz", "", std::nullopt);
  EXPECT_EQ(health.status, 200) << daemon_->stderr_text();
  EXPECT_EQ(daemon_->stderr_text().find("[critical]"), std::string::npos) << daemon_->stderr_text();
}

// The process_* series every Prometheus client exports, as this daemon's /proc says.
TEST_F(AdminApiTest, TheProcessSeriesAreTheDaemons) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto body = admin("GET", "/metrics", "", std::nullopt).body;
  auto rss = metric_sample(body, "process_resident_memory_bytes");
  auto fds = metric_sample(body, "process_open_fds");
  auto max_fds = metric_sample(body, "process_max_fds");
  auto start = metric_sample(body, "process_start_time_seconds");
  ASSERT_TRUE(rss && fds && max_fds && start) << body;
  EXPECT_GT(*rss, 1e6);
  EXPECT_LT(*rss, 4e9);
  EXPECT_GE(*metric_sample(body, "process_virtual_memory_bytes"), *rss);
  std::size_t own = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(daemon_->pid()) + "/fd"))
    own += 1;
  EXPECT_NEAR(*fds, static_cast<double>(own), 4.0) << "the daemon's descriptors, not the test's";
  EXPECT_GE(*max_fds, *fds);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(*start, now + 1);
  EXPECT_GT(*start, now - 600) << "started during this test";
  EXPECT_GE(metric_sample(body, "process_cpu_seconds_total").value_or(-1), 0.0);
}

// The access log is written by a thread of its own from a bounded buffer: a stderr nobody reads (a stuck log
// collector) fills the pipe, then the buffer, and from then on access lines are dropped and counted, while
// requests and the admin endpoints go on being answered. A synchronous access log would stop every worker
// at the first line the full pipe refuses.
TEST_F(AdminApiTest, AStuckStderrDropsAccessLinesButNeverStallsARequest) {
  logging_ = "{ access_log: true, access_log_buffer: 64KiB }";
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("1"));
  // Each access line is about 150 bytes.
  hold_stderr_until_a_line_drops([&](int sent) {
    auto r = get("/items/1?n=" + std::to_string(sent));
    EXPECT_EQ(r.status, 200) << "request " << sent << " with stderr held: " << r.describe();
    return "GET /items/1\\?n=" + std::to_string(sent) + " 200";
  });
}

// The daemon's other lines (info, warnings) take the access lines' way: a stuck stderr never stalls a worker
// that logs one. Found by a probe: each aborted write logs a line from its worker, written at once, so once
// the pipe was full the first such line stopped the worker, and every request it held timed out.
TEST_F(AdminApiTest, AStuckStderrNeverStallsAWorkerThatLogs) {
  logging_ = "{ access_log: false, access_log_buffer: 64KiB }";
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("1"));
  // Each aborted write logs an info line of about 150 bytes, and a hit after it must be served.
  hold_stderr_until_a_line_drops([&](int sent) {
    RawClient client(daemon_->port());
    EXPECT_TRUE(
        client.send("PATCH /items/1 HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100\r\n\r\n{\"a\""));
    client.shutdown_write();
    HttpResponse r = client.read_response();
    EXPECT_EQ(r.status, 400) << "aborted write " << sent << " with stderr held: " << r.describe();
    auto hit = get("/items/1");
    EXPECT_EQ(hit.status, 200) << "after " << sent << " aborted writes with stderr held: " << hit.describe();
    return "request " + std::string(r.headers.get("X-Request-ID").value_or("?")) +
           " .*while reading the body";
  });
}

TEST_F(AdminApiTest, ReadinessFailsWhenTheBackendIsDown) {
  // No backend behind this daemon: /readyz says so with 503, /healthz stays 200.
  std::string y = "listen: 127.0.0.1:0\nupstream: { url: http://127.0.0.1:" + std::to_string(unused_port()) +
                  ", connect_timeout: 500ms }\nadmin: { listen: 127.0.0.1:0 }\n";
  daemon_ = std::make_unique<DaemonProcess>(daemon_path(), y);
  ASSERT_TRUE(daemon_->wait_listening()) << daemon_->stderr_text();
  auto a = daemon_->wait_for_log(R"(admin endpoints on 127\.0\.0\.1:(\d+))");
  ASSERT_TRUE(a);
  admin_port_ = static_cast<std::uint16_t>(std::stoi(a->groups[1]));
  EXPECT_EQ(admin("GET", "/healthz", "", std::nullopt).status, 200);
  auto ready = admin("GET", "/readyz", "", std::nullopt);
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("\"backend\":\"down\""), std::string::npos) << ready.body;
}

TEST_F(AdminApiTest, AdminEndpointsNeedTheBearerToken) {
  ASSERT_NO_FATAL_FAILURE(start());
  for (auto [method, target] : {std::pair{"POST", "/admin/purge"}, std::pair{"POST", "/admin/reload"},
                                std::pair{"GET", "/admin/rules"}, std::pair{"GET", "/admin/verify"}}) {
    auto none = admin(method, target, "{\"tags\":[\"item:1\"]}", std::nullopt);
    EXPECT_EQ(none.status, 401) << target;
    EXPECT_EQ(none.headers.get("WWW-Authenticate"), "Bearer");
    auto wrong = admin(method, target, "{\"tags\":[\"item:1\"]}", std::string("not-the-token"));
    EXPECT_EQ(wrong.status, 401) << target;
  }
  EXPECT_TRUE(daemon_->wait_for_log("admin: POST /admin/purge refused"));
}

// A known path asked with another method is a 405 naming the methods it takes; an admin body over the limit
// a 413.
TEST_F(AdminApiTest, WrongMethodsAre405AndAnOversizedBodyA413) {
  ASSERT_NO_FATAL_FAILURE(start());
  for (auto [method, target, allow] :
       {std::tuple{"GET", "/admin/purge", "POST"}, std::tuple{"PUT", "/admin/reload", "POST"},
        std::tuple{"POST", "/admin/rules", "GET, HEAD"}, std::tuple{"DELETE", "/admin/verify", "GET, HEAD"},
        std::tuple{"POST", "/metrics", "GET, HEAD"}, std::tuple{"POST", "/readyz", "GET, HEAD"}}) {
    auto r = admin(method, target, "", std::string(kToken));
    EXPECT_EQ(r.status, 405) << method << " " << target;
    EXPECT_EQ(r.headers.get("Allow"), allow) << method << " " << target;
  }
  EXPECT_EQ(admin("GET", "/admin/nothing-here", "", std::string(kToken)).status, 404);
  auto big = admin("POST", "/admin/purge", R"({"tags":[")" + std::string(100 * 1024, 'x') + R"("]})");
  EXPECT_EQ(big.status, 413) << big.body;
}

TEST_F(AdminApiTest, AdminEndpointsAreOffWithoutAConfiguredToken) {
  ASSERT_NO_FATAL_FAILURE(start(/*with_token=*/false));
  auto r = admin("POST", "/admin/purge", "{\"tags\":[\"item:1\"]}", std::string(""));
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("admin endpoints are off"), std::string::npos) << r.body;
}

TEST_F(AdminApiTest, PurgeByTagRemovesTheEntry) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("1"));
  ASSERT_NO_FATAL_FAILURE(prime("2"));
  auto purge = admin("POST", "/admin/purge", R"({"tags":["item:1"]})");
  ASSERT_EQ(purge.status, 200) << purge.body;
  EXPECT_NE(purge.body.find(R"({"purged":true,"tags":["item:1"]})"), std::string::npos) << purge.body;
  EXPECT_EQ(get("/items/1").headers.get("X-Cache"), "MISS");
  EXPECT_EQ(get("/items/2").headers.get("X-Cache"), "HIT");  // another tag: untouched
  EXPECT_TRUE(daemon_->wait_for_log(R"(admin: purged the entries of \["item:1"\])"));
}

TEST_F(AdminApiTest, PurgeByRuleAndPathRemovesTheEntry) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("7"));
  auto wrong_rule = admin("POST", "/admin/purge", R"({"rule":"item-write","path":"/items/7"})");
  EXPECT_EQ(wrong_rule.status, 404) << wrong_rule.body;
  EXPECT_EQ(get("/items/7").headers.get("X-Cache"), "HIT");
  auto purge = admin("POST", "/admin/purge", R"({"rule":"items","path":"/items/7"})");
  ASSERT_EQ(purge.status, 200) << purge.body;
  EXPECT_EQ(get("/items/7").headers.get("X-Cache"), "MISS");
}

TEST_F(AdminApiTest, PurgeByUrlRemovesTheEntry) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("9"));
  auto purge = admin("POST", "/admin/purge", R"({"url":"http://api.example/items/9?x=1"})");
  ASSERT_EQ(purge.status, 200) << purge.body;
  EXPECT_NE(purge.body.find("uri:/items/9"), std::string::npos) << purge.body;
  EXPECT_EQ(get("/items/9").headers.get("X-Cache"), "MISS");
}

// With routing.case_insensitive a path in any case fills the entries of the rule's spelling: a purge by url
// or by rule and path in another case (copied from the access log, which logs the client's) purges those
// entries, not a tag no entry carries (found by a probe: 200 "purged", and the entry still a HIT).
TEST_F(AdminApiTest, PurgeByAPathInAnotherCaseRemovesTheEntriesOfTheRulesSpelling) {
  case_insensitive_ = true;
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("5"));
  EXPECT_EQ(get("/ITEMS/5").headers.get("X-Cache"), "HIT");
  auto by_url = admin("POST", "/admin/purge", R"({"url":"/ITEMS/5"})");
  ASSERT_EQ(by_url.status, 200) << by_url.body;
  EXPECT_NE(by_url.body.find("uri:/items/5"), std::string::npos) << by_url.body;
  EXPECT_EQ(get("/items/5").headers.get("X-Cache"), "MISS");
  EXPECT_EQ(get("/items/5").headers.get("X-Cache"), "HIT");
  auto by_rule = admin("POST", "/admin/purge", R"({"rule":"items","path":"/Items/5"})");
  ASSERT_EQ(by_rule.status, 200) << by_rule.body;
  EXPECT_EQ(get("/items/5").headers.get("X-Cache"), "MISS");
}

// The rule of a url is the one a request of it would match, its host included: a host-bound rule's entries
// are purged in its spelling too (review: the purge matched without a host, missed the rule, and purged the
// path as typed).
TEST_F(AdminApiTest, PurgeByUrlMatchesTheRuleOnTheUrlsHost) {
  case_insensitive_ = true;
  host_rule_ = true;
  ASSERT_NO_FATAL_FAILURE(start());
  const auto on_host = [&](const std::string& target) {
    return roundtrip(daemon_->port(), make_request("GET", target, HeaderList{{{"Host", "api.example"}}}));
  };
  ASSERT_EQ(on_host("/api-items/5").headers.get("X-Cache"), "MISS");
  ASSERT_EQ(on_host("/API-ITEMS/5").headers.get("X-Cache"), "HIT");
  auto purge = admin("POST", "/admin/purge", R"({"url":"http://api.example/API-ITEMS/5"})");
  ASSERT_EQ(purge.status, 200) << purge.body;
  EXPECT_NE(purge.body.find("uri:/api-items/5"), std::string::npos) << purge.body;
  EXPECT_EQ(on_host("/api-items/5").headers.get("X-Cache"), "MISS");
}

TEST_F(AdminApiTest, MalformedPurgeIsA400) {
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_EQ(admin("POST", "/admin/purge", "not json").status, 400);
  EXPECT_EQ(admin("POST", "/admin/purge", R"({"tags":"item:1"})").status, 400);
  EXPECT_EQ(admin("POST", "/admin/purge", R"({})").status, 400);
  // A url that is not a string, or not a URI reference: 400 in the JSON error shape, the connection kept.
  for (const char* body :
       {R"({"url":42})", R"({"path":["/items/1"]})", R"({"url":"/items/%zz"})", R"({"url":"http://h/a b"})",
        R"({"tags":["item:1"],"url":"/items/1"})", R"({"url":"/items/1","path":"/items/2"})",
        R"({"tags":["item:1"],"tag":"item:2"})"}) {
    auto r = admin("POST", "/admin/purge", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find("\"error\":true"), std::string::npos) << body << "\n" << r.body;
  }
}

// A tag from the backend's answer is listed with the tag purged when the answer lacks its field.
TEST_F(AdminApiTest, TheRulesListingShowsTheFallbackOfATagFromTheAnswer) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto rules = admin("GET", "/admin/rules");
  ASSERT_EQ(rules.status, 200);
  EXPECT_NE(
      rules.body.find(
          R"("tags":["item:{id}","item:{answer.parent}"],"fallbacks":{"item:{answer.parent}":"item:{id}"})"),
      std::string::npos)
      << rules.body;
  EXPECT_EQ(rules.body.find("\"fallbacks\""), rules.body.rfind("\"fallbacks\""))
      << "only the rule with such a tag";
}

// A rule shared by a permission lists it after its scope; the others list none.
TEST_F(AdminApiTest, TheRulesListingShowsTheRulesPermission) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto rules = admin("GET", "/admin/rules");
  ASSERT_EQ(rules.status, 200);
  EXPECT_NE(rules.body.find(R"("scope":"tenant","permission":"reports:read")"), std::string::npos)
      << rules.body;
  EXPECT_EQ(rules.body.find("\"permission\""), rules.body.rfind("\"permission\"")) << "only that rule";
}

TEST_F(AdminApiTest, ReloadWithABrokenFileKeepsTheOldRulesAndReportsTheErrors) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("1"));
  auto before = admin("GET", "/admin/rules");
  ASSERT_EQ(before.status, 200);
  EXPECT_NE(before.body.find("\"name\":\"items\""), std::string::npos) << before.body;

  {
    std::ofstream out(daemon_->config_path(), std::ios::trunc);
    out << config(true) << "  - name: broken\n    match: { path: /x }\n    cache: { ttl: soon }\n";
  }
  auto reload = admin("POST", "/admin/reload");
  EXPECT_EQ(reload.status, 422) << reload.body;
  EXPECT_NE(reload.body.find("\"ok\":false"), std::string::npos);
  EXPECT_NE(reload.body.find(":20:19: error: 'rules[3].cache.ttl'"), std::string::npos) << reload.body;
  EXPECT_TRUE(daemon_->wait_for_log("reload failed with 1 error"));
  // The old rules still serve: the entry is still a HIT, and the listing did not change.
  EXPECT_EQ(get("/items/1").headers.get("X-Cache"), "HIT");
  EXPECT_EQ(admin("GET", "/admin/rules").body, before.body);
  auto metrics = admin("GET", "/metrics", "", std::nullopt);
  EXPECT_NE(metrics.body.find(R"(openrisk_cache_config_reloads_total{outcome="error"} 1)"),
            std::string::npos);
}

// A setting read only at start (here the worker count) refuses the whole reload, naming it: the daemon never
// runs half of the new file.
TEST_F(AdminApiTest, ReloadChangingAStartOnlySettingIsRefusedAndNamesIt) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("1"));
  const auto before = admin("GET", "/admin/rules");
  {
    std::ofstream out(daemon_->config_path(), std::ios::trunc);
    std::string changed = config(true, "30s");
    changed.replace(changed.find("threads: 1"), 10, "threads: 2");
    out << changed;
  }
  auto reload = admin("POST", "/admin/reload");
  EXPECT_EQ(reload.status, 422) << reload.body;
  EXPECT_NE(reload.body.find("threads changed: read only at start"), std::string::npos) << reload.body;
  EXPECT_TRUE(daemon_->wait_for_log("reload refused"));
  EXPECT_EQ(admin("GET", "/admin/rules").body, before.body) << "the rest of the file (ttl 30s) was applied";
  EXPECT_EQ(get("/items/1").headers.get("X-Cache"), "HIT");
  auto metrics = admin("GET", "/metrics", "", std::nullopt);
  EXPECT_NE(metrics.body.find(R"(openrisk_cache_config_reloads_total{outcome="error"} 1)"),
            std::string::npos);
}

TEST_F(AdminApiTest, ReloadWithAGoodFileSwapsTheRules) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto before = admin("GET", "/admin/rules");
  {
    std::ofstream out(daemon_->config_path(), std::ios::trunc);
    out << config(true, "30s");
  }
  auto reload = admin("POST", "/admin/reload");
  EXPECT_EQ(reload.status, 200) << reload.body;
  auto after = admin("GET", "/admin/rules");
  EXPECT_NE(after.body.find("\"ttl\":\"30s\""), std::string::npos) << after.body;
  // The content hash follows the file.
  std::regex sha("\"sha256\":\"([0-9a-f]{64})\"");
  std::smatch a, b;
  ASSERT_TRUE(std::regex_search(before.body, b, sha));
  ASSERT_TRUE(std::regex_search(after.body, a, sha));
  EXPECT_NE(a[1].str(), b[1].str());
}

// A reload applies to requests that start after it, on connections opened before it too: a keep-alive
// connection that waited through the reload serves its next request under the new rules (found by a probe:
// it took the configuration from before its wait, one request late on every open connection, so a rule
// turned to `pass` or a rotated JWT key was not yet in force there).
TEST_F(AdminApiTest, AReloadAppliesToTheNextRequestOnAConnectionOpenedBeforeIt) {
  ASSERT_NO_FATAL_FAILURE(start());
  RawClient client(daemon_->port());
  ASSERT_TRUE(client.connected()) << client.error();
  for (const char* expected : {"MISS", "HIT"}) {
    ASSERT_TRUE(client.send(make_request("GET", "/items/1")));
    HttpResponse r = client.read_response();
    ASSERT_EQ(r.status, 200) << r.describe();
    ASSERT_EQ(r.headers.get("X-Cache"), expected) << r.describe();
  }
  std::string passing = config(true);
  const std::string cached = "cache: { ttl: 5m, scope: public, tags: [\"item:{id}\"] }";
  ASSERT_NE(passing.find(cached), std::string::npos) << passing;
  passing.replace(passing.find(cached), cached.size(), "pass: true");
  {
    std::ofstream out(daemon_->config_path(), std::ios::trunc);
    out << passing;
  }
  ASSERT_EQ(admin("POST", "/admin/reload").status, 200);
  ASSERT_TRUE(client.send(make_request("GET", "/items/1")));
  HttpResponse after = client.read_response();
  ASSERT_EQ(after.status, 200) << after.describe();
  EXPECT_NE(after.headers.get("X-Cache"), "HIT") << after.describe();
  EXPECT_EQ(after.body, "{\"n\":2}") << "not answered by the backend";
}

// A write whose client broke off in the middle of its body never reached the backend whole: it cannot have
// been applied, so nothing is purged (found by a probe: any anonymous client could empty the cache of every
// cached path by aborting writes to it).
TEST_F(AdminApiTest, AWriteWhoseBodyBrokeOffPurgesNothing) {
  logging_ = "{ access_log: true }";  // its line says the exchange, purge included, is over
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("1"));
  {
    RawClient client(daemon_->port());
    ASSERT_TRUE(client.connected()) << client.error();
    ASSERT_TRUE(
        client.send("PATCH /items/1 HTTP/1.1\r\nHost: test.local\r\nContent-Type: application/json\r\n"
                    "Content-Length: 100\r\n\r\n{\"a\""));
    client.shutdown_write();
    HttpResponse r = client.read_response();
    EXPECT_EQ(r.status, 400) << r.describe();
    ASSERT_TRUE(r.headers.get("X-Request-ID")) << r.describe();
    ASSERT_TRUE(daemon_->wait_for_log("id=" + std::string(*r.headers.get("X-Request-ID"))))
        << daemon_->stderr_text();
  }
  EXPECT_EQ(get("/items/1").headers.get("X-Cache"), "HIT") << daemon_->stderr_text();
}

// A write's answer is read ahead (its tags name an answer field): a backend that breaks off before the first
// byte of it (a bad first chunk size) gets the client a 502, as on any other path, not a 200 head and a cut
// (found by review).
TEST_F(AdminApiTest, AnAnswerReadAheadThatBreaksBeforeItsFirstByteGets502) {
  backend_.set_handler([](const BackendRequest&, ResponseWriter& w) {
    w.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    w.close_connection();
  });
  ASSERT_NO_FATAL_FAILURE(start());
  HttpResponse r = roundtrip(daemon_->port(), make_request("PATCH", "/items/1", {}, "{\"a\":1}"));
  expect_json_error(r, 502);
}

// cache.verify applies on reload: off at start (a hit reaches no backend), on after it. The backend's body
// carries a counter, so the verify of the next hit finds the entry stale and GET /admin/verify lists it.
TEST_F(AdminApiTest, ReloadTurnsVerifyModeOnAndAdminVerifyListsTheMismatch) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("1"));
  EXPECT_EQ(served_.load(), 1) << "verify is off by default";
  auto off = admin("GET", "/admin/verify");
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_NE(off.body.find("\"sample\":0"), std::string::npos) << off.body;
  EXPECT_NE(off.body.find("\"mismatches\":[]"), std::string::npos) << off.body;
  {
    std::ofstream out(daemon_->config_path(), std::ios::trunc);
    out << "cache: { verify: { sample: 1, keep: 5 } }\n" << config(true);
  }
  ASSERT_EQ(admin("POST", "/admin/reload").status, 200);
  auto hit = get("/items/1");
  ASSERT_EQ(hit.headers.get("X-Cache"), "HIT");
  EXPECT_EQ(hit.body, "{\"n\":1}");
  // The mismatch is logged once it is listed.
  ASSERT_TRUE(daemon_->wait_for_log("verify: rule 'items': the cached answer")) << daemon_->stderr_text();
  EXPECT_EQ(served_.load(), 2) << "one verify reached the backend";
  auto listing = admin("GET", "/admin/verify");
  ASSERT_EQ(listing.status, 200);
  EXPECT_NE(listing.body.find("\"sample\":1"), std::string::npos) << listing.body;
  EXPECT_NE(listing.body.find("\"rule\":\"items\""), std::string::npos) << listing.body;
  EXPECT_NE(listing.body.find("\"tag\":\"item:1\",\"last_purged\":null"), std::string::npos) << listing.body;
}

TEST_F(AdminApiTest, SighupWithABrokenFileKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("3"));
  {
    std::ofstream out(daemon_->config_path(), std::ios::trunc);
    out << "listen: [not, a, string]\n";
  }
  auto from = daemon_->stderr_size();
  ASSERT_TRUE(daemon_->send_signal(SIGHUP));
  EXPECT_TRUE(daemon_->wait_for_log("keeping the previous configuration", deadline_in(), from));
  EXPECT_EQ(get("/items/3").headers.get("X-Cache"), "HIT");
}

// Nothing the admin listener or the acceptor does waits for a worker: with worker 0's thread stopped (as a
// thread stuck in a blocking call is), /metrics answers, /readyz turns 503 with workers_stalled 1 once the
// loop has not turned for 10 s, new connections go to the worker that turns, and a purge runs there. Resumed,
// the worker is counted ready again.
TEST_F(AdminApiTest, AStoppedWorkerIsReportedAndPassedOver) {
  threads_ = 2;
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(prime("1"));
  // An exchange is counted when it ends, after the client has the response (and, for the miss, after its
  // store): wait until one is, so that the family is there before a worker stops (it could stop before it
  // counted its own).
  ASSERT_TRUE(poll_until([&] {
    return admin("GET", "/metrics", "", std::nullopt).body.find("openrisk_cache_requests_total") !=
           std::string::npos;
  })) << "no exchange was ever counted";
  pid_t tid = 0;
  ASSERT_TRUE(poll_until([&] { return (tid = thread_named(daemon_->pid(), "orc-worker-0")) != 0; }))
      << "no thread named orc-worker-0";
  auto stopped = std::make_unique<StoppedThread>(tid);
  if (auto why = stopped->stop(); !why.empty()) GTEST_SKIP() << "cannot stop a thread here: " << why;

  auto metrics = admin("GET", "/metrics", "", std::nullopt);
  EXPECT_EQ(metrics.status, 200) << metrics.describe();
  EXPECT_NE(metrics.body.find("openrisk_cache_requests_total"), std::string::npos);
  HttpResponse ready;
  EXPECT_TRUE(poll_until(
      [&] {
        ready = admin("GET", "/readyz", "", std::nullopt);
        return ready.status == 503;
      },
      deadline_in(30s)))
      << ready.describe();
  EXPECT_NE(ready.body.find("\"workers_stalled\":1"), std::string::npos) << ready.body;

  // Round robin would give every other connection to the stopped worker, which would never answer.
  for (int i = 0; i < 6; ++i) {
    auto r = get("/items/1");
    EXPECT_EQ(r.status, 200) << "connection " << i << "\n" << r.describe();
  }
  auto purge = admin("POST", "/admin/purge", R"({"tags":["item:1"]})");
  EXPECT_EQ(purge.status, 200) << purge.describe();
  EXPECT_EQ(get("/items/1").headers.get("X-Cache"), "MISS");

  stopped.reset();
  EXPECT_TRUE(poll_until([&] {
    ready = admin("GET", "/readyz", "", std::nullopt);
    return ready.status == 200;
  })) << ready.describe();
  EXPECT_NE(ready.body.find("\"workers_stalled\":0"), std::string::npos) << ready.body;
}

}  // namespace
}  // namespace orc::test
