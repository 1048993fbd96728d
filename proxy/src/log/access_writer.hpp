// The access log's writer: workers append whole lines to a bounded buffer; a thread of its own writes the
// buffer to a file descriptor in batches. A worker never waits for the descriptor: when it cannot keep up
// (a log collector that stopped reading, a full disk), lines that do not fit are dropped and counted, and
// requests go on being served. One write per batch instead of one per line also makes the log cheap.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace orc::log {

class AccessWriter {
 public:
  // A batch is written once it reaches kBatchBytes (or half the limit, when that is less), or kGather after
  // its first line: a line reaches the log at most kGather after it was appended (when the descriptor keeps
  // up).
  static constexpr std::size_t kBatchBytes = 64 * 1024;
  static constexpr std::chrono::milliseconds kGather{50};

  // Starts the writer thread. `limit`: the most bytes waiting to be written (see set_limit).
  AccessWriter(int fd, std::size_t limit);
  // stop(), then the thread is joined.
  ~AccessWriter();
  AccessWriter(const AccessWriter&) = delete;
  AccessWriter& operator=(const AccessWriter&) = delete;

  // Appends prefix + body + suffix and a newline as one line, or drops it when the buffer holds `limit`
  // bytes already. Callable from any thread; never waits for the descriptor.
  void append(std::string_view prefix, std::string_view body, std::string_view suffix);
  // The buffer's bound in bytes (a line longer than it is always dropped). Takes effect at once.
  void set_limit(std::size_t bytes);
  // Lines dropped so far because the buffer was full (or the descriptor refused them).
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Writes what is buffered and ends the thread; waits for it (at most as long as the descriptor blocks).
  // Lines appended later are kept in the buffer, never written.
  void stop();
  // Has what is buffered written now, without the gathering wait; does not wait for it.
  void write_soon();
  // Has what is buffered written now, without the gathering wait, and waits until it is, or `bound` passed
  // (a stuck descriptor): a line that may be the process's last (a critical one, std::terminate) reaches the
  // log.
  void flush(std::chrono::milliseconds bound);

 private:
  void run();
  std::size_t batch_bytes() const { return std::min(kBatchBytes, limit_ / 2); }  // under mutex_
  void write_batch(const std::string& batch);

  const int fd_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string pending_;  // under mutex_: whole lines, each ending in '\n'
  std::size_t limit_;    // under mutex_
  bool stopping_ = false;
  bool urgent_ = false;           // under mutex_: flush() asked; the next batch goes without gathering
  std::uint64_t appended_ = 0;    // under mutex_: bytes appended so far
  std::uint64_t written_ = 0;     // under mutex_: bytes taken and written (or refused) so far
  std::condition_variable done_;  // written_ moved
  std::atomic<std::uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace orc::log
