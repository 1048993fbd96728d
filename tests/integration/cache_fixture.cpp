// The simulator child process, the daemon configs and the HTTP / ground-truth helpers of the cache tests.
#include "cache_fixture.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <iostream>
#include <regex>
#include <stdexcept>

#include "proxy_fixture.hpp"
#include "support/load_loop.hpp"
#include "support/paths.hpp"

extern char** environ;

namespace orc::test {

using namespace std::chrono_literals;

const char* const kSimRules = R"(rules:
  - name: health
    match: { method: GET, path: /api/v1/health }
    cache: { ttl: 1s, scope: public }
  - name: risk-list
    match: { method: GET, path: /api/v1/risks }
    cache: { ttl: 5m, scope: tenant, key: { query: [page, limit, severity, status, search, sort] },
             tags: ["risks:{tenant}"], stale_if_error: 5m }
  - name: risk-detail
    match: { method: GET, path: "/api/v1/risks/:id" }
    cache: { ttl: 5m, scope: tenant, tags: ["risk:{tenant}:{id}", "risks:{tenant}"] }
  - name: me
    match: { method: GET, path: /api/v1/users/me }
    cache: { ttl: 5m, scope: user, tags: ["me:{tenant}:{user}"] }
  - name: stats
    match: { method: GET, path: /api/v1/stats }
    cache: { ttl: 5m, scope: tenant, tags: ["risks:{tenant}"] }
  - name: risk-create
    match: { method: POST, path: /api/v1/risks }
    invalidate: ["risks:{tenant}"]
  - name: risk-write
    match: { method: [POST, PATCH, DELETE], path: "/api/v1/risks/:id/**" }
    invalidate: ["risks:{tenant}", "risk:{tenant}:{id}", "me:{tenant}:{user}"]
)";

// ---- SimServer
// ----------------------------------------------------------------------------------------------

SimServer::SimServer(const std::vector<std::string>& args) : args_(args) {
  char tmpl[] = "/tmp/orc-cache-sim-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  key_path_ = dir_ + "/key.pem";
  try {
    spawn("127.0.0.1:0");
  } catch (...) {
    std::filesystem::remove_all(dir_);
    throw;
  }
}

void SimServer::spawn(const std::string& listen) {
  std::vector<std::string> argv_s = {sim_path(), "--listen", listen, "--jwt-key-out", key_path_};
  for (auto& flag : sim_key_flags(args_)) argv_s.push_back(std::move(flag));
  argv_s.insert(argv_s.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  {
    std::lock_guard lock(mutex_);
    stderr_.clear();
    eof_ = false;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  int rc = ::posix_spawn(&pid_, sim_path().c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    pid_ = -1;
    throw std::runtime_error("posix_spawn " + sim_path() + " failed");
  }
  reader_ = std::thread([this, fd = fds[0]] { read_stderr(fd); });
  auto line = wait_for_line("listening on 127.0.0.1:", deadline_in(30s));
  std::smatch m;
  if (!line || !std::regex_search(*line, m, std::regex(R"(listening on 127\.0\.0\.1:(\d+))"))) {
    std::string text = stderr_text();
    kill();
    throw std::runtime_error("openrisk-sim did not start:\n" + text);
  }
  port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
}

void SimServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (reader_.joinable()) reader_.join();  // stderr reaches EOF with the process
}

void SimServer::restart() {
  if (pid_ > 0) return;
  spawn("127.0.0.1:" + std::to_string(port_));
}

SimServer::~SimServer() {
  if (pid_ <= 0) {
    if (reader_.joinable()) reader_.join();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    return;
  }
  ::kill(pid_, SIGTERM);
  bool reaped = false;
  // No exit notification with a deadline for a child: poll waitpid (bounded).
  poll_until(
      [&] {
        int status = 0;
        reaped = ::waitpid(pid_, &status, WNOHANG) == pid_;
        return reaped;
      },
      deadline_in(10s));
  if (!reaped) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (reader_.joinable()) reader_.join();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void SimServer::read_stderr(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    {
      std::lock_guard lock(mutex_);
      stderr_.append(buf, static_cast<std::size_t>(n));
    }
    cv_.notify_all();
  }
  ::close(fd);
  {
    std::lock_guard lock(mutex_);
    eof_ = true;
  }
  cv_.notify_all();
}

std::optional<std::string> SimServer::wait_for_line(const std::string& needle, Deadline deadline) {
  std::unique_lock lock(mutex_);
  for (;;) {
    auto at = stderr_.find(needle);
    if (at != std::string::npos) {
      auto begin = stderr_.rfind('\n', at);
      begin = begin == std::string::npos ? 0 : begin + 1;
      auto end = stderr_.find('\n', at);
      if (end != std::string::npos || eof_) return stderr_.substr(begin, end - begin);
    }
    if (eof_ || Clock::now() >= deadline) return std::nullopt;
    cv_.wait_until(lock, deadline);
  }
}

std::string SimServer::stderr_text() const {
  std::lock_guard lock(mutex_);
  return stderr_;
}

// ---- helpers
// ------------------------------------------------------------------------------------------------

std::string storage_name(const ::testing::TestParamInfo<Storage>& info) {
  switch (info.param) {
    case Storage::memory:
      return "memory";
    case Storage::redis:
      return "redis";
    case Storage::redis_cluster:
      return "redis_cluster";
    case Storage::redis_unix:
      return "redis_unix";
  }
  return "unknown";
}

HttpResponse http(std::uint16_t port, std::string_view method, std::string_view target,
                  const HeaderList& headers, std::string_view body) {
  ReadOptions options;
  options.head_request = method == "HEAD";
  options.deadline = deadline_in(20s);
  HeaderList h = headers;
  if (!body.empty() && !h.has("Content-Type")) h.add("Content-Type", "application/json");
  return roundtrip(port, make_request(method, target, h, body), options);
}

std::optional<double> metric_of(DaemonProcess& proxy, std::string_view series) {
  auto admin = proxy.wait_for_log(R"(admin endpoints on 127\.0\.0\.1:(\d+))");
  if (!admin) return std::nullopt;
  const auto port = static_cast<std::uint16_t>(std::stoi(admin->groups[1]));
  return metric_sample(http(port, "GET", "/metrics").body, series);
}

HeaderList bearer(const std::string& token) {
  HeaderList h;
  h.add("Authorization", "Bearer " + token);
  return h;
}

HeaderList with(HeaderList headers, std::string name, std::string value) {
  headers.add(std::move(name), std::move(value));
  return headers;
}

std::string header(const HttpResponse& r, std::string_view name) {
  return r.headers.get(name).value_or("");
}

std::string x_cache(const HttpResponse& r) {
  return header(r, "X-Cache");
}

std::uint64_t sim_version(const HttpResponse& r) {
  std::string v = header(r, "X-Sim-Version");
  EXPECT_FALSE(v.empty()) << "no X-Sim-Version in\n" << r.describe();
  return v.empty() ? 0 : std::stoull(v);
}

std::optional<long> cache_status_ttl(const HttpResponse& r) {
  std::smatch m;
  std::string status = header(r, "Cache-Status");
  if (!std::regex_search(status, m, std::regex(R"(ttl=(-?\d+))"))) return std::nullopt;
  return std::stol(m[1]);
}

std::string json_string(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + R"re("\s*:\s*"([^"]*)")re"))) return {};
  return m[1];
}

std::string sim_login(std::uint16_t sim_port, const std::string& email) {
  HttpResponse r = http(sim_port, "POST", "/api/v1/auth/login", {},
                        "{\"email\":\"" + email + "\",\"password\":\"sim-password\"}");
  EXPECT_EQ(r.status, 200) << r.describe();
  std::string token = json_string(r.body, "access_token");
  EXPECT_FALSE(token.empty()) << r.describe();
  return token;
}

int sim_route_count(std::uint16_t sim_port, const std::string& route) {
  HttpResponse r = http(sim_port, "GET", "/__sim/stats");
  EXPECT_EQ(r.status, 200) << r.describe();
  std::string needle = "\"" + route + "\":";
  auto at = r.body.find(needle);
  if (at == std::string::npos) return 0;  // only routes with a non-zero count are listed
  return std::stoi(r.body.substr(at + needle.size()));
}

std::vector<std::string> sim_sample_risks(std::uint16_t sim_port, std::size_t tenant_index) {
  HttpResponse r = http(sim_port, "GET", "/__sim/seed");
  EXPECT_EQ(r.status, 200) << r.describe();
  std::vector<std::string> lists;
  static const std::regex list_re(R"re("sample_risk_ids"\s*:\s*\[([^\]]*)\])re");
  for (auto it = std::sregex_iterator(r.body.begin(), r.body.end(), list_re); it != std::sregex_iterator();
       ++it)
    lists.push_back((*it)[1]);
  std::vector<std::string> ids;
  if (tenant_index >= lists.size()) {
    ADD_FAILURE() << "no tenant " << tenant_index << " in /__sim/seed";
    return ids;
  }
  static const std::regex id_re(R"re("([^"]+)")re");
  const std::string& list = lists[tenant_index];
  for (auto it = std::sregex_iterator(list.begin(), list.end(), id_re); it != std::sregex_iterator(); ++it)
    ids.push_back((*it)[1]);
  EXPECT_FALSE(ids.empty());
  return ids;
}

void sim_add_fault(std::uint16_t sim_port, const std::string& json) {
  HttpResponse r = http(sim_port, "POST", "/__sim/faults", {}, json);
  EXPECT_EQ(r.status, 201) << r.describe();
}

void sim_clear_faults(std::uint16_t sim_port) {
  HttpResponse r = http(sim_port, "DELETE", "/__sim/faults");
  EXPECT_EQ(r.status, 200) << r.describe();
}

std::string base64url_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

std::string base64url_encode(std::string_view in) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

std::vector<std::string> jwt_parts(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  for (;;) {
    auto dot = token.find('.', begin);
    parts.push_back(token.substr(begin, dot - begin));
    if (dot == std::string::npos) break;
    begin = dot + 1;
  }
  return parts;
}

bool poll_until_not_hit(const std::function<HttpResponse()>& fetch, HttpResponse& last, Deadline deadline) {
  return poll_until(
      [&] {
        last = fetch();
        return x_cache(last) != "HIT";
      },
      deadline);
}

std::vector<HttpResponse> run_concurrently(std::size_t n,
                                           const std::function<HttpResponse(std::size_t)>& fn) {
  std::vector<HttpResponse> results(n);
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t ready = 0;
  bool go = false;
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      {
        std::unique_lock lock(mutex);
        ++ready;
        cv.notify_all();
        cv.wait(lock, [&] { return go; });
      }
      results[i] = fn(i);
    });
  }
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return ready == n; });
    go = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  return results;
}

// ---- fixtures
// -----------------------------------------------------------------------------------------------

void CacheTest::start_sim(const std::vector<std::string>& args) {
  sim_ = std::make_unique<SimServer>(args);
}

void CacheTest::start_redis() {
  if (cluster_)
    redis_cluster_ = std::make_unique<RedisCluster>();
  else if (unix_)
    redis_ = RedisServer::with_unix_socket();
  else
    redis_ = std::make_unique<RedisServer>();
}

std::string CacheTest::redis_yaml() const {
  if (redis_cluster_)
    return "redis: { url: \"" + redis_cluster_->node(0).url() + "\", cluster: \"" + redis_cluster_->seeds() +
           "\", key_prefix: \"orc-test:\", command_timeout: 200ms }\n";
  if (redis_)
    return "redis: { url: \"" + (unix_ ? redis_->unix_url() + "?db=0" : redis_->url() + "/0") +
           "\", key_prefix: \"orc-test:\", command_timeout: 200ms }\n";
  ADD_FAILURE() << "config with redis but no redis-server started";
  return "";
}

std::string CacheTest::config_yaml(const std::string& rules, bool use_redis,
                                   const std::string& upstream_extra, const std::string& upstream_url,
                                   const std::string& jwt_extra) const {
  std::string out = "listen: 127.0.0.1:0\nthreads: 2\n";
  out += "upstream:\n  url: " + (upstream_url.empty() ? sim_->url() : upstream_url) + "\n" + upstream_extra;
  out += "logging:\n  level: info\n";
  if (sim_) {
    out += "identity:\n  credential: [{header: Authorization}, {cookie: or_access}]\n";
    out += "  jwt: { algorithm: RS256, public_key_file: " + sim_->key_path() + jwt_extra + " }\n";
  }
  out +=
      "cache: { key_secret: test-secret" + std::string(use_redis && l1_ ? ", l1_budget: 8MiB" : "") + " }\n";
  if (use_redis) out += redis_yaml();
  out += rules;
  return out;
}

DaemonProcess* CacheTest::start_proxy(const std::string& yaml, const std::vector<std::string>& env,
                                      const std::string& warmup) {
  auto daemon = std::make_unique<DaemonProcess>(daemon_path(), yaml, env);
  if (!daemon->wait_listening(deadline_in(20s))) {
    ADD_FAILURE() << "the daemon never logged 'listening on 127.0.0.1:PORT'\nconfig:\n"
                  << yaml << "\nstderr:\n"
                  << daemon->stderr_text();
    return nullptr;
  }
  HttpResponse r;
  if (!warmup.empty() && !poll_until(
                             [&] {
                               r = http(daemon->port(), "GET", warmup);
                               return x_cache(r) == "MISS" || x_cache(r) == "HIT";
                             },
                             deadline_in(10s))) {
    ADD_FAILURE() << "GET " << warmup << " never used the cache; last:\n" << r.describe();
  }
  proxies_.push_back(std::move(daemon));
  return proxies_.back().get();
}

HttpResponse CacheTest::through(std::size_t i, std::string_view method, std::string_view target,
                                const HeaderList& headers, std::string_view body) {
  const std::size_t logged = proxies_.at(i)->stderr_size();  // its line comes after what is there now
  HttpResponse r = http(proxy_port(i), method, target, headers, body);
  auto id = r.headers.get("X-Request-ID");
  if (r.ok() && id && !proxies_.at(i)->wait_for_log(" id=" + *id + " ", deadline_in(10s), logged))
    ADD_FAILURE() << "no access log line for request " << *id;
  return r;
}

void CacheTest::TearDown() {
  if (HasFailure()) {
    constexpr std::size_t kTail = 12 * 1024;
    for (std::size_t i = 0; i < proxies_.size(); ++i) {
      std::string err = proxies_[i]->stderr_text();
      if (err.size() > kTail) err = "...\n" + err.substr(err.size() - kTail);
      std::cout << "---- daemon " << i << " stderr ----\n" << err << "---- end ----\n";
    }
  }
  proxies_.clear();
  sim_.reset();
  redis_.reset();
  redis_cluster_.reset();
}

void CacheStorageTest::start_all(const std::string& rules, const std::vector<std::string>& sim_args,
                                 const std::string& upstream_extra, const std::string& jwt_extra) {
  ASSERT_NO_THROW(start_sim(sim_args));
  if (use_redis()) {
    ASSERT_NO_THROW(start_redis());
  }
  ASSERT_NE(start_proxy(config_yaml(rules, use_redis(), upstream_extra, "", jwt_extra)), nullptr);
}

void CacheTest::check_failover(DaemonProcess& proxy, const std::string& token, const std::string& detail,
                               const std::function<void()>& failover, const std::function<void()>& settled) {
  const std::string list = "/api/v1/risks?limit=4";
  LoadLoop load(4, [&](std::size_t thread, std::size_t) -> std::optional<std::string> {
    HttpResponse r = http(proxy.port(), "GET", thread % 2 ? list : detail, bearer(token));
    if (r.status == 200) return std::nullopt;
    return "status " + std::to_string(r.status) + " " + x_cache(r);
  });
  ASSERT_TRUE(load.wait_for_more(50));
  failover();

  // A write while Redis fails over: the backend takes it, and its purge either reaches a master or is owed.
  // What the old master held from before must not be served once another node is the master.
  HttpResponse write = through(0, "PATCH", detail, bearer(token), R"({"title":"written-during-failover"})");
  ASSERT_EQ(write.status, 200) << write.describe();
  const std::uint64_t written = sim_version(write);
  settled();

  EXPECT_TRUE(poll_until([&] { return x_cache(get(detail, token)) == "HIT"; }, deadline_in(60s)))
      << "no hits after the failover\n"
      << proxy.stderr_text();
  EXPECT_TRUE(poll_until([&] { return metric_of(proxy, "openrisk_cache_redis_up").value_or(-1) == 1; },
                         deadline_in(60s)));
  ASSERT_TRUE(load.wait_for_more(50));
  LoadReport report = load.stop();
  EXPECT_EQ(report.failures, 0u) << report.describe();

  HttpResponse after = get(detail, token);
  EXPECT_EQ(after.status, 200) << after.describe();
  EXPECT_GE(sim_version(after), written) << "pre-write data after the failover\n" << after.describe();
  EXPECT_NE(after.body.find("written-during-failover"), std::string::npos) << after.describe();

  HttpResponse again = through(0, "PATCH", detail, bearer(token), R"({"title":"written-after-failover"})");
  ASSERT_EQ(again.status, 200) << again.describe();
  HttpResponse read = get(detail, token);
  EXPECT_NE(x_cache(read), "HIT") << read.describe();
  EXPECT_NE(read.body.find("written-after-failover"), std::string::npos) << read.describe();
}

}  // namespace orc::test
