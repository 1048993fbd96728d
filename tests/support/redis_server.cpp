// Spawning, probing and stopping a test redis-server.
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

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
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
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/orc-redis-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  dir_ = pattern;
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

bool RedisServer::spawn() {
  std::error_code ignored;
  std::filesystem::remove(dir_ + "/redis.log", ignored);  // a restart must not find the last run's line
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
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  // fork + exec rather than posix_spawn: the child asks for SIGKILL when the test process dies, so a
  // crashed test never leaves a server behind. Only async-signal-safe calls between fork and exec.
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
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
  std::optional<std::string> reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    std::string got;
    while (got.find("\r\n") == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
      char buf[256];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    if (auto end = got.find("\r\n"); end != std::string::npos) reply = got.substr(0, end);
  }
  ::close(fd);
  return reply;
}

}  // namespace orc::test
