// openrisk-sim as a child process for the black-box tests: started on a free port in a temp dir, its stderr
// read line by line so tests wait for log lines (never for guessed durations), stopped with SIGTERM.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace orc::sim::test {

class SimProcess {
 public:
  // Starts openrisk-sim with `--listen 127.0.0.1:0 --jwt-key-out <tmp>/key` and the test key plus `args`, and
  // waits (up to 30 s) for its "listening on" line. Throws std::runtime_error when it does not come up.
  explicit SimProcess(std::vector<std::string> args = {});
  ~SimProcess();  // SIGTERM, then SIGKILL if it has not exited within 10 s
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& key_path() const { return key_path_; }
  std::string key_material() const;  // the file's contents
  pid_t pid() const { return pid_; }

  // The first stderr line containing `needle`, waiting up to `timeout`.
  std::optional<std::string> wait_for_line(const std::string& needle, std::chrono::milliseconds timeout);
  // SIGTERM and wait (up to `timeout`); the exit code, or -1 when it did not exit normally in time.
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::string stderr_text();

 private:
  void read_stderr(int fd);
  void cleanup();

  pid_t pid_ = -1;
  bool reaped_ = false;
  std::uint16_t port_ = 0;
  std::string dir_;
  std::string key_path_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

}  // namespace orc::sim::test
