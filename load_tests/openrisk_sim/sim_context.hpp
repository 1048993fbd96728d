// Everything a handler may touch, built once by main and shared by every session.
#pragma once

#include "openrisk_sim/sim_options.hpp"

namespace orc::sim {

class Store;
class JwtCodec;
class RefreshSessions;
class SseHub;
class FaultTable;
class RequestCounters;

struct SimContext {
  const SimOptions& opts;
  Store& store;
  const JwtCodec& jwt;
  RefreshSessions& sessions;
  SseHub& hub;
  FaultTable& faults;
  RequestCounters& counters;
};

}  // namespace orc::sim
