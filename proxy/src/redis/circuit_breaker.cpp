// The Redis circuit breaker's state machine.
#include "redis/circuit_breaker.hpp"

#include <algorithm>

namespace orc::redis {

CircuitBreaker::CircuitBreaker(int threshold, std::chrono::milliseconds cooldown,
                               std::chrono::milliseconds max_cooldown, Clock clock)
    : threshold_(std::max(threshold, 1)),
      min_cooldown_(cooldown),
      max_cooldown_(std::max(cooldown, max_cooldown)),
      cooldown_(cooldown),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

bool CircuitBreaker::allow() {
  switch (state_) {
    case State::closed:
      return true;
    case State::open:
      if (clock_() < open_until_) return false;
      state_ = State::half_open;
      probe_in_flight_ = true;
      return true;
    case State::half_open:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::record(bool success) {
  if (success) {
    failures_ = 0;
    if (state_ != State::closed) {
      state_ = State::closed;
      cooldown_ = min_cooldown_;
      probe_in_flight_ = false;
    }
    return;
  }
  switch (state_) {
    case State::closed:
      if (++failures_ >= threshold_) open_circuit();
      break;
    case State::half_open:  // the probe failed: wait longer before the next one
      cooldown_ = std::min(cooldown_ * 2, max_cooldown_);
      open_circuit();
      break;
    case State::open:  // a command sent before the circuit opened: already counted
      break;
  }
}

void CircuitBreaker::record_no_connection() {
  if (state_ == State::half_open)
    open_circuit();
  else
    record(false);
}

CircuitBreaker::State CircuitBreaker::state() const {
  if (state_ == State::open && clock_() >= open_until_) return State::half_open;
  return state_;
}

void CircuitBreaker::open_circuit() {
  state_ = State::open;
  probe_in_flight_ = false;
  failures_ = 0;
  open_until_ = clock_() + cooldown_;
  ++opens_;
}

}  // namespace orc::redis
