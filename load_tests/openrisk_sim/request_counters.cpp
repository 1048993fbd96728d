// Per-route request counters, rendered as JSON for GET /__sim/stats.
#include "openrisk_sim/request_counters.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace orc::sim {

RequestCounters::RequestCounters(std::vector<std::string> route_names)
    : names_(std::move(route_names)), counts_(new std::atomic<std::uint64_t>[names_.size()]) {
  reset();
}

void RequestCounters::count(int route) {
  if (route < 0 || static_cast<std::size_t>(route) >= names_.size())
    unmatched_.fetch_add(1, std::memory_order_relaxed);
  else
    counts_[static_cast<std::size_t>(route)].fetch_add(1, std::memory_order_relaxed);
}

void RequestCounters::reset() {
  for (std::size_t i = 0; i < names_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
  unmatched_.store(0, std::memory_order_relaxed);
}

std::uint64_t RequestCounters::total() const {
  std::uint64_t sum = unmatched_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < names_.size(); ++i) sum += counts_[i].load(std::memory_order_relaxed);
  return sum;
}

std::string RequestCounters::to_json() const {
  boost::json::object routes;
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    std::uint64_t n = counts_[i].load(std::memory_order_relaxed);
    sum += n;
    if (n) routes[names_[i]] = n;  // HEAD requests are counted with their GET route
  }
  std::uint64_t unmatched = unmatched_.load(std::memory_order_relaxed);
  boost::json::object o{{"total", sum + unmatched}, {"unmatched", unmatched}, {"routes", std::move(routes)}};
  return boost::json::serialize(o);
}

}  // namespace orc::sim
