// Injected faults (POST /__sim/faults) and the added latency model. Both are consulted by the session
// before a request reaches its handler; delays are timer waits, never a blocked thread.
#pragma once

#include <boost/json/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "openrisk_sim/sim_options.hpp"

namespace orc::sim {

enum class FaultMode {
  error,  // answer `status` (500) with the backend's production error body; the handler does not run
  hang,   // read the request, never answer; the connection is held until the client leaves or `delay` ends
  close,  // send the head and part of the body (or half the head when there is no body), then close
  slow,   // wait `delay` more before handling the request
};
const char* fault_mode_name(FaultMode m);

struct FaultRule {
  std::string
      route;  // a route name from /__sim/stats ("GET /api/v1/risks/:id"), "*", or a prefix ending in '*'
  FaultMode mode = FaultMode::error;
  int status = 500;
  std::chrono::milliseconds delay{0};
  std::int64_t remaining = -1;    // requests left before the rule retires itself; -1: until cleared
  std::int64_t after_bytes = -1;  // close: body bytes sent before closing; -1: half
  std::uint64_t hits = 0;
};

struct FaultHit {
  FaultMode mode;
  int status;
  std::chrono::milliseconds delay;
  std::int64_t after_bytes;
};

class FaultTable {
 public:
  static constexpr std::size_t kMaxRules = 256;

  // Parses one rule object; the error message on bad input.
  static std::variant<FaultRule, std::string> parse(const boost::json::value& v);

  // False when the table is full.
  bool add(FaultRule rule);
  // The first rule matching `route_name`, consuming one of its `remaining` uses.
  std::optional<FaultHit> take(std::string_view route_name);
  std::size_t clear();
  std::string to_json() const;

 private:
  mutable std::mutex mu_;
  std::vector<FaultRule> rules_;
};

class LatencyModel {
 public:
  explicit LatencyModel(const SimOptions& opts);
  // base +/- uniform jitter for the class, never negative. Thread-safe (per-thread generators).
  std::chrono::milliseconds draw(RouteClass c) const;

 private:
  LatencySpec specs_[6];
};

}  // namespace orc::sim
