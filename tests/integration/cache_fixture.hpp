// Shared set-up of the black-box cache tests: the real openrisk-sim as the backend, the daemon in front of it
// (memory or a real redis-server as storage), and helpers to log in, count backend requests and read headers.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/daemon_process.hpp"
#include "support/raw_client.hpp"
#include "support/redis_server.hpp"

namespace orc::test {

// openrisk-sim as a child process: `--listen 127.0.0.1:0 --jwt-key-out <tmp>/key.pem` plus `args`; the
// constructor waits for its "listening on" line (throws when it does not come).
class SimServer {
 public:
  explicit SimServer(const std::vector<std::string>& args = {});
  ~SimServer();  // SIGTERM, SIGKILL when it has not exited within 10 s
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  // SIGKILLs the simulator and reaps it: the backend dies the hard way, its connections reset.
  void kill();
  // Starts it again on the same port with the same flags (throws when it does not come up). Its data is
  // the seed again and its RS256 key is new: log in again for a token.
  void restart();
  bool running() const { return pid_ > 0; }

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& key_path() const { return key_path_; }
  std::string stderr_text() const;

 private:
  void spawn(const std::string& listen);
  void read_stderr(int fd);
  std::optional<std::string> wait_for_line(const std::string& needle, Deadline deadline);

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string dir_;
  std::string key_path_;
  std::vector<std::string> args_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string stderr_;
  bool eof_ = false;
};

// memory: the in-process storage; redis: one redis-server; redis_cluster: a Redis Cluster (three masters, a
// replica each) of this test's own.
// redis_unix: one redis-server reached over its Unix socket (redis.url unix://...).
enum class Storage { memory, redis, redis_cluster, redis_unix };
std::string storage_name(const ::testing::TestParamInfo<Storage>& info);

// One request on a fresh connection; HEAD responses are read without a body.
HttpResponse http(std::uint16_t port, std::string_view method, std::string_view target,
                  const HeaderList& headers = {}, std::string_view body = "");
HeaderList bearer(const std::string& token);
// One sample of `series` from a daemon's /metrics (empty when the admin port or the series is missing).
std::optional<double> metric_of(DaemonProcess& proxy, std::string_view series);
HeaderList with(HeaderList headers, std::string name, std::string value);
std::string header(const HttpResponse& r, std::string_view name);  // empty when absent
std::string x_cache(const HttpResponse& r);
std::uint64_t sim_version(const HttpResponse& r);  // X-Sim-Version; a test failure when absent
// The ttl=N of Cache-Status; empty when there is none.
std::optional<long> cache_status_ttl(const HttpResponse& r);

// The first string value of "key":"..." in a JSON text (empty when absent).
std::string json_string(const std::string& json, const std::string& key);

// Simulator ground truth and control (on the simulator's own port).
std::string sim_login(std::uint16_t sim_port, const std::string& email);
int sim_route_count(std::uint16_t sim_port, const std::string& route);  // GET /__sim/stats
std::vector<std::string> sim_sample_risks(std::uint16_t sim_port, std::size_t tenant_index);
void sim_add_fault(std::uint16_t sim_port, const std::string& json);
void sim_clear_faults(std::uint16_t sim_port);

// JWT surgery for the identity tests (no signing key needed).
std::string base64url_decode(std::string_view in);
std::string base64url_encode(std::string_view in);
std::vector<std::string> jwt_parts(const std::string& token);

// Calls `fetch` until its answer is no longer a fresh HIT (a short-lived entry expired: the read is now
// STALE, a MISS or the backend's failure) or `deadline` passes, and says which; `last` holds the last answer.
bool poll_until_not_hit(const std::function<HttpResponse()>& fetch, HttpResponse& last,
                        Deadline deadline = deadline_in(std::chrono::seconds(20)));

// Rules written for the simulator: see kSimRules in cache_fixture.cpp.
extern const char* const kSimRules;

class CacheTest : public ::testing::Test {
 protected:
  void TearDown() override;

  // Starts the simulator (once per test) with extra flags.
  void start_sim(const std::vector<std::string>& args = {});
  // Starts a redis-server for this test (kept in redis_), or a Redis Cluster when cluster_ says so (kept in
  // redis_cluster_).
  void start_redis();
  // The redis section of a config for the server or cluster start_redis() started.
  std::string redis_yaml() const;
  // The daemon config: listen, threads 2, upstream = `upstream_url` (the simulator when empty) with
  // `upstream_extra` lines, identity with the simulator's key, cache.key_secret, redis when redis_ runs and
  // `use_redis` (with the L1 on unless l1_ is false), then `rules` (a YAML "rules:" block).
  std::string config_yaml(const std::string& rules, bool use_redis, const std::string& upstream_extra = "",
                          const std::string& upstream_url = "", const std::string& jwt_extra = "") const;
  // Starts one more daemon with `yaml` (and `env`), waits until it listens; nullptr (and a failure)
  // otherwise. Then GETs `warmup` (a cached route no test counts) until the answer is not a BYPASS: the
  // daemon announces "listening" before its Redis connections are up, and requests until then bypass the
  // cache.
  DaemonProcess* start_proxy(const std::string& yaml, const std::vector<std::string>& env = {},
                             const std::string& warmup = "/api/v1/health");

  // A Redis failover under load (Sentinel, Cluster) on a daemon whose `detail` entry is cached: four clients
  // read it and a list without pause while `failover` runs; a write follows at once; `settled` waits until
  // the daemon follows (and the deployment is whole again). Then: hits come back, redis_up is 1 again, no
  // client request failed, the write is never followed by its pre-write answer, and a later write purges.
  void check_failover(DaemonProcess& proxy, const std::string& token, const std::string& detail,
                      const std::function<void()>& failover, const std::function<void()>& settled);

  std::uint16_t sim_port() const { return sim_->port(); }
  std::uint16_t proxy_port(std::size_t i = 0) const { return proxies_.at(i)->port(); }

  // One request through proxy `i`. Returns once the daemon has logged the exchange (its access line, found by
  // X-Request-ID): a fill is stored after the client has the last byte, and the line comes after the store,
  // so the next request sees the entry.
  HttpResponse through(std::size_t i, std::string_view method, std::string_view target,
                       const HeaderList& headers = {}, std::string_view body = "");
  // GET through proxy `i` with a bearer token.
  HttpResponse get(const std::string& target, const std::string& token, std::size_t i = 0) {
    return through(i, "GET", target, bearer(token));
  }

  std::unique_ptr<SimServer> sim_;
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisCluster> redis_cluster_;
  bool cluster_ = false;  // start_redis() starts a Redis Cluster
  bool unix_ = false;     // start_redis() starts a server with a Unix socket, and configs use it
  bool l1_ = true;        // cache.l1_budget in configs with Redis, as the shipped config has it
  std::vector<std::unique_ptr<DaemonProcess>> proxies_;
};

// CacheTest run with the in-process storage, with a real redis-server and (where instantiated) a real Redis
// Cluster.
class CacheStorageTest : public CacheTest, public ::testing::WithParamInterface<Storage> {
 protected:
  CacheStorageTest() {
    cluster_ = GetParam() == Storage::redis_cluster;
    unix_ = GetParam() == Storage::redis_unix;
  }
  bool use_redis() const { return GetParam() != Storage::memory; }
  // Simulator (with `sim_args`), redis when the parameter says so, one daemon with `rules`.
  void start_all(const std::string& rules, const std::vector<std::string>& sim_args = {},
                 const std::string& upstream_extra = "", const std::string& jwt_extra = "");
};

// Runs `n` copies of `fn(i)` on their own threads, released together, and returns their results in order.
std::vector<HttpResponse> run_concurrently(std::size_t n, const std::function<HttpResponse(std::size_t)>& fn);

}  // namespace orc::test
