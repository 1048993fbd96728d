// The time the cache reads: one clock injected into everything that decides by time (freshness, stale
// windows, the L1's max age, the coalescer's memory, the Redis breaker), so tests run in simulated time.
// Asio's own timers (I/O deadlines) keep real time: they bound waits, they decide nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace orc::util {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch: stored entries carry it, so instances sharing Redis agree.
  virtual std::int64_t now_ms() const = 0;
  // A monotonic time point for durations inside this process.
  virtual std::chrono::steady_clock::time_point steady() const = 0;
  // Whole seconds since the epoch (JWT `exp` and `nbf`).
  std::int64_t now_s() const { return now_ms() / 1000; }
};

// The real clocks. Stateless: the one instance serves every thread.
class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point steady() const override { return std::chrono::steady_clock::now(); }
  static const SystemClock& instance() {
    static const SystemClock clock;
    return clock;
  }
};

// A clock that moves only when told to (tests). Both readings advance together; thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : ms_(start_ms) {}
  std::int64_t now_ms() const override { return ms_.load(std::memory_order_acquire); }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms()));
  }
  void advance(std::chrono::milliseconds d) { ms_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<std::int64_t> ms_;
};

}  // namespace orc::util
