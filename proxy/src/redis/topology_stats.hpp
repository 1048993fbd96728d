// Process-wide counts of what the Redis topology did (Cluster redirections and slot maps, Sentinel
// failovers), kept by the redis layer on any thread and read by the metrics at each scrape.
#pragma once

#include <atomic>
#include <cstdint>

namespace orc::redis {

struct TopologyStats {
  std::atomic<std::uint64_t> cluster_moved{0};        // MOVED answers followed
  std::atomic<std::uint64_t> cluster_ask{0};          // ASK answers followed
  std::atomic<std::uint64_t> cluster_maps{0};         // slot maps learnt (CLUSTER SLOTS)
  std::atomic<std::uint64_t> cluster_maps_failed{0};  // refreshes that found no node giving a map
  std::atomic<std::uint64_t> cluster_masters{0};      // masters in the map learnt last, by any worker
  std::atomic<std::uint64_t> sentinel_failovers{0};   // master address changes after the first
};

TopologyStats& topology_stats();

}  // namespace orc::redis
