// Route handlers, grouped by area (auth_handlers.cpp, data_handlers.cpp, sim_handlers.cpp). Internal to the
// simulator library: only router.cpp and the handler files include this.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "openrisk_sim/api.hpp"
#include "openrisk_sim/sim_context.hpp"
#include "openrisk_sim/store.hpp"

namespace orc::sim {

// The authenticated caller, as the gate derived it from the token.
struct Caller {
  const User* user = nullptr;
  std::string tenant_id;
  std::vector<std::string> permissions;
  std::string jti;
};

struct Call {
  const SimContext& ctx;
  const Request& req;
  const Caller* caller;  // null on public routes
  const std::vector<std::string>& params;
  std::int64_t now;  // seconds since the epoch
};

using Handler = Response (*)(const Call&);

// Helpers shared by the handler files.
Response json_reply(int status, std::string body, std::uint64_t version = 0, std::string tenant = {});
Response error_reply(int status, std::string_view message, std::uint64_t version = 0);  // {"error":"..."}
Response fiber_error(int status, std::string_view message,
                     std::uint64_t version = 0);  // {"error":true,"msg":...}
Response from_store(StoreReply reply, const std::string& tenant_id);
std::optional<boost::json::object> parse_object(const std::string& body);

// auth_handlers.cpp
Response health(const Call& c);
Response auth_login(const Call& c);
Response auth_refresh(const Call& c);
Response auth_logout(const Call& c);
Response auth_me(const Call& c);
Response users_me(const Call& c);
Response auth_organizations(const Call& c);
Response auth_switch_org(const Call& c);
Response member_role_put(const Call& c);

// data_handlers.cpp
Response risks_list(const Call& c);
Response risk_get(const Call& c);
Response risk_create(const Call& c);
Response risk_patch(const Call& c);
Response risk_delete(const Call& c);
Response risk_mitigations(const Call& c);
Response mitigation_create(const Call& c);
Response mitigations_list(const Call& c);
Response mitigation_get(const Call& c);
Response mitigation_patch(const Call& c);
Response mitigation_delete(const Call& c);
Response sub_action_create(const Call& c);
Response sub_action_patch(const Call& c);
Response sub_action_complete(const Call& c);
Response sub_action_revert(const Call& c);
Response sub_action_delete(const Call& c);
Response stats(const Call& c);
Response stats_risk_matrix(const Call& c);
Response stats_trends(const Call& c);
Response stats_risk_distribution(const Call& c);
Response stats_mitigation_metrics(const Call& c);
Response assets_list(const Call& c);
Response asset_create(const Call& c);
Response marketplace_connectors(const Call& c);
Response mitigation_events(const Call& c);
Response export_pdf(const Call& c);

// sim_handlers.cpp
Response sim_stats(const Call& c);
Response sim_reset(const Call& c);
Response sim_faults_add(const Call& c);
Response sim_faults_list(const Call& c);
Response sim_faults_clear(const Call& c);
Response sim_seed(const Call& c);

}  // namespace orc::sim
