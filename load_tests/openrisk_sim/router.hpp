// Maps a request to one of the simulator's routes, runs the backend's authentication gate and permission
// checks, and calls the route's handler. Route names ("GET /api/v1/risks/:id") are also the keys of
// /__sim/stats and of fault rules.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "openrisk_sim/api.hpp"
#include "openrisk_sim/sim_context.hpp"

namespace orc::sim {

class Router {
 public:
  explicit Router(const SimContext& ctx);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  static std::vector<std::string> route_names();

  struct Match {
    int route = -1;  // index into the route table; -1 when nothing matched
    std::vector<std::string> params;
  };
  Match match(const Request& req) const;
  RouteClass route_class(const Match& m) const;
  std::string_view route_name(const Match& m) const;  // "unmatched" when nothing matched

  Response handle(const Match& m, const Request& req) const;
  // The body the backend sends for an injected error status (production shape with a reference).
  Response fault_response(int status) const;

  struct VerifiedTokens;  // router.cpp

 private:
  const SimContext& ctx_;
  std::unique_ptr<VerifiedTokens> verified_;
};

}  // namespace orc::sim
