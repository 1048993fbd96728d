// The daemon under test as a child process: its config in a temp dir, its stderr captured line by line
// so tests wait for log lines (never for guessed durations), signals, exit status and peak memory.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/http_message.hpp"

namespace orc::test {

struct LogMatch {
  std::string line;                 // the whole log line (without its newline)
  std::vector<std::string> groups;  // groups[0] is the matched text, then each capture group
  std::size_t end_offset = 0;       // stderr offset just past this line: where to look for what comes next
};

struct ExitStatus {
  bool exited = false;  // ended through exit(); false when a signal killed it
  int code = -1;        // exit code when exited
  int signal = 0;       // the signal that killed it otherwise
  bool success() const { return exited && code == 0; }
  std::string describe() const;
};

class DaemonProcess {
 public:
  // Writes `config_yaml` to a fresh temp dir and starts `<executable> serve --config <that file>`, with this
  // process's environment plus `env` ("NAME=value" entries, replacing variables of the same name).
  // Throws std::runtime_error when the temp dir or the process cannot be created.
  DaemonProcess(const std::string& executable, std::string_view config_yaml,
                const std::vector<std::string>& env = {});
  // SIGKILLs the daemon when it still runs, reaps it, removes the temp dir.
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  const std::string& config_path() const { return config_path_; }
  pid_t pid() const { return pid_; }

  // The first stderr line at or after byte `from` that matches `pattern` (ECMAScript regex, searched
  // anywhere in the line). Empty when the deadline passes or the daemon's stderr closes first.
  std::optional<LogMatch> wait_for_log(const std::string& pattern, Deadline deadline = deadline_in(),
                                       std::size_t from = 0);
  // The `n`th line (from 1) that matches `pattern`, counted from the start of stderr. For a line logged once
  // per event (a reload): the daemon writes its log in batches, so a line of an earlier event may come
  // after an offset taken later, and matching from that offset would take it for the new one.
  std::optional<LogMatch> wait_for_nth_log(const std::string& pattern, std::size_t n,
                                           Deadline deadline = deadline_in());
  // Waits for "listening on 127.0.0.1:PORT" and remembers PORT.
  bool wait_listening(Deadline deadline = deadline_in());
  std::uint16_t port() const { return port_; }

  // False when the daemon has already exited (its pid may not be signalled any more).
  bool send_signal(int signal);
  // Empty when the deadline passes first. Once it returns, stderr_text() holds everything the daemon wrote.
  std::optional<ExitStatus> wait_exit(Deadline deadline = deadline_in());
  bool running() const;

  std::string stderr_text() const;
  std::string stdout_text() const;
  // While held, the daemon's stderr is not read: once the pipe's buffer is full, its writes block (a log
  // collector that stopped reading). Released, reading goes on from where it stopped.
  void hold_stderr(bool hold);
  std::size_t stderr_size() const;

  // VmHWM of /proc/PID/status in bytes: the peak resident set so far. Empty once the daemon has exited.
  std::optional<std::uint64_t> peak_rss_bytes() const;
  // VmRSS in bytes: the resident set now. Empty once the daemon has exited.
  std::optional<std::uint64_t> rss_bytes() const;
  // The number of open file descriptors (/proc/PID/fd). Empty once the daemon has exited.
  std::optional<std::size_t> fd_count() const;

 private:
  void read_output(int out_fd, int err_fd);
  void reap();

  std::string dir_;
  std::string config_path_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string stdout_;
  std::string stderr_;
  bool output_closed_ = false;
  bool exited_ = false;  // set before the zombie is reaped, so a pid that is still ours is never reused
  ExitStatus status_;

  bool hold_stderr_ = false;
  int wake_[2] = {-1, -1};  // hold_stderr() writes to [1] to wake the reader's poll
  std::thread reader_;
  std::thread reaper_;
};

// Runs `argv` (argv[0] the executable) to its end with stdin from /dev/null and returns what it wrote to
// stdout; its stderr goes to this process's. `status` receives how it ended. A process still running at
// `deadline` is killed (and a test failure added).
std::string run_command(const std::vector<std::string>& argv, ExitStatus& status,
                        Deadline deadline = deadline_in());

}  // namespace orc::test
