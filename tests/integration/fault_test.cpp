// Fault integration tests with real processes: Redis killed or made slow under load, the backend killed or
// hanging, clients that vanish mid-response, never read, drip their headers or just sit idle by the
// thousand. Every wait is bounded; timing bounds carry a generous slack (the suite also runs under
// sanitizers).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache_fixture.hpp"
#include "proxy_fixture.hpp"
#include "support/load_loop.hpp"
#include "support/proc_stats.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

// What every request of a load loop must be: a complete 200.
std::optional<std::string> not_ok(const HttpResponse& r) {
  if (r.ok() && r.status == 200) return std::nullopt;
  return r.ok() ? "status " + std::to_string(r.status) + "\n" + r.describe() : "error: " + r.error;
}

// ---- Redis and the simulator as real processes
// ------------------------------------------------------------

class FaultTest : public CacheTest {
 protected:
  void SetUp() override {
    ASSERT_NO_THROW(start_sim());
    ASSERT_NO_THROW(start_redis());
    token_ = sim_login(sim_port(), "admin@acme.test");
    auto ids = sim_sample_risks(sim_port(), 0);
    ASSERT_GE(ids.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) targets_.push_back("/api/v1/risks/" + ids[i]);
  }

  // Load threads reading targets_ with token_, counting what X-Cache said.
  LoadLoop::Request reader() {
    return [this](std::size_t thread, std::size_t n) {
      HttpResponse r = http(proxy_port(), "GET", targets_[(thread + n) % targets_.size()], bearer(token_));
      const std::string cache = x_cache(r);
      if (cache == "HIT") ++hits_;
      if (cache == "BYPASS") ++bypasses_;
      return not_ok(r);
    };
  }

  // True once `n` more HITs than now were counted (by the load threads) before the deadline.
  bool hits_resume(std::size_t n, Deadline deadline) {
    const std::size_t from = hits_.load();
    return poll_until([&] { return hits_.load() >= from + n; }, deadline);
  }

  std::string token_;
  std::vector<std::string> targets_;
  std::atomic<std::size_t> hits_{0};
  std::atomic<std::size_t> bypasses_{0};
};

TEST_F(FaultTest, RedisKilledUnderLoadFailsNoRequestAndHitsResumeWithoutRestart) {
  DaemonProcess* proxy = start_proxy(config_yaml(kSimRules, true));
  ASSERT_NE(proxy, nullptr);
  const pid_t pid = proxy->pid();

  LoadLoop load(4, reader(), deadline_in(90s));
  ASSERT_TRUE(hits_resume(10, deadline_in(20s))) << "no HITs before the outage";

  redis_->stop();
  const std::size_t bypasses_before = bypasses_.load();
  EXPECT_TRUE(poll_until([&] { return bypasses_.load() >= bypasses_before + 20; }, deadline_in(30s)))
      << "the proxy never stepped aside while Redis was gone";
  ASSERT_TRUE(load.wait_for_more(20, deadline_in(20s))) << "the load stalled while Redis was gone";

  ASSERT_NO_THROW(redis_->start());  // same port, empty
  // Within a few seconds (the reconnect back-off), generously bounded for slow builds.
  EXPECT_TRUE(hits_resume(10, deadline_in(20s))) << "no HITs after Redis came back";
  LoadReport report = load.stop();

  EXPECT_EQ(report.failures, 0u) << report.describe();
  EXPECT_GT(report.requests, 50u) << report.describe();
  EXPECT_TRUE(proxy->running());
  EXPECT_EQ(proxy->pid(), pid);
}

TEST_F(FaultTest, SlowRedisTimesOutAndRequestsBypassWithinTheCommandTimeout) {
  // config_yaml sets command_timeout: 200ms; the simulator answers reads in 100 ms.
  constexpr auto kRedisTimeout = 200ms;
  constexpr auto kBackendTime = 100ms;
  constexpr auto kSlack = 2s;
  constexpr int kSleepSeconds = 6;  // far beyond the bound: a request that waited for Redis fails it
  sim_.reset();
  ASSERT_NO_THROW(start_sim({"--class-latency", "read=100ms"}));
  token_ = sim_login(sim_port(), "admin@acme.test");
  DaemonProcess* proxy = start_proxy(config_yaml(kSimRules, true));
  ASSERT_NE(proxy, nullptr);

  LoadLoop load(3, reader(), deadline_in(90s));
  ASSERT_TRUE(hits_resume(10, deadline_in(20s))) << "no HITs before Redis was made slow";
  LoadReport before = load.stop();
  ASSERT_EQ(before.failures, 0u) << before.describe();

  std::optional<std::string> slept;
  std::thread sleeper([&] {
    slept = redis_command(redis_->port(), {"DEBUG", "SLEEP", std::to_string(kSleepSeconds)},
                          std::chrono::seconds(kSleepSeconds + 20));
  });
  // The sleeper's command is on the wire once Redis stops answering a PING of our own.
  EXPECT_TRUE(poll_until([&] { return !redis_command(redis_->port(), {"PING"}, 100ms).has_value(); },
                         deadline_in(10s)))
      << "Redis never stopped answering";

  const std::size_t bypasses_before = bypasses_.load();
  LoadLoop during(3, reader(), deadline_in(60s));
  sleeper.join();
  LoadReport report = during.stop();
  EXPECT_EQ(slept, "+OK");

  EXPECT_EQ(report.failures, 0u) << report.describe();
  EXPECT_GT(bypasses_.load(), bypasses_before) << "no request stepped aside while Redis slept\n"
                                               << report.describe();
  EXPECT_LT(report.max_latency, kRedisTimeout + kBackendTime + kSlack)
      << "a request waited for the sleeping Redis\n"
      << report.describe();

  LoadLoop after(3, reader(), deadline_in(60s));
  EXPECT_TRUE(hits_resume(10, deadline_in(20s))) << "no HITs after Redis woke up";
  LoadReport after_report = after.stop();
  EXPECT_EQ(after_report.failures, 0u) << after_report.describe();
  EXPECT_TRUE(proxy->running());
}

const char* const kBackendDownRules = R"(rules:
  - name: health
    match: { method: GET, path: /api/v1/health }
    cache: { ttl: 1s, scope: public }
  - name: risk-detail
    match: { method: GET, path: "/api/v1/risks/:id" }
    cache: { ttl: 1s, scope: credential, stale_if_error: 5m, tags: ["risk:{id}"] }
  - name: risk-list
    match: { method: GET, path: /api/v1/risks }
    cache: { ttl: 1s, scope: credential, stale_if_error: 0s, key: { query: [limit] } }
)";

class BackendFaultTest : public FaultTest, public ::testing::WithParamInterface<Storage> {};

TEST_P(BackendFaultTest, BackendKilledServesStaleWithinStaleIfErrorAnd502ElseUntilItIsBack) {
  // scope: credential needs no key of the simulator's: the restarted simulator signs with a new one.
  const bool redis = GetParam() == Storage::redis;
  DaemonProcess* proxy = start_proxy(config_yaml(kBackendDownRules, redis, "  connect_timeout: 1s\n"));
  ASSERT_NE(proxy, nullptr);
  const pid_t pid = proxy->pid();
  const std::string list = "/api/v1/risks?limit=3";

  HttpResponse primed = get(targets_[0], token_);
  ASSERT_EQ(primed.status, 200) << primed.describe();
  ASSERT_EQ(x_cache(primed), "MISS") << primed.describe();
  ASSERT_EQ(get(list, token_).status, 200);

  sim_->kill();

  HttpResponse stale;
  ASSERT_TRUE(poll_until_not_hit([&] { return get(targets_[0], token_); }, stale))
      << "the entry never stopped being a fresh HIT with ttl 1s";
  EXPECT_EQ(stale.status, 200) << stale.describe();
  EXPECT_EQ(x_cache(stale), "STALE") << stale.describe();
  EXPECT_EQ(stale.body, primed.body);

  // No stale_if_error, never cached, not a cache rule: the backend's failure in the backend's error shape.
  HttpResponse no_stale;
  ASSERT_TRUE(poll_until_not_hit([&] { return get(list, token_); }, no_stale))
      << "the list entry never stopped being a fresh HIT with ttl 1s";
  expect_json_error(no_stale, 502);
  HttpResponse never_cached = get(targets_[1], token_);
  expect_json_error(never_cached, 502);
  HttpResponse not_a_rule = get("/api/v1/users/me", token_);
  expect_json_error(not_a_rule, 502);

  ASSERT_NO_THROW(sim_->restart());
  const std::string token = sim_login(sim_port(), "admin@acme.test");  // the new simulator's key
  HttpResponse back;
  EXPECT_TRUE(poll_until(
      [&] {
        back = get("/api/v1/users/me", token);
        return back.status == 200;
      },
      deadline_in(20s)))
      << "the proxy did not recover when the backend came back\n"
      << back.describe();
  HttpResponse miss = get(targets_[1], token);
  EXPECT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
  HttpResponse hit = get(targets_[1], token);
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_EQ(get(list, token).status, 200);
  EXPECT_TRUE(proxy->running());
  EXPECT_EQ(proxy->pid(), pid);
}

INSTANTIATE_TEST_SUITE_P(Storages, BackendFaultTest, ::testing::Values(Storage::memory, Storage::redis),
                         storage_name);

// ---- the scripted backend: connections and descriptors observable
// ------------------------------------------

// Answers /big with a `kBigBody` Content-Length body written in 64 KiB blocks until the proxy stops
// taking it, everything else with a small 200.
constexpr std::uint64_t kBigBody = 256ull << 20;

void big_or_small(const BackendRequest& req, ResponseWriter& w) {
  if (req.target != "/big") {
    w.respond(200, "conn=" + std::to_string(req.connection_id));
    return;
  }
  if (!w.write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
               std::to_string(kBigBody) + "\r\n\r\n"))
    return;
  const std::string block(64 * 1024, 'x');
  for (std::uint64_t sent = 0; sent < kBigBody; sent += block.size())
    if (!w.write(block)) return;
}

class FaultProxyTest : public ProxyTest {
 protected:
  // A few exchanges (every worker sets up what it keeps: pooled upstream connections, resolver), then
  // the daemon's descriptors and memory once it holds no client connection: its sockets are then its
  // listeners and the pooled upstream connections.
  void take_baseline(int workers = 1) {
    auto listeners = proc_socket_count(daemon_->pid());
    ASSERT_TRUE(listeners) << "cannot read /proc of the daemon";
    for (int i = 0; i < 2 * workers; ++i) {
      HttpResponse warm = send_request(make_request("GET", "/warm"));
      ASSERT_EQ(warm.status, 200) << warm.describe();
      ASSERT_TRUE(access_line(warm));
    }
    pooled_ = backend_.open_connections();
    std::size_t sockets = 0;
    ASSERT_TRUE(poll_until(
        [&] {
          sockets = proc_socket_count(daemon_->pid()).value_or(0);
          return sockets == *listeners + pooled_;
        },
        deadline_in()))
        << sockets << " sockets after the warm-up; " << *listeners << " listeners, " << pooled_
        << " upstream connections";
    auto fds = daemon_->fd_count();
    auto rss = daemon_->rss_bytes();
    ASSERT_TRUE(fds && rss) << "cannot read /proc of the daemon";
    baseline_fds_ = *fds;
    baseline_rss_ = *rss;
  }

  // The daemon holds no more descriptors than at the baseline (polled: closes finish asynchronously).
  void expect_fds_back_to_baseline(Deadline deadline = deadline_in(20s)) {
    std::size_t now = 0;
    EXPECT_TRUE(poll_until(
        [&] {
          now = daemon_->fd_count().value_or(0);
          return now <= baseline_fds_;
        },
        deadline))
        << "the daemon holds " << now << " descriptors, " << baseline_fds_ << " at the baseline";
  }

  std::size_t baseline_fds_ = 0;
  std::uint64_t baseline_rss_ = 0;
  std::size_t pooled_ = 0;  // upstream connections open at the baseline (idle in the pool)
};

TEST_F(FaultProxyTest, HangingBackendGives504AndItsConnectionIsNotReused) {
  bool release = false;
  backend_.set_handler([&](const BackendRequest& req, ResponseWriter& w) {
    if (req.target == "/hang") {
      if (w.wait_until([&] { return release; }, deadline_in(60s))) w.respond(200, "too late");
      return;
    }
    w.respond(200, "conn=" + std::to_string(req.connection_id));
  });
  ProxyConfig cfg = config();
  cfg.upstream["first_byte_timeout"] = "300ms";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));

  HttpResponse hung = send_request(make_request("GET", "/hang"));
  expect_json_error(hung, 504);
  ASSERT_TRUE(access_line(hung));

  // The backend answers now, too late: a proxy that kept the connection would find this response there.
  backend_.update([&] { release = true; });
  EXPECT_TRUE(backend_.wait_open_connections_at_most(0, deadline_in(10s)))
      << "the proxy kept the connection of the timed-out request open";

  HttpResponse next = send_request(make_request("GET", "/next"));
  ASSERT_TRUE(next.ok()) << next.describe();
  EXPECT_EQ(next.status, 200) << next.describe();
  EXPECT_EQ(next.body, "conn=2") << "the next request did not get a fresh upstream connection";
}

TEST_F(FaultProxyTest, ClientsGoneMidResponseReleaseUpstreamConnectionsAndDescriptors) {
  constexpr int kClients = 30;
  constexpr std::uint64_t kRssSlack = 32ull << 20;
  backend_.set_handler(big_or_small);
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  ASSERT_NO_FATAL_FAILURE(take_baseline());

  for (int i = 0; i < kClients; ++i) {
    RawClient client(port());
    ASSERT_TRUE(client.connected()) << client.error();
    ASSERT_TRUE(client.send(make_request("GET", "/big")));
    HttpResponse head = client.read_head();
    ASSERT_EQ(head.status, 200) << head.describe();
    std::uint64_t got = 0;
    while (got < (1u << 20)) {  // a MiB of the body, then the client vanishes
      auto part = client.read_body_part();
      ASSERT_TRUE(part && !part->empty()) << client.error();
      got += part->size();
    }
  }  // each client closes here, with most of its body still to come

  EXPECT_TRUE(backend_.wait_open_connections_at_most(pooled_, deadline_in(20s)))
      << backend_.open_connections() << " upstream connections still open after the clients left";
  expect_fds_back_to_baseline();
  auto rss = daemon_->rss_bytes();
  ASSERT_TRUE(rss);
  EXPECT_LT(*rss, baseline_rss_ + kRssSlack)
      << "RSS " << (*rss >> 20) << " MiB, " << (baseline_rss_ >> 20) << " MiB at the baseline";
  HttpResponse after = send_request(make_request("GET", "/after"));
  EXPECT_EQ(after.status, 200) << after.describe();
}

TEST_F(FaultProxyTest, ClientsThatNeverReadAreClosedAtTheSendTimeoutAndReleaseEverything) {
  constexpr int kClients = 3;
  constexpr std::uint64_t kPeakSlack = 64ull << 20;  // each client is owed 256 MiB
  backend_.set_handler(big_or_small);
  ProxyConfig cfg = config();
  cfg.timeouts["client_send"] = "1s";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));
  ASSERT_NO_FATAL_FAILURE(take_baseline());

  std::vector<std::unique_ptr<RawClient>> stalled;
  for (int i = 0; i < kClients; ++i) {
    stalled.push_back(std::make_unique<RawClient>(port()));
    ASSERT_TRUE(stalled.back()->connected());
    ASSERT_TRUE(stalled.back()->send(make_request("GET", "/big")));
  }
  ASSERT_TRUE(backend_.wait_for_requests(1 + kClients));
  // Others are served while those connections are stuck.
  HttpResponse other = send_request(make_request("GET", "/other"));
  EXPECT_EQ(other.status, 200) << other.describe();

  // The clients keep their sockets open and never read: only the proxy can end these exchanges.
  EXPECT_TRUE(backend_.wait_open_connections_at_most(pooled_, deadline_in(30s)))
      << backend_.open_connections() << " upstream connections still open";
  expect_fds_back_to_baseline();
  auto peak = daemon_->peak_rss_bytes();
  ASSERT_TRUE(peak);
  EXPECT_LT(*peak, baseline_rss_ + kPeakSlack)
      << "peak RSS " << (*peak >> 20) << " MiB: the proxy buffered what the clients did not read";
  for (auto& c : stalled) {
    EXPECT_TRUE(c->wait_closed(deadline_in(10s)));
  }
}

TEST_F(FaultProxyTest, SlowHeaderClientsAreClosedAtTheHeaderTimeoutWhileOthersAreServed) {
  constexpr int kSlowClients = 3;
  constexpr auto kHeaderTimeout = 1s;
  constexpr auto kSlack = 5s;
  ProxyConfig cfg = config();
  cfg.timeouts["client_header"] = "1s";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));
  const std::string head = make_request("GET", "/slow", {{{"X-Padding", std::string(40, 'p')}}});

  LoadLoop others(
      2, [&](std::size_t, std::size_t) { return not_ok(send_request(make_request("GET", "/fast"))); });
  const auto start = Clock::now();  // before the connections: their header timeout starts at accept
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < kSlowClients; ++i) {
    slow.push_back(std::make_unique<RawClient>(port()));
    ASSERT_TRUE(slow.back()->connected());
  }
  // A byte per client per half second; waiting for the server to speak or close is the pace.
  std::vector<bool> closed(kSlowClients, false);
  std::vector<std::string> answers(kSlowClients);
  std::size_t sent = 0;
  for (; sent < head.size(); ++sent) {
    std::vector<pollfd> watch;
    for (int i = 0; i < kSlowClients; ++i) {
      if (closed[i]) continue;
      if (!slow[i]->send(head.substr(sent, 1))) {
        closed[i] = true;
        continue;
      }
      watch.push_back({slow[i]->socket().fd(), POLLIN, 0});
    }
    if (watch.empty()) break;
    if (::poll(watch.data(), watch.size(), 500) < 0 && errno != EINTR) break;
    for (int i = 0; i < kSlowClients; ++i) {
      if (closed[i]) continue;
      for (const auto& w : watch)
        if (w.fd == slow[i]->socket().fd() && w.revents != 0)
          closed[i] = slow[i]->wait_closed(deadline_in(), &answers[i]);  // the 408, then the close
    }
  }
  const auto elapsed = Clock::now() - start;
  LoadReport report = others.stop();

  EXPECT_LT(sent, head.size()) << "the whole slow header was accepted";
  for (int i = 0; i < kSlowClients; ++i) {
    EXPECT_TRUE(closed[i]) << "slow client " << i << " was never closed";
    if (!answers[i].empty()) {
      EXPECT_EQ(answers[i].rfind("HTTP/1.1 408", 0), 0u) << answers[i];
    }
  }
  EXPECT_GE(elapsed, kHeaderTimeout) << "closed before the header timeout";
  EXPECT_LT(elapsed, kHeaderTimeout + kSlack);
  EXPECT_EQ(report.failures, 0u) << report.describe();
  EXPECT_GT(report.requests, 0u) << "nobody else was served while the slow clients dripped";
  for (const auto& r : backend_.requests()) EXPECT_NE(r.target, "/slow");
}

// A loopback connection that sends nothing; -1 on failure.
int idle_connection(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout{5, 0};  // bounds a connect whose SYN was dropped by a full accept queue
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    if (errno != EINTR && errno != EINPROGRESS && errno != EAGAIN) break;
  }
  ::close(fd);
  return -1;
}

TEST_F(FaultProxyTest, TenThousandIdleConnectionsKeepMemoryBoundedAndNewClientsServed) {
  constexpr std::size_t kIdle = 10000;
  constexpr std::uint64_t kMaxBytesPerConnection = 64 * 1024;
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;  // the daemon, started next, inherits it
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0) << std::strerror(errno);
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < kIdle + 1024)
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << limit.rlim_max << " is below the " << kIdle + 1024
                 << " descriptors this test and the daemon need";

  ProxyConfig cfg = config();
  cfg.threads = 2;
  cfg.limits["max_connections"] = std::to_string(kIdle + 100);
  cfg.timeouts["client_header"] = "120s";  // idle connections are waiting for their first request
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));
  ASSERT_NO_FATAL_FAILURE(take_baseline(cfg.threads));

  std::vector<int> idle;
  idle.reserve(kIdle);
  const auto give_up = deadline_in(90s);
  while (idle.size() < kIdle && Clock::now() < give_up) {
    int fd = idle_connection(port());
    if (fd < 0) break;
    idle.push_back(fd);
  }
  struct Closer {
    std::vector<int>& fds;
    ~Closer() {
      for (int fd : fds) ::close(fd);
    }
  } closer{idle};
  ASSERT_EQ(idle.size(), kIdle) << "connect failed: " << std::strerror(errno);

  std::size_t held = 0;
  EXPECT_TRUE(poll_until(
      [&] {
        held = daemon_->fd_count().value_or(0);
        return held >= baseline_fds_ + kIdle;
      },
      deadline_in(60s)))
      << "the daemon holds " << held << " descriptors; baseline " << baseline_fds_;

  HttpResponse fresh = send_request(make_request("GET", "/fresh"), {.deadline = deadline_in(20s)});
  EXPECT_TRUE(fresh.ok()) << fresh.describe();
  EXPECT_EQ(fresh.status, 200) << fresh.describe();

  auto rss = daemon_->rss_bytes();
  ASSERT_TRUE(rss);
  const std::uint64_t grown = *rss > baseline_rss_ ? *rss - baseline_rss_ : 0;
  RecordProperty("rss_growth_per_idle_connection", std::to_string(grown / kIdle));
  EXPECT_LT(grown, kIdle * kMaxBytesPerConnection)
      << "RSS grew by " << (grown >> 20) << " MiB for " << kIdle << " idle connections";
  EXPECT_FALSE(daemon_->wait_for_log("connection limit|accept failed", Clock::now()).has_value())
      << "the configured limit turned connections away";

  for (int fd : idle) ::close(fd);
  idle.clear();
  expect_fds_back_to_baseline(deadline_in(60s));
}

}  // namespace
}  // namespace orc::test
