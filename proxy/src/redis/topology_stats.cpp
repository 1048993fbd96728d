// The process's one TopologyStats (see topology_stats.hpp).
#include "redis/topology_stats.hpp"

namespace orc::redis {

TopologyStats& topology_stats() {
  static TopologyStats stats;
  return stats;
}

}  // namespace orc::redis
