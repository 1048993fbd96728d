// Spawning, watching and stopping the simulator under test.
#include "sim_process.hpp"

#include "support/paths.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace orc::sim::test {

SimProcess::SimProcess(std::vector<std::string> args) {
  char tmpl[] = "/tmp/orc-sim-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  key_path_ = dir_ + "/jwt_key";
  std::vector<std::string> argv_s = {orc::test::sim_path(), "--listen", "127.0.0.1:0", "--jwt-key-out",
                                     key_path_};
  for (auto& flag : orc::test::sim_key_flags(args)) argv_s.push_back(std::move(flag));
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  int rc = posix_spawn(&pid_, orc::test::sim_path().c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::runtime_error("posix_spawn failed");
  }
  reader_ = std::thread([this, fd = fds[0]] { read_stderr(fd); });

  auto line = wait_for_line("listening on 127.0.0.1:", std::chrono::seconds(30));
  std::smatch m;
  if (!line || !std::regex_search(*line, m, std::regex("listening on 127\\.0\\.0\\.1:(\\d+)"))) {
    std::string text = stderr_text();
    cleanup();  // the destructor does not run for a throwing constructor
    throw std::runtime_error("openrisk-sim did not start:\n" + text);
  }
  port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
}

SimProcess::~SimProcess() {
  cleanup();
}

void SimProcess::cleanup() {
  if (!reaped_) {
    if (terminate(std::chrono::seconds(10)) < 0 && !reaped_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      reaped_ = true;
    }
  }
  if (reader_.joinable()) reader_.join();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void SimProcess::read_stderr(int fd) {
  std::string partial;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      {
        std::lock_guard lock(mu_);
        lines_.push_back(partial.substr(0, nl));
      }
      cv_.notify_all();
      partial.erase(0, nl + 1);
    }
  }
  close(fd);
  std::lock_guard lock(mu_);
  if (!partial.empty()) lines_.push_back(partial);
  eof_ = true;
  cv_.notify_all();
}

std::optional<std::string> SimProcess::wait_for_line(const std::string& needle,
                                                     std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::optional<std::string> found;
  cv_.wait_for(lock, timeout, [&] {
    for (auto& l : lines_)
      if (l.find(needle) != std::string::npos) {
        found = l;
        return true;
      }
    return eof_;
  });
  return found;
}

int SimProcess::terminate(std::chrono::milliseconds timeout) {
  if (reaped_) return -1;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // Poll waitpid: a child has no other portable "exited" notification we can wait on with a deadline.
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

std::string SimProcess::key_material() const {
  std::ifstream in(key_path_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SimProcess::stderr_text() {
  std::lock_guard lock(mu_);
  std::string out;
  for (auto& l : lines_) out += l + "\n";
  return out;
}

}  // namespace orc::sim::test
