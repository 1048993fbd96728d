// The HTTP/1.1 server: an acceptor and one coroutine per connection on its own strand, N threads on one
// io_context. Applies latency and faults around the router. Beast stays inside server.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "openrisk_sim/sim_context.hpp"

namespace orc::sim {

class Router;

class SimServer {
 public:
  SimServer(const SimContext& ctx, const Router& router);
  ~SimServer();
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  // Binds and listens; returns the bound port. Startup only: throws on failure.
  std::uint16_t listen(const std::string& host, std::uint16_t port);
  // Serves on `threads` threads (the caller's included) until SIGINT/SIGTERM or stop().
  void run(int threads);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orc::sim
