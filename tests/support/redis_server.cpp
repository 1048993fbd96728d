// Spawning, probing and stopping a test redis-server, and forming a Redis Cluster out of several.
#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace orc::test {
namespace {

// A port the kernel just handed out on 127.0.0.1. Another process could take it before redis binds it:
// the constructor then tries another.
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    ::close(fd);
    throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A new directory under $TMPDIR (or /tmp) named `prefix` + a unique suffix.
std::string make_temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  return pattern;
}

// Starts `args` (looked up in PATH) with stdin on /dev/null and stdout and stderr on `out_fd` (-1:
// /dev/null). Returns its PID, or -1 when fork failed.
pid_t spawn_child(std::vector<std::string> args, int out_fd) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  // fork + exec rather than posix_spawn: the child asks for SIGKILL when the test process dies, so a
  // crashed test never leaves a server behind. Only async-signal-safe calls between fork and exec.
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) ::dup2(devnull, 0);
    const int out = out_fd >= 0 ? out_fd : devnull;
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// True once the server whose log this is has bound its port ("Ready to accept connections", or "... ready to
// accept connections at" with a unix socket; a sentinel: "+monitor master"): a PING alone could be answered
// by another test's server that took the port first (tests run in parallel).
bool logged_ready(const std::string& log_path, std::string_view ready_line) {
  std::ifstream in(log_path);
  std::string line;
  while (std::getline(in, line))
    if (line.find(ready_line) != std::string::npos) return true;
  return false;
}

// Sends `args` as one RESP array of bulk strings to 127.0.0.1:`port` on a fresh connection, then reads until
// `complete(what was read)`, the server closes, or `timeout` passes. Returns what was read (maybe not a
// whole reply: callers parse it), or nothing when the connection or the send failed.
std::optional<std::string> exchange(std::uint16_t port, const std::vector<std::string>& args,
                                    std::chrono::milliseconds timeout,
                                    const std::function<bool(std::string_view)>& complete) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string request;
  request.append("*").append(std::to_string(args.size())).append("\r\n");
  for (const auto& a : args)
    request.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  std::optional<std::string> got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    got.emplace();
    while (!complete(*got)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got->append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

enum class Bulk { partial, complete, other };

// Where the reply at the start of `got` stands as a bulk string ("$N\r\n" N bytes "\r\n"); when complete,
// `*body` is its content.
Bulk parse_bulk(std::string_view got, std::string_view* body = nullptr) {
  const auto eol = got.find("\r\n");
  if (eol == std::string_view::npos) return Bulk::partial;
  if (got[0] != '$') return Bulk::other;
  long long length = -1;
  const auto [end, ec] = std::from_chars(got.data() + 1, got.data() + eol, length);
  if (ec != std::errc() || end != got.data() + eol || length < 0) return Bulk::other;  // "$-1": null
  const auto size = static_cast<std::size_t>(length);
  if (got.size() < eol + 2 + size + 2) return Bulk::partial;
  if (got.substr(eol + 2 + size, 2) != "\r\n") return Bulk::other;
  if (body != nullptr) *body = got.substr(eol + 2, size);
  return Bulk::complete;
}

// The value of `field` in an INFO-style reply ("field:value" lines), or nothing.
std::optional<std::string_view> info_field(std::string_view info, std::string_view field) {
  for (std::size_t at = 0; at < info.size();) {
    auto eol = info.find('\n', at);
    if (eol == std::string_view::npos) eol = info.size();
    auto line = info.substr(at, eol - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > field.size() && line.substr(0, field.size()) == field && line[field.size()] == ':')
      return line.substr(field.size() + 1);
    at = eol + 1;
  }
  return std::nullopt;
}

// One line of CLUSTER NODES: "<id> <ip:port@cport[,hostname]> <flags> <master id or -> <ping-sent>
// <pong-recv> <config-epoch> <link-state> <slot or first-last>..." (slots being moved are "[...]").
struct ClusterNode {
  std::uint16_t port = 0;
  std::vector<std::string> flags;
  std::string master_id;
  std::vector<std::pair<int, int>> slots;

  bool has(std::string_view flag) const { return std::find(flags.begin(), flags.end(), flag) != flags.end(); }
  // A node the others do not suspect ("fail?" is PFAIL) and can reach.
  bool sound() const { return !has("fail") && !has("fail?") && !has("handshake") && !has("noaddr"); }
  bool serves(int slot) const {
    return std::any_of(slots.begin(), slots.end(),
                       [slot](const auto& r) { return r.first <= slot && slot <= r.second; });
  }
};

std::vector<ClusterNode> parse_cluster_nodes(const std::string& text) {
  std::vector<ClusterNode> nodes;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string id, address, flags, master, ping, pong, epoch, link;
    if (!(fields >> id >> address >> flags >> master >> ping >> pong >> epoch >> link)) continue;
    ClusterNode node;
    address = address.substr(0, address.find('@'));
    const auto colon = address.rfind(':');
    unsigned port = 0;
    if (colon != std::string::npos)
      std::from_chars(address.data() + colon + 1, address.data() + address.size(), port);
    node.port = static_cast<std::uint16_t>(port);
    std::istringstream flag_list(flags);
    for (std::string flag; std::getline(flag_list, flag, ',');) node.flags.push_back(flag);
    node.master_id = master;
    for (std::string range; fields >> range;) {
      if (range.empty() || range[0] == '[') continue;  // a slot being imported or migrated
      int first = -1, last = -1;
      const auto dash = range.find('-');
      std::from_chars(range.data(), range.data() + std::min(dash, range.size()), first);
      last = first;
      if (dash != std::string::npos)
        std::from_chars(range.data() + dash + 1, range.data() + range.size(), last);
      if (first >= 0 && last >= first) node.slots.emplace_back(first, last);
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

// The time left until `deadline`, but enough for one round trip even when it has passed, so that the last
// check before giving up is a real one.
std::chrono::milliseconds left_until(std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(100));
}

// The last `n` bytes of the file at `path`, for an error message.
std::string file_tail(const std::string& path, std::size_t n = 2000) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > n ? "..." + text.substr(text.size() - n) : text;
}

// Runs `redis-cli --cluster create` on `ports` and waits for it until `deadline`; throws
// std::runtime_error, with the end of its output, when it fails or is killed at the deadline.
void create_cluster(const std::vector<std::uint16_t>& ports, std::size_t replicas,
                    std::chrono::steady_clock::time_point deadline) {
  struct Dir {  // the log lives only as long as this call: it is in the exception when it matters
    std::string path = make_temp_dir("orc-redis-cluster-");
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } dir;
  const auto log = dir.path + "/redis-cli.log";
  // Line-buffered (stdbuf, coreutils): its output goes to a file, and what is still in its stdio buffer when
  // it is killed at the deadline is lost, leaving an empty log just when it is needed.
  std::vector<std::string> args = {"stdbuf", "-oL", "-eL", "redis-cli", "--cluster", "create"};
  for (auto port : ports) args.push_back("127.0.0.1:" + std::to_string(port));
  // --cluster-yes accepts the proposed layout (otherwise it asks on stdin, which is /dev/null).
  args.insert(args.end(), {"--cluster-replicas", std::to_string(replicas), "--cluster-yes"});
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) throw std::runtime_error("open " + log + ": " + std::strerror(errno));
  const pid_t pid = spawn_child(std::move(args), out);
  ::close(out);
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      throw std::runtime_error("redis-cli --cluster create did not finish in time:\n" + file_tail(log));
    }
    // redis-cli gives no readiness signal but its exit; it sleeps a whole second between its own checks.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("redis-cli --cluster create failed (status " + std::to_string(status) + "):\n" +
                             file_tail(log));
}

}  // namespace

RedisServer::RedisServer(std::vector<std::string> extra_args, std::chrono::milliseconds timeout)
    : extra_args_(std::move(extra_args)) {
  launch(timeout);
}

RedisServer::RedisServer(SentinelMode, std::string config, std::chrono::milliseconds timeout)
    : sentinel_config_(std::move(config)) {
  launch(timeout);
}

std::unique_ptr<RedisServer> RedisServer::sentinel(const std::string& master, std::uint16_t master_port,
                                                   int quorum, std::chrono::milliseconds down_after) {
  const std::string m = " " + master + " ";
  std::string config = "sentinel monitor" + m + "127.0.0.1 " + std::to_string(master_port) + " " +
                       std::to_string(quorum) + "\nsentinel down-after-milliseconds" + m +
                       std::to_string(down_after.count()) + "\nsentinel failover-timeout" + m +
                       std::to_string(4 * down_after.count()) + "\n";
  return std::unique_ptr<RedisServer>(
      new RedisServer(SentinelMode{}, std::move(config), std::chrono::seconds(10)));
}

void RedisServer::launch(std::chrono::milliseconds timeout) {
  dir_ = make_temp_dir("orc-redis-");
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    if (!spawn()) break;
    if (wait_ready(std::chrono::steady_clock::now() + timeout)) return;
    stop();  // most likely lost the port to someone else: try another
  }
  std::filesystem::remove_all(dir_);
  throw std::runtime_error("redis-server did not start (is /usr/bin/redis-server installed?)");
}

RedisServer::~RedisServer() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string RedisServer::url() const {
  return "redis://" + host_ + ":" + std::to_string(port_);
}

namespace {
constexpr const char* kUnixSocket =
    "redis.sock";  // relative: in --dir, which is the server's working directory
}

std::unique_ptr<RedisServer> RedisServer::with_unix_socket() {
  return std::make_unique<RedisServer>(
      std::vector<std::string>{"--unixsocket", kUnixSocket, "--unixsocketperm", "700"});
}

std::string RedisServer::unix_url() const {
  if (std::find(extra_args_.begin(), extra_args_.end(), "--unixsocket") == extra_args_.end())
    throw std::logic_error(
        "unix_url(): this redis-server has no Unix socket (RedisServer::with_unix_socket)");
  return "unix://" + dir_ + "/" + kUnixSocket;
}

bool RedisServer::spawn() {
  std::error_code ignored;
  std::filesystem::remove(dir_ + "/redis.log", ignored);  // a restart must not find the last run's line
  // --dir is also the working directory: relative paths in `extra_args_` (a cluster's nodes.conf) land in
  // this server's temp dir.
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   host_,
                                   "--dir",
                                   dir_,
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   dir_ + "/redis.log",
                                   "--enable-debug-command",
                                   "local"};
  if (!sentinel_config_.empty()) {
    const auto path = dir_ + "/sentinel.conf";
    if (!std::filesystem::exists(path)) {  // a restart keeps what the sentinel learnt
      std::ofstream(path) << sentinel_config_;
    }
    args.insert(args.begin() + 1, {path, "--sentinel"});
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_t pid = spawn_child(std::move(args), -1);
  if (pid < 0) return false;
  pid_ = pid;
  return true;
}

bool RedisServer::wait_ready(std::chrono::steady_clock::time_point deadline) {
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // it exited (port taken, bad argument)
      pid_ = -1;
      return false;
    }
    if (logged_ready(dir_ + "/redis.log",
                     sentinel_config_.empty() ? "eady to accept connections" : "+monitor master"))
      return true;
    // Polling a process that gives no readiness signal of its own; each probe is bounded by the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void RedisServer::start(std::chrono::milliseconds timeout) {
  if (pid_ > 0) return;
  if (!spawn() || !wait_ready(std::chrono::steady_clock::now() + timeout))
    throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
}

std::optional<std::string> redis_command(std::uint16_t port, const std::vector<std::string>& args,
                                         std::chrono::milliseconds timeout) {
  auto got = exchange(port, args, timeout,
                      [](std::string_view got) { return got.find("\r\n") != std::string_view::npos; });
  if (!got) return std::nullopt;
  const auto end = got->find("\r\n");
  if (end == std::string::npos) return std::nullopt;
  return got->substr(0, end);
}

std::optional<std::string> redis_bulk(std::uint16_t port, const std::vector<std::string>& args,
                                      std::chrono::milliseconds timeout) {
  auto got =
      exchange(port, args, timeout, [](std::string_view got) { return parse_bulk(got) != Bulk::partial; });
  std::string_view body;
  if (!got || parse_bulk(*got, &body) != Bulk::complete) return std::nullopt;
  return std::string(body);
}

RedisCluster::RedisCluster(std::size_t masters, std::size_t replicas, std::chrono::milliseconds node_timeout,
                           std::chrono::milliseconds timeout)
    : masters_(masters), replicas_(replicas) {
  if (masters < 3) throw std::invalid_argument("a Redis Cluster needs at least 3 masters");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::vector<std::string> args = {
      "--cluster-enabled", "yes",
      // Relative to --dir: each node keeps its identity in its own temp dir, and a restart rejoins with it.
      "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", std::to_string(node_timeout.count()),
      // A replica takes over however long it has been cut off from its master (0: no data-age limit).
      "--cluster-replica-validity-factor", "0",
      // Replicas sync at once rather than after the 5 s a master waits for more replicas to share a sync.
      "--repl-diskless-sync-delay", "0"};
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < masters * (1 + replicas); ++i) {
    // A cluster node also binds its port + 10000 (the cluster bus) and exits when that is taken or beyond
    // 65535, which a free port above 55535 is: RedisServer then tries another port, up to 5 times. Retrying
    // a few RedisServers makes that failing for every attempt a non-event.
    for (int attempt = 0;; ++attempt) {
      try {
        nodes_.push_back(std::make_unique<RedisServer>(args, left_until(deadline)));
        break;
      } catch (const std::runtime_error&) {
        if (attempt == 2) throw;
      }
    }
    ports.push_back(nodes_.back()->port());
  }
  create_cluster(ports, replicas, deadline);
  std::string why;
  if (!wait(true, deadline, &why))
    throw std::runtime_error("Redis Cluster not ready in " + std::to_string(timeout.count()) + " ms: " + why);
}

std::string RedisCluster::seeds() const {
  std::string seeds;
  for (const auto& node : nodes_) {
    if (!seeds.empty()) seeds += ",";
    seeds += node->host() + ":" + std::to_string(node->port());
  }
  return seeds;
}

std::vector<std::uint16_t> RedisCluster::master_ports() const {
  const auto text = cluster_nodes();
  return text ? healthy_masters(*text, -1) : std::vector<std::uint16_t>{};
}

std::uint16_t RedisCluster::master_of_slot(int slot) const {
  const auto text = cluster_nodes();
  if (!text) return 0;
  const auto masters = healthy_masters(*text, slot);
  return masters.empty() ? 0 : masters.front();
}

std::size_t RedisCluster::index_of_port(std::uint16_t port) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i]->port() == port) return i;
  throw std::out_of_range("no cluster node on port " + std::to_string(port));
}

bool RedisCluster::wait_healthy(std::chrono::milliseconds timeout) {
  return wait(false, std::chrono::steady_clock::now() + timeout, nullptr);
}

// Why the cluster is not as the tests want it, or nothing when it is: every live node reports
// cluster_state:ok with all slots served and sees `masters_` healthy masters. `formed` (what the
// constructor waits for) also wants every node to see all `masters_ * replicas_` replicas attached, and
// every replica's link to its master up: a failover right after construction needs the other masters to
// know whose replica it is (they vote only for a failed master's replica).
std::optional<std::string> RedisCluster::problem(bool formed,
                                                 std::chrono::steady_clock::time_point deadline) const {
  for (const auto& node : nodes_) {
    if (!node->running()) continue;
    const auto name = "node " + std::to_string(node->port()) + ": ";
    const auto info = redis_bulk(node->port(), {"CLUSTER", "INFO"}, left_until(deadline));
    if (!info) return name + "no answer to CLUSTER INFO";
    if (info_field(*info, "cluster_state") != "ok") return name + "not cluster_state:ok";
    if (info_field(*info, "cluster_slots_ok") != "16384") return name + "not cluster_slots_ok:16384";
    const auto text = redis_bulk(node->port(), {"CLUSTER", "NODES"}, left_until(deadline));
    if (!text) return name + "no answer to CLUSTER NODES";
    if (auto seen = healthy_masters(*text, -1).size(); seen != masters_)
      return name + "sees " + std::to_string(seen) + " healthy masters";
    if (!formed) continue;
    const auto view = parse_cluster_nodes(*text);
    const auto attached = std::count_if(view.begin(), view.end(), [this](const ClusterNode& n) {
      return n.has("slave") && n.sound() && n.master_id != "-" && live(n.port);
    });
    if (static_cast<std::size_t>(attached) != masters_ * replicas_)
      return name + "sees " + std::to_string(attached) + " replicas attached";
    const auto replication = redis_bulk(node->port(), {"INFO", "replication"}, left_until(deadline));
    if (!replication) return name + "no answer to INFO replication";
    if (info_field(*replication, "role") == "slave" && info_field(*replication, "master_link_status") != "up")
      return name + "replica not in sync with its master";
  }
  return std::nullopt;
}

bool RedisCluster::wait(bool formed, std::chrono::steady_clock::time_point deadline, std::string* why) const {
  for (;;) {
    const auto trouble = problem(formed, deadline);
    if (!trouble) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (why != nullptr) *why = *trouble;
      return false;
    }
    // The nodes converge through gossip, which no one can wait on from outside: poll until the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::optional<std::string> RedisCluster::cluster_nodes() const {
  for (const auto& node : nodes_) {
    if (!node->running()) continue;
    if (auto text = redis_bulk(node->port(), {"CLUSTER", "NODES"})) return text;
  }
  return std::nullopt;
}

// Healthy: flagged master, sound, on a node not stopped here (the others take up to node timeout to
// notice a stopped one), and serving `slot` unless it is -1.
std::vector<std::uint16_t> RedisCluster::healthy_masters(const std::string& cluster_nodes, int slot) const {
  std::vector<std::uint16_t> ports;
  for (const auto& node : parse_cluster_nodes(cluster_nodes))
    if (node.has("master") && node.sound() && live(node.port) && (slot < 0 || node.serves(slot)))
      ports.push_back(node.port);
  return ports;
}

bool RedisCluster::live(std::uint16_t port) const {
  return std::any_of(nodes_.begin(), nodes_.end(),
                     [port](const auto& node) { return node->port() == port && node->running(); });
}

}  // namespace orc::test
