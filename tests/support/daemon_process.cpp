// Spawning, watching and stopping the daemon under test.
#include "support/daemon_process.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <stdexcept>

#include "support/proc_stats.hpp"

extern char** environ;

namespace orc::test {

std::string ExitStatus::describe() const {
  if (exited) return "exited with status " + std::to_string(code);
  return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

DaemonProcess::DaemonProcess(const std::string& executable, std::string_view config_yaml,
                             const std::vector<std::string>& env) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/orc-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  dir_ = pattern;
  config_path_ = dir_ + "/config.yaml";
  {
    std::ofstream out(config_path_, std::ios::binary);
    out << config_yaml;
    // Every listener of a test daemon binds a free port: the admin listener's default (127.0.0.1:9464)
    // would collide between daemons running side by side.
    std::string_view text = config_yaml;
    if (text.rfind("admin:", 0) != 0 && text.find("\nadmin:") == std::string_view::npos)
      out << (text.empty() || text.back() == '\n' ? "" : "\n") << "admin: { listen: 127.0.0.1:0 }\n";
    if (!out) throw std::runtime_error("cannot write " + config_path_);
  }

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) < 0 || ::pipe2(err_pipe, O_CLOEXEC) < 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<std::string> args = {executable, "serve", "--config", config_path_};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The inherited environment without the names `env` sets, then `env`.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view var(*e);
    bool replaced = false;
    for (const auto& add : env)
      if (var.substr(0, var.find('=') + 1) == std::string_view(add).substr(0, add.find('=') + 1))
        replaced = true;
    if (!replaced) env_strings.emplace_back(var);
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  int rc = ::posix_spawn(&pid_, executable.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::runtime_error("posix_spawn " + executable + ": " + std::strerror(rc));
  }
  if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  reader_ = std::thread([this, out = out_pipe[0], err = err_pipe[0]] { read_output(out, err); });
  reaper_ = std::thread([this] { reap(); });
}

DaemonProcess::~DaemonProcess() {
  {
    std::lock_guard lock(mutex_);
    if (!exited_) ::kill(pid_, SIGKILL);
  }
  hold_stderr(false);  // the reader reads the daemon's output to its end
  reaper_.join();
  reader_.join();
  ::close(wake_[0]);
  ::close(wake_[1]);
  // A sanitizer build (make test-asan / test-tsan) reports on stderr and may go on running: a report fails
  // the test that started this daemon.
  for (const char* marker :
       {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer"}) {
    auto at = stderr_.find(marker);
    if (at == std::string::npos) continue;
    ADD_FAILURE() << "sanitizer report from the daemon (" << marker << "):\n" << stderr_.substr(at, 6000);
    break;
  }
  std::remove(config_path_.c_str());
  ::rmdir(dir_.c_str());
}

void DaemonProcess::hold_stderr(bool hold) {
  {
    std::lock_guard lock(mutex_);
    if (hold_stderr_ == hold) return;
    hold_stderr_ = hold;
  }
  const char byte = 1;
  while (::write(wake_[1], &byte, 1) < 0 && errno == EINTR) {
  }
}

void DaemonProcess::read_output(int out_fd, int err_fd) {
  int fds_open = 2;
  const int own[2] = {out_fd, err_fd};
  bool closed[2] = {false, false};
  // [2]: hold_stderr() wakes the poll to change what it waits for.
  pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
  char buf[64 * 1024];
  while (fds_open > 0) {
    {
      std::lock_guard lock(mutex_);
      // A negative descriptor is ignored by poll: a held stderr is left unread, so its pipe fills up.
      fds[1].fd = closed[1] || hold_stderr_ ? -1 : own[1];
    }
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) {
      char drain[16];
      while (::read(wake_[0], drain, sizeof drain) < 0 && errno == EINTR) {
      }
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;  // poll ignores negative descriptors
        closed[i] = true;
        --fds_open;
        continue;
      }
      {
        std::lock_guard lock(mutex_);
        (i == 0 ? stdout_ : stderr_).append(buf, static_cast<std::size_t>(n));
      }
      cv_.notify_all();
    }
  }
  for (int i = 0; i < 2; ++i)
    if (!closed[i]) ::close(own[i]);
  {
    std::lock_guard lock(mutex_);
    output_closed_ = true;
  }
  cv_.notify_all();
}

void DaemonProcess::reap() {
  // Wait without reaping first: while the zombie exists its pid cannot be reused, and exited_ is set
  // under the lock before the pid is released, so send_signal() never hits a stranger.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  int status = 0;
  {
    std::lock_guard lock(mutex_);
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_.exited = WIFEXITED(status);
    status_.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    status_.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    exited_ = true;
  }
  cv_.notify_all();
}

std::optional<LogMatch> DaemonProcess::wait_for_log(const std::string& pattern, Deadline deadline,
                                                    std::size_t from) {
  const std::regex re(pattern);
  // The lines are matched outside the lock: a regex over megabytes of access log takes seconds in a
  // sanitizer build, and the reader, blocked meanwhile, would let the daemon's stderr pipe fill up (its
  // access log then drops lines, the very lines waited for).
  std::size_t pos = from;
  for (;;) {
    std::string chunk;
    bool closed = false;
    {
      std::unique_lock lock(mutex_);
      cv_.wait_until(lock, deadline,
                     [&] { return output_closed_ || stderr_.find('\n', pos) != std::string::npos; });
      closed = output_closed_;
      const auto last = stderr_.rfind('\n');
      const std::size_t end =
          closed ? stderr_.size() : (last == std::string::npos || last < pos ? pos : last + 1);
      if (end > pos) chunk = stderr_.substr(pos, end - pos);
    }
    std::size_t at = 0;
    while (at < chunk.size()) {
      auto nl = chunk.find('\n', at);
      const std::size_t line_end = nl == std::string::npos ? chunk.size() : nl;
      std::string line = chunk.substr(at, line_end - at);
      std::smatch m;
      if (std::regex_search(line, m, re)) {
        LogMatch match;
        for (const auto& g : m) match.groups.push_back(g.str());
        match.line = std::move(line);
        match.end_offset = pos + std::min(line_end + 1, chunk.size());
        return match;
      }
      at = line_end + 1;
    }
    pos += chunk.size();
    if (closed || Clock::now() >= deadline) return std::nullopt;
  }
}

std::optional<LogMatch> DaemonProcess::wait_for_nth_log(const std::string& pattern, std::size_t n,
                                                        Deadline deadline) {
  std::optional<LogMatch> match;
  for (std::size_t from = 0; n > 0; --n) {
    match = wait_for_log(pattern, deadline, from);
    if (!match) return std::nullopt;
    from = match->end_offset;
  }
  return match;
}

bool DaemonProcess::wait_listening(Deadline deadline) {
  auto match = wait_for_log(R"(listening on 127\.0\.0\.1:(\d+))", deadline);
  if (!match) return false;
  port_ = static_cast<std::uint16_t>(std::stoi(match->groups[1]));
  return port_ != 0;
}

bool DaemonProcess::send_signal(int signal) {
  std::lock_guard lock(mutex_);
  if (exited_) return false;
  return ::kill(pid_, signal) == 0;
}

std::optional<ExitStatus> DaemonProcess::wait_exit(Deadline deadline) {
  std::unique_lock lock(mutex_);
  if (!cv_.wait_until(lock, deadline, [&] { return exited_; })) return std::nullopt;
  // The reader may still be draining the pipes: callers expect all of stderr once the daemon has exited.
  cv_.wait_until(lock, deadline, [&] { return output_closed_; });
  return status_;
}

bool DaemonProcess::running() const {
  std::lock_guard lock(mutex_);
  return !exited_;
}

std::string DaemonProcess::stderr_text() const {
  std::lock_guard lock(mutex_);
  return stderr_;
}

std::string DaemonProcess::stdout_text() const {
  std::lock_guard lock(mutex_);
  return stdout_;
}

std::size_t DaemonProcess::stderr_size() const {
  std::lock_guard lock(mutex_);
  return stderr_.size();
}

std::optional<std::uint64_t> DaemonProcess::peak_rss_bytes() const {
  std::lock_guard lock(mutex_);  // keeps the pid ours while /proc is read
  if (exited_) return std::nullopt;
  return proc_peak_rss_bytes(pid_);
}

std::optional<std::uint64_t> DaemonProcess::rss_bytes() const {
  std::lock_guard lock(mutex_);
  if (exited_) return std::nullopt;
  return proc_rss_bytes(pid_);
}

std::optional<std::size_t> DaemonProcess::fd_count() const {
  std::lock_guard lock(mutex_);
  if (exited_) return std::nullopt;
  return proc_fd_count(pid_);
}

std::string run_command(const std::vector<std::string>& argv, ExitStatus& status, Deadline deadline) {
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::runtime_error("posix_spawn " + argv.at(0) + " failed: " + std::strerror(rc));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      ADD_FAILURE() << argv.at(0) << " did not finish in time; killed";
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) break;
    if (p.revents == 0) continue;
    auto n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  status = {};
  if (WIFEXITED(ws)) {
    status.exited = true;
    status.code = WEXITSTATUS(ws);
  } else if (WIFSIGNALED(ws)) {
    status.signal = WTERMSIG(ws);
  }
  return out;
}

}  // namespace orc::test
