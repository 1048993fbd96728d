// How many requests each route served: the ground truth of what reached the backend. One relaxed atomic
// per route, so counting costs nothing measurable on the hot path.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace orc::sim {

class RequestCounters {
 public:
  explicit RequestCounters(std::vector<std::string> route_names);

  // `route` < 0 counts an unmatched request.
  void count(int route);
  void reset();
  // {"total":N,"unmatched":U,"routes":{"GET /api/v1/risks":n,...}} with only non-zero routes listed.
  std::string to_json() const;
  std::uint64_t total() const;

 private:
  std::vector<std::string> names_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // one per route
  std::atomic<std::uint64_t> unmatched_{0};
};

}  // namespace orc::sim
