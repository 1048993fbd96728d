// The route table, path matching and the authentication gate (HEAD: RS256 bearer or cookie with CSRF on
// writes; P5: HS256 bearer only), with the backend's 401/403/404 bodies.
#include "openrisk_sim/router.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>
#include <mutex>
#include <unordered_map>
#include <variant>

#include "openrisk_sim/auth_sessions.hpp"
#include "openrisk_sim/handlers.hpp"
#include "openrisk_sim/jwt.hpp"
#include "openrisk_sim/text.hpp"

namespace orc::sim {

namespace json = boost::json;

namespace {

enum class Gate { open, jwt };

struct RouteDef {
  const char* method;
  const char* path;  // full path; ":x" segments are parameters
  RouteClass cls;
  Gate gate;
  const char* permission;  // nullptr: any valid token
  Handler handler;
};

constexpr const char* kApi = "/api/v1";

// Order matters where a static segment and a parameter compete (/mitigations/events before /mitigations/:id).
const RouteDef kRoutes[] = {
    {"GET", "/api/v1/health", RouteClass::health, Gate::open, nullptr, health},
    {"POST", "/api/v1/auth/login", RouteClass::auth, Gate::open, nullptr, auth_login},
    {"POST", "/api/v1/auth/refresh", RouteClass::auth, Gate::open, nullptr, auth_refresh},
    {"POST", "/api/v1/auth/logout", RouteClass::auth, Gate::open, nullptr, auth_logout},
    {"GET", "/api/v1/auth/me", RouteClass::auth, Gate::jwt, nullptr, auth_me},
    {"GET", "/api/v1/auth/organizations", RouteClass::auth, Gate::jwt, nullptr, auth_organizations},
    {"POST", "/api/v1/auth/switch-org", RouteClass::auth, Gate::jwt, nullptr, auth_switch_org},
    {"PUT", "/api/v1/organization/members/:memberId/role", RouteClass::write, Gate::jwt,
     "organization:members:update", member_role_put},
    {"GET", "/api/v1/users/me", RouteClass::read, Gate::jwt, nullptr, users_me},
    {"GET", "/api/v1/risks", RouteClass::read, Gate::jwt, "risks:read", risks_list},
    {"POST", "/api/v1/risks", RouteClass::write, Gate::jwt, "risks:create", risk_create},
    {"GET", "/api/v1/risks/:id", RouteClass::read, Gate::jwt, "risks:read", risk_get},
    {"PATCH", "/api/v1/risks/:id", RouteClass::write, Gate::jwt, "risks:update", risk_patch},
    {"DELETE", "/api/v1/risks/:id", RouteClass::write, Gate::jwt, "risks:delete", risk_delete},
    {"GET", "/api/v1/risks/:id/mitigations", RouteClass::read, Gate::jwt, "mitigations:read",
     risk_mitigations},
    {"POST", "/api/v1/risks/:id/mitigations", RouteClass::write, Gate::jwt, "mitigations:create",
     mitigation_create},
    {"GET", "/api/v1/mitigations/events", RouteClass::stream, Gate::jwt, nullptr, mitigation_events},
    {"GET", "/api/v1/mitigations", RouteClass::read, Gate::jwt, "mitigations:read", mitigations_list},
    {"GET", "/api/v1/mitigations/:id", RouteClass::read, Gate::jwt, "mitigations:read", mitigation_get},
    {"PATCH", "/api/v1/mitigations/:id", RouteClass::write, Gate::jwt, "mitigations:update",
     mitigation_patch},
    {"DELETE", "/api/v1/mitigations/:id", RouteClass::write, Gate::jwt, "mitigations:delete",
     mitigation_delete},
    {"POST", "/api/v1/mitigations/:id/sub-actions", RouteClass::write, Gate::jwt, "mitigations:create",
     sub_action_create},
    {"PATCH", "/api/v1/mitigations/:id/sub-actions/:aid", RouteClass::write, Gate::jwt, "mitigations:update",
     sub_action_patch},
    {"POST", "/api/v1/mitigations/:id/sub-actions/:aid/complete", RouteClass::write, Gate::jwt,
     "mitigations:update", sub_action_complete},
    {"POST", "/api/v1/mitigations/:id/sub-actions/:aid/revert", RouteClass::write, Gate::jwt,
     "mitigations:update", sub_action_revert},
    {"DELETE", "/api/v1/mitigations/:id/sub-actions/:aid", RouteClass::write, Gate::jwt, "mitigations:delete",
     sub_action_delete},
    {"GET", "/api/v1/stats", RouteClass::read, Gate::jwt, nullptr, stats},
    {"GET", "/api/v1/stats/risk-matrix", RouteClass::read, Gate::jwt, nullptr, stats_risk_matrix},
    {"GET", "/api/v1/stats/trends", RouteClass::read, Gate::jwt, nullptr, stats_trends},
    {"GET", "/api/v1/stats/risk-distribution", RouteClass::read, Gate::jwt, nullptr, stats_risk_distribution},
    {"GET", "/api/v1/stats/mitigation-metrics", RouteClass::read, Gate::jwt, nullptr,
     stats_mitigation_metrics},
    {"GET", "/api/v1/assets", RouteClass::read, Gate::jwt, "assets:read", assets_list},
    {"POST", "/api/v1/assets", RouteClass::write, Gate::jwt, "assets:create", asset_create},
    {"GET", "/api/v1/marketplace/connectors", RouteClass::read, Gate::jwt, nullptr, marketplace_connectors},
    {"GET", "/api/v1/export/pdf", RouteClass::stream, Gate::jwt, nullptr, export_pdf},
    // The simulator's own control routes: never counted, delayed or faulted.
    {"GET", "/__sim/stats", RouteClass::sim, Gate::open, nullptr, sim_stats},
    {"POST", "/__sim/reset", RouteClass::sim, Gate::open, nullptr, sim_reset},
    {"GET", "/__sim/faults", RouteClass::sim, Gate::open, nullptr, sim_faults_list},
    {"POST", "/__sim/faults", RouteClass::sim, Gate::open, nullptr, sim_faults_add},
    {"DELETE", "/__sim/faults", RouteClass::sim, Gate::open, nullptr, sim_faults_clear},
    {"GET", "/__sim/seed", RouteClass::sim, Gate::open, nullptr, sim_seed},
};
constexpr int kRouteCount = static_cast<int>(sizeof kRoutes / sizeof kRoutes[0]);

bool match_path(std::string_view pattern, std::string_view path, std::vector<std::string>& params) {
  params.clear();
  while (!pattern.empty() && !path.empty()) {
    if (pattern.front() != '/' || path.front() != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    auto pe = pattern.find('/');
    auto se = path.find('/');
    std::string_view pseg = pattern.substr(0, pe), sseg = path.substr(0, se);
    if (!pseg.empty() && pseg.front() == ':') {
      if (sseg.empty()) return false;
      params.emplace_back(sseg);
    } else if (!iequals(pseg, sseg)) {  // Fiber's default CaseSensitive: false (openrisk-api.md section 11)
      return false;
    }
    pattern.remove_prefix(pseg.size());
    path.remove_prefix(sseg.size());
  }
  return pattern.empty() && path.empty();
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_write(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

struct GateResult {
  std::optional<Caller> caller;
  Response denial;  // when no caller
};

std::int64_t exp_of(const json::object& claims) {
  const json::value* exp = claims.if_contains("exp");
  return exp && exp->is_int64() ? exp->as_int64() : 0;
}

}  // namespace

// Verified tokens and the caller they resolve to, so a client reusing its token costs one lookup instead
// of an RSA verification and a JSON parse (the simulator must not be the bottleneck of a benchmark).
// Bounded: emptied when full. Tokens cannot be revoked here (like the backend), so only `exp` matters.
struct Router::VerifiedTokens {
  static constexpr std::size_t kCapacity = 8192;
  struct Entry {
    Caller caller;
    std::int64_t exp;
  };
  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;

  std::optional<Caller> find(const std::string& token, std::int64_t now) {
    std::lock_guard lock(mu);
    auto it = entries.find(token);
    if (it == entries.end()) return std::nullopt;
    if (it->second.exp <= now) {
      entries.erase(it);
      return std::nullopt;
    }
    return it->second.caller;
  }
  void put(const std::string& token, const Caller& caller, std::int64_t exp) {
    std::lock_guard lock(mu);
    if (entries.size() >= kCapacity) entries.clear();
    entries[token] = Entry{caller, exp};
  }
};

namespace {

Response head_401(std::string_view code, std::string_view message) {
  json::object o{{"code", code}, {"message", message}};
  return json_reply(401, json::serialize(o));
}

// HEAD: bearer header first, then the or_access cookie (writes then need X-CSRF-Token == or_csrf).
// The SSE route also takes ?token=, as browsers' EventSource cannot send headers.
GateResult gate_rs256(const SimContext& ctx, Router::VerifiedTokens& cache, const Request& req,
                      bool query_token) {
  std::string token;
  bool from_cookie = false;
  if (!req.authorization.empty()) {
    auto sp = req.authorization.find(' ');
    if (sp == std::string::npos || req.authorization.substr(0, sp) != "Bearer" ||
        sp + 1 >= req.authorization.size())
      return {std::nullopt, head_401("UNAUTHORIZED", "Invalid authorization header format")};
    token = req.authorization.substr(sp + 1);
  } else if (auto c = cookie_value(req.cookie, "or_access")) {
    token = *c;
    from_cookie = true;
  } else if (query_token) {
    if (auto q = query_param(req.query, "token")) token = *q;
  }
  if (token.empty()) return {std::nullopt, head_401("UNAUTHORIZED", "Missing or malformed JWT")};
  std::int64_t now = now_seconds();
  std::optional<Caller> known = cache.find(token, now);
  if (!known) {
    auto verified = ctx.jwt.verify(token, now);
    if (auto* err = std::get_if<TokenError>(&verified)) {
      if (*err == TokenError::expired) return {std::nullopt, head_401("TOKEN_EXPIRED", "Token has expired")};
      return {std::nullopt, head_401("TOKEN_INVALID", "Invalid or expired token")};
    }
    const json::object& claims = std::get<json::object>(verified);
    Caller fresh;
    const json::value* sub = claims.if_contains("sub");
    const json::value* tid = claims.if_contains("tenant_id");
    if (sub && sub->is_string()) fresh.user = ctx.store.user_by_id(sub->as_string());
    if (tid && tid->is_string()) fresh.tenant_id = std::string(tid->as_string());
    if (!fresh.user || !ctx.store.tenant(fresh.tenant_id))
      return {std::nullopt, head_401("TOKEN_INVALID", "Invalid token claims")};
    if (const json::value* perms = claims.if_contains("permissions"); perms && perms->is_array())
      for (auto& p : perms->as_array())
        if (p.is_string()) fresh.permissions.emplace_back(p.as_string());
    if (const json::value* jti = claims.if_contains("jti"); jti && jti->is_string())
      fresh.jti = std::string(jti->as_string());
    cache.put(token, fresh, exp_of(claims));
    known = std::move(fresh);
  }
  Caller caller = std::move(*known);
  if (from_cookie && is_write(req.method)) {
    auto csrf = cookie_value(req.cookie, "or_csrf");
    if (!csrf || csrf->empty() || *csrf != req.csrf_token) {
      json::object o{{"code", "CSRF_FAILED"}, {"message", "CSRF token missing or invalid"}};
      return {std::nullopt, json_reply(403, json::serialize(o), ctx.store.version(caller.tenant_id))};
    }
  }
  return {std::move(caller), {}};
}

// P5: `Authorization: Bearer <HS256>` only; no tenant in the token, so the user's default org is the data.
GateResult gate_hs256(const SimContext& ctx, Router::VerifiedTokens& cache, const Request& req,
                      bool query_token) {
  std::string token;
  if (req.authorization.empty()) {
    if (query_token)
      if (auto q = query_param(req.query, "token")) token = *q;
    if (token.empty()) return {std::nullopt, error_reply(401, "Missing authorization header")};
  } else {
    auto sp = req.authorization.find(' ');
    if (sp == std::string::npos || req.authorization.substr(0, sp) != "Bearer" ||
        req.authorization.find(' ', sp + 1) != std::string::npos)
      return {std::nullopt, error_reply(401, "Invalid authorization header format")};
    token = req.authorization.substr(sp + 1);
  }
  std::int64_t now = now_seconds();
  if (auto known = cache.find(token, now)) return {std::move(known), {}};
  auto verified = ctx.jwt.verify(token, now);
  if (auto* err = std::get_if<TokenError>(&verified))
    return {std::nullopt,
            error_reply(401, *err == TokenError::expired ? "Token expired" : "Invalid or expired token")};
  const json::object& claims = std::get<json::object>(verified);
  Caller caller;
  if (const json::value* id = claims.if_contains("id"); id && id->is_string())
    caller.user = ctx.store.user_by_id(id->as_string());
  if (!caller.user) return {std::nullopt, error_reply(401, "Invalid or expired token")};
  caller.tenant_id = caller.user->default_tenant;
  std::string role;
  if (const json::value* r = claims.if_contains("role_name"); r && r->is_string())
    role = std::string(r->as_string());
  caller.permissions = permissions_for_p5_role(role);
  cache.put(token, caller, exp_of(claims));
  return {std::move(caller), {}};
}

}  // namespace

// ---- shared helpers ----

Response json_reply(int status, std::string body, std::uint64_t version, std::string tenant) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.version = version;
  r.tenant_id = std::move(tenant);
  return r;
}

Response error_reply(int status, std::string_view message, std::uint64_t version) {
  return json_reply(status, "{\"error\":\"" + json_escape(message) + "\"}", version);
}

Response fiber_error(int status, std::string_view message, std::uint64_t version) {
  return json_reply(status, "{\"error\":true,\"msg\":\"" + json_escape(message) + "\"}", version);
}

Response from_store(StoreReply reply, const std::string& tenant_id) {
  switch (reply.outcome) {
    case Outcome::ok:
      return json_reply(200, std::move(reply.body), reply.version, tenant_id);
    case Outcome::created:
      return json_reply(201, std::move(reply.body), reply.version, tenant_id);
    case Outcome::deleted: {
      Response r = json_reply(204, {}, reply.version, tenant_id);
      r.content_type.clear();
      return r;
    }
    case Outcome::not_found:
      return error_reply(404, reply.body, reply.version);
    case Outcome::invalid: {
      json::object o{{"error", "validation_failed"}, {"message", reply.body}};
      return json_reply(400, json::serialize(o), reply.version, tenant_id);
    }
    case Outcome::conflict:
      return error_reply(409, reply.body, reply.version);
  }
  return fiber_error(500, "unexpected store outcome");
}

std::optional<json::object> parse_object(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) == name)
      return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  for (auto part : split_list(header, ';')) {
    auto eq = part.find('=');
    if (eq != std::string_view::npos && trim(part.substr(0, eq)) == name)
      return std::string(trim(part.substr(eq + 1)));
  }
  return std::nullopt;
}

// ---- router ----

Router::Router(const SimContext& ctx) : ctx_(ctx), verified_(std::make_unique<VerifiedTokens>()) {}

Router::~Router() = default;

std::vector<std::string> Router::route_names() {
  std::vector<std::string> names;
  for (const auto& r : kRoutes) names.push_back(std::string(r.method) + " " + r.path);
  return names;
}

Router::Match Router::match(const Request& req) const {
  Match m;
  std::string_view method = req.method == "HEAD" ? std::string_view("GET") : std::string_view(req.method);
  for (int i = 0; i < kRouteCount; ++i) {
    if (method != kRoutes[i].method) continue;
    if (match_path(kRoutes[i].path, req.path, m.params)) {
      m.route = i;
      return m;
    }
  }
  m.params.clear();
  return m;
}

RouteClass Router::route_class(const Match& m) const {
  return m.route < 0 ? RouteClass::read : kRoutes[m.route].cls;
}

std::string_view Router::route_name(const Match& m) const {
  static const std::vector<std::string> names = route_names();
  return m.route < 0 ? std::string_view("unmatched")
                     : std::string_view(names[static_cast<std::size_t>(m.route)]);
}

Response Router::fault_response(int status) const {
  json::object o{{"error", true},
                 {"msg", "An internal error occurred. Please contact support with the reference."},
                 {"reference", random_hex(16)}};
  return json_reply(status, json::serialize(o));
}

Response Router::handle(const Match& m, const Request& req) const {
  bool rs = ctx_.jwt.mode() == JwtMode::rs256;
  if (m.route < 0) {
    // Like Fiber: unknown /api/v1 paths meet the JWT gate first, so 401 without a token and 404 with one.
    std::string msg = "Cannot " + req.method + " " + req.path;
    if (!iequals(std::string_view(req.path).substr(0, std::string_view(kApi).size()), kApi))
      return fiber_error(404, msg);
    GateResult g = rs ? gate_rs256(ctx_, *verified_, req, false) : gate_hs256(ctx_, *verified_, req, false);
    if (!g.caller) return std::move(g.denial);
    return fiber_error(404, msg, ctx_.store.version(g.caller->tenant_id));
  }
  const RouteDef& def = kRoutes[m.route];
  std::vector<std::string> params = m.params;
  for (auto& p : params) p = percent_decode(p);
  std::optional<Caller> caller;
  if (def.gate == Gate::jwt) {
    bool query_token = def.handler == mitigation_events;
    GateResult g =
        rs ? gate_rs256(ctx_, *verified_, req, query_token) : gate_hs256(ctx_, *verified_, req, query_token);
    if (!g.caller) return std::move(g.denial);
    caller = std::move(g.caller);
    if (def.permission && !grants(caller->permissions, def.permission)) {
      std::uint64_t v = ctx_.store.version(caller->tenant_id);
      if (!rs) return error_reply(403, "Insufficient permissions", v);
      json::object o{{"code", "FORBIDDEN"},
                     {"message", std::string("Missing required permission: [") + def.permission + "]"}};
      return json_reply(403, json::serialize(o), v, caller->tenant_id);
    }
  }
  Call call{ctx_, req, caller ? &*caller : nullptr, params, now_seconds()};
  Response res = def.handler(call);
  // Errors raised inside a handler still belong to the caller's tenant: report its counter.
  if (caller && res.tenant_id.empty()) {
    res.tenant_id = caller->tenant_id;
    if (res.version == 0) res.version = ctx_.store.version(caller->tenant_id);
  }
  return res;
}

}  // namespace orc::sim
