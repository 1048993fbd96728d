// The /__sim control routes: request counters, reset, fault rules and the seed directory for tests.
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>

#include <variant>

#include "openrisk_sim/auth_sessions.hpp"
#include "openrisk_sim/faults.hpp"
#include "openrisk_sim/handlers.hpp"
#include "openrisk_sim/request_counters.hpp"
#include "openrisk_sim/sse_hub.hpp"

namespace orc::sim {

namespace json = boost::json;

Response sim_stats(const Call& c) {
  boost::system::error_code ec;
  json::value v = json::parse(c.ctx.counters.to_json(), ec);
  json::object& o = v.as_object();
  json::object versions;
  for (auto& t : c.ctx.store.tenants()) versions[t.id] = c.ctx.store.version(t.id);
  o["versions"] = std::move(versions);
  o["sse_subscribers"] = c.ctx.hub.subscribers();
  return json_reply(200, json::serialize(o));
}

Response sim_reset(const Call& c) {
  c.ctx.store.reset();
  c.ctx.counters.reset();
  c.ctx.sessions.clear();
  std::size_t faults = c.ctx.faults.clear();
  json::object o{{"reset", true}, {"faults_cleared", faults}};
  return json_reply(200, json::serialize(o));
}

// Body: one rule object, or {"faults":[rule, ...]}. All rules are validated before any is added.
Response sim_faults_add(const Call& c) {
  boost::system::error_code ec;
  json::value v = json::parse(c.req.body, ec);
  if (ec) return error_reply(400, "body must be JSON");
  std::vector<FaultRule> rules;
  auto take = [&](const json::value& one) -> std::string {
    auto parsed = FaultTable::parse(one);
    if (auto* err = std::get_if<std::string>(&parsed)) return *err;
    rules.push_back(std::get<FaultRule>(std::move(parsed)));
    return {};
  };
  if (v.is_object() && v.as_object().contains("faults")) {
    const json::value& list = v.as_object().at("faults");
    if (!list.is_array()) return error_reply(400, "'faults' must be an array");
    for (auto& one : list.as_array())
      if (auto err = take(one); !err.empty()) return error_reply(400, err);
  } else if (auto err = take(v); !err.empty()) {
    return error_reply(400, err);
  }
  for (auto& r : rules)
    if (!c.ctx.faults.add(std::move(r))) return error_reply(409, "fault table is full");
  Response r = json_reply(201, c.ctx.faults.to_json());
  return r;
}

Response sim_faults_list(const Call& c) {
  return json_reply(200, c.ctx.faults.to_json());
}

Response sim_faults_clear(const Call& c) {
  json::object o{{"cleared", c.ctx.faults.clear()}};
  return json_reply(200, json::serialize(o));
}

// Who can log in where: the test suites' directory of seeded tenants and users.
Response sim_seed(const Call& c) {
  json::array tenants;
  for (auto& t : c.ctx.store.tenants()) {
    json::array sample;
    for (auto& id : c.ctx.store.risk_ids(t.id, 5)) sample.push_back(json::value(id));
    tenants.push_back(json::object{{"id", t.id},
                                   {"name", t.name},
                                   {"slug", t.slug},
                                   {"plan", t.plan},
                                   {"risks", c.ctx.store.risk_count(t.id)},
                                   {"sample_risk_ids", std::move(sample)}});
  }
  json::array users;
  for (auto& u : c.ctx.store.users()) {
    json::array ms;
    for (auto& m : u.memberships)
      ms.push_back(json::object{{"tenant_id", m.tenant_id},
                                {"role", org_role_name(m.role)},
                                {"business_role", m.business_role},
                                {"permissions", json::value_from(permissions_for(m))}});
    users.push_back(json::object{{"id", u.id},
                                 {"email", u.email},
                                 {"password", u.password},
                                 {"default_tenant", u.default_tenant},
                                 {"memberships", std::move(ms)}});
  }
  json::object o{{"tenants", std::move(tenants)}, {"users", std::move(users)}};
  return json_reply(200, json::serialize(o));
}

}  // namespace orc::sim
