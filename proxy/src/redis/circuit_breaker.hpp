// A circuit breaker in front of Redis: after `threshold` consecutive failures it opens for a cool-down
// (doubling on every failed probe, up to a maximum) and then lets exactly one probe through. While open,
// callers fail at once, so a dead or slow Redis never holds a request. Not thread-safe: one per pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace orc::redis {

class CircuitBreaker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Clock = std::function<TimePoint()>;
  enum class State { closed, open, half_open };

  CircuitBreaker(int threshold, std::chrono::milliseconds cooldown, std::chrono::milliseconds max_cooldown,
                 Clock clock = {});

  // True when the caller may send a command: closed, or the single probe once the cool-down has passed.
  // A caller that got true must report the outcome with record().
  bool allow();
  // success: Redis answered (even with an error reply). failure: unavailable or timed out.
  void record(bool success);
  // The caller that got true had no connection to send on (Redis down: the connections reconnect by
  // themselves, with their own back-off). Closed, it counts as a failure; a probe that found none opens the
  // circuit again for the same cool-down, not a doubled one: it learnt nothing of a slow Redis, and a Redis
  // that was down for a while is tried again within one short cool-down of a connection being back.
  void record_no_connection();

  // The state as callers see it now (open turns into half_open once the cool-down has passed).
  State state() const;
  std::uint64_t opens() const { return opens_; }

 private:
  void open_circuit();

  int threshold_;
  std::chrono::milliseconds min_cooldown_;
  std::chrono::milliseconds max_cooldown_;
  std::chrono::milliseconds cooldown_;
  Clock clock_;
  State state_ = State::closed;
  int failures_ = 0;
  bool probe_in_flight_ = false;
  TimePoint open_until_{};
  std::uint64_t opens_ = 0;
};

}  // namespace orc::redis
