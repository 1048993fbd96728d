// Health and the auth routes: login, refresh (rotation with reuse detection), logout, me, organizations and
// switch-org, with the token pair, cookies and body shapes of the HEAD backend (or P5's with --jwt-mode
// hs256).
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "openrisk_sim/auth_sessions.hpp"
#include "openrisk_sim/handlers.hpp"
#include "openrisk_sim/jwt.hpp"

namespace orc::sim {

namespace json = boost::json;

namespace {

constexpr std::int64_t kRefreshTtl = 30 * 86400;

bool head_mode(const Call& c) {
  return c.ctx.jwt.mode() == JwtMode::rs256;
}

std::string mint_access(const Call& c, const User& u, const Membership& seeded) {
  // Claims are derived when a token is issued, from the membership as it is now (role changes included).
  const Membership m = c.ctx.store.membership_now(seeded, u.id);
  std::int64_t ttl = c.ctx.opts.access_ttl.count();
  if (!head_mode(c)) {
    std::string role = p5_role_for(m);
    json::array perms;
    if (role == "admin")
      perms.push_back("*");
    else
      for (const char* p : {"risk:read", "risk:create", "risk:update", "risk:export"}) {
        if (role == "viewer" &&
            (std::string_view(p) == "risk:create" || std::string_view(p) == "risk:update"))
          continue;
        perms.push_back(p);
      }
    json::object claims{{"id", u.id},
                        {"email", u.email},
                        {"username", u.username},
                        {"role_id", role == "admin" ? 1 : (role == "analyst" ? 2 : 3)},
                        {"role_name", role},
                        {"permissions", std::move(perms)},
                        {"iat", c.now},
                        {"exp", c.now + ttl}};
    return c.ctx.jwt.sign(claims);
  }
  json::array perms;
  for (auto& p : permissions_for(m)) perms.push_back(json::value(p));
  json::object claims{{"sub", u.id},
                      {"tenant_id", m.tenant_id},
                      {"org_roles", json::object{{m.tenant_id, org_role_name(m.role)}}},
                      {"permissions", std::move(perms)},
                      {"feature_flags", json::array{}},
                      {"jti", random_hex(16)},
                      {"iss", "openrisk"},
                      {"aud", json::array{"openrisk-api"}},
                      {"iat", c.now},
                      {"exp", c.now + ttl}};
  return c.ctx.jwt.sign(claims);
}

// APP_ENV=development style cookies: no Secure flag, since the simulator speaks plain HTTP.
void set_session_cookies(Response& r, std::int64_t access_ttl, const std::string& access,
                         const std::string& refresh, const std::string& csrf) {
  r.headers.emplace_back("Set-Cookie", "or_access=" + access + "; Path=/; Max-Age=" +
                                           std::to_string(access_ttl) + "; HttpOnly; SameSite=Lax");
  r.headers.emplace_back("Set-Cookie", "or_refresh=" + refresh + "; Path=/api/v1/auth/refresh; Max-Age=" +
                                           std::to_string(kRefreshTtl) + "; HttpOnly; SameSite=Lax");
  r.headers.emplace_back("Set-Cookie", "or_csrf=" + csrf + "; Path=/; Max-Age=" +
                                           std::to_string(kRefreshTtl) + "; SameSite=Lax");
}

void clear_session_cookies(Response& r) {
  r.headers.emplace_back("Set-Cookie", "or_access=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
  r.headers.emplace_back("Set-Cookie",
                         "or_refresh=; Path=/api/v1/auth/refresh; Max-Age=0; HttpOnly; SameSite=Lax");
  r.headers.emplace_back("Set-Cookie", "or_csrf=; Path=/; Max-Age=0; SameSite=Lax");
}

json::object user_json(const User& u) {
  return json::object{{"id", u.id},
                      {"email", u.email},
                      {"username", u.username},
                      {"full_name", u.full_name},
                      {"default_org_id", u.default_tenant}};
}

json::object org_json(const Call& c, const Membership& m) {
  const TenantInfo* t = c.ctx.store.tenant(m.tenant_id);
  return json::object{{"id", m.tenant_id},
                      {"name", t ? t->name : ""},
                      {"slug", t ? t->slug : ""},
                      {"plan", t ? t->plan : ""},
                      {"role", org_role_name(m.role)}};
}

// A new session in `m`'s organization: body fields shared by login, refresh and switch-org, plus cookies.
Response session_reply(const Call& c, const User& u, const Membership& m, std::string family,
                       json::object body) {
  std::string access = mint_access(c, u, m);
  std::string refresh = c.ctx.sessions.issue(u.id, m.tenant_id, std::move(family));
  std::string csrf = random_hex(16);
  body["token_pair"] = json::object{{"access_token", access},
                                    {"refresh_token", refresh},
                                    {"expires_in", c.ctx.opts.access_ttl.count()},
                                    {"token_type", "Bearer"}};
  body["csrf_token"] = csrf;
  Response r = json_reply(200, json::serialize(body), c.ctx.store.version(m.tenant_id), m.tenant_id);
  set_session_cookies(r, c.ctx.opts.access_ttl.count(), access, refresh, csrf);
  return r;
}

std::string refresh_token_of(const Call& c, const std::optional<json::object>& body) {
  if (body)
    if (const json::value* v = body->if_contains("refresh_token"); v && v->is_string())
      return std::string(v->as_string());
  return cookie_value(c.req.cookie, "or_refresh").value_or("");
}

}  // namespace

Response health(const Call& c) {
  if (!head_mode(c)) return json_reply(200, R"({"status":"UP","version":"1.0.0","db":"CONNECTED"})");
  return json_reply(200,
                    R"({"status":"UP","version":"sim","commit":"none","db":"CONNECTED","demo_mode":false})");
}

Response auth_login(const Call& c) {
  auto body = parse_object(c.req.body);
  if (!body) return error_reply(400, "Invalid request body");
  const json::value* email = body->if_contains("email");
  const json::value* password = body->if_contains("password");
  const User* u = email && email->is_string() ? c.ctx.store.user_by_email(email->as_string()) : nullptr;
  if (!u || !password || !password->is_string() || password->as_string() != u->password)
    return error_reply(401, "Invalid credentials");
  const Membership* m = u->membership(u->default_tenant);
  if (!head_mode(c)) {
    json::object user{{"id", u->id},
                      {"email", u->email},
                      {"username", u->username},
                      {"full_name", u->full_name},
                      {"role", p5_role_for(*m)}};
    json::object o{{"token", mint_access(c, *u, *m)},
                   {"user", std::move(user)},
                   {"expires_in", c.ctx.opts.access_ttl.count()}};
    return json_reply(200, json::serialize(o), c.ctx.store.version(m->tenant_id), m->tenant_id);
  }
  json::object o{
      {"user", user_json(*u)}, {"organization", org_json(c, *m)}, {"business_role", m->business_role}};
  return session_reply(c, *u, *m, {}, std::move(o));
}

Response auth_refresh(const Call& c) {
  if (!head_mode(c)) return error_reply(401, "Unauthorized");  // P5's refresh never worked
  auto body = parse_object(c.req.body.empty() ? std::string("{}") : c.req.body);
  std::string token = refresh_token_of(c, body);
  if (token.empty()) return error_reply(401, "Refresh token required");
  auto rot = c.ctx.sessions.spend(token);
  if (rot.status == RefreshSessions::Status::reused) {
    Response r = json_reply(
        401, R"({"error":"Session revoked. Please sign in again.","code":"REFRESH_REUSE_DETECTED"})");
    clear_session_cookies(r);
    return r;
  }
  const User* u = rot.status == RefreshSessions::Status::ok ? c.ctx.store.user_by_id(rot.user_id) : nullptr;
  const Membership* m = u ? u->membership(rot.tenant_id) : nullptr;
  if (!m) return error_reply(401, "Invalid or expired refresh token");
  return session_reply(c, *u, *m, rot.family, json::object{});
}

Response auth_logout(const Call& c) {
  auto body = parse_object(c.req.body.empty() ? std::string("{}") : c.req.body);
  std::string token = refresh_token_of(c, body);
  if (!token.empty()) c.ctx.sessions.revoke(token);
  Response r = json_reply(200, R"({"message":"Logged out successfully"})");
  clear_session_cookies(r);
  return r;
}

Response auth_me(const Call& c) {
  json::object o{{"user", user_json(*c.caller->user)}, {"organization_id", c.caller->tenant_id}};
  return json_reply(200, json::serialize(o));
}

Response users_me(const Call& c) {
  const User& u = *c.caller->user;
  const Membership* m = u.membership(c.caller->tenant_id);
  json::object o{{"id", u.id},
                 {"email", u.email},
                 {"username", u.username},
                 {"full_name", u.full_name},
                 {"role", m ? p5_role_for(*m) : "viewer"}};
  return json_reply(200, json::serialize(o));
}

Response auth_organizations(const Call& c) {
  json::array orgs;
  for (auto& m : c.caller->user->memberships) {
    const TenantInfo* t = c.ctx.store.tenant(m.tenant_id);
    orgs.push_back(json::object{{"organization_id", m.tenant_id},
                                {"name", t ? t->name : ""},
                                {"slug", t ? t->slug : ""},
                                {"role", org_role_name(m.role)},
                                {"business_role", m.business_role},
                                {"is_default", m.tenant_id == c.caller->user->default_tenant}});
  }
  std::size_t n = orgs.size();
  return json_reply(200, json::serialize(json::object{{"organizations", std::move(orgs)}, {"total", n}}));
}

// PUT /organization/members/:memberId/role, body
// {"role":"admin|user","business_role":"analyst|viewer|auditor"}. The simulator's member id is the user id.
// Unlike the backend it does not end the member's refresh lineage: a refresh, like a login, issues a token
// with the new permissions.
Response member_role_put(const Call& c) {
  auto body = parse_object(c.req.body);
  if (!body) return error_reply(400, "Invalid request body");
  const json::value* role = body->if_contains("role");
  const json::value* business = body->if_contains("business_role");
  std::string_view r = role && role->is_string() ? std::string_view(role->as_string()) : "user";
  std::string_view b = business && business->is_string() ? std::string_view(business->as_string()) : "";
  if (r != "admin" && r != "user") return error_reply(400, "role must be admin or user");
  if (r == "user" && b != "analyst" && b != "viewer" && b != "auditor")
    return error_reply(400, "business_role must be analyst, viewer or auditor");
  if (!c.ctx.store.set_member_role(c.caller->tenant_id, c.params.at(0),
                                   r == "admin" ? OrgRole::admin : OrgRole::user, b))
    return error_reply(404, "Member not found");
  return json_reply(200, R"({"message":"Role updated"})");
}

Response auth_switch_org(const Call& c) {
  if (!head_mode(c)) return fiber_error(404, "Cannot POST " + c.req.path);  // P5 had no organizations
  auto body = parse_object(c.req.body);
  const json::value* org = body ? body->if_contains("organization_id") : nullptr;
  if (!org || !org->is_string()) return error_reply(400, "organization_id is required");
  const Membership* m = c.caller->user->membership(org->as_string());
  if (!m) return error_reply(403, "You are not an active member of this organization");
  json::object o{{"organization", org_json(c, *m)},
                 {"role", org_role_name(m->role)},
                 {"business_role", m->business_role}};
  return session_reply(c, *c.caller->user, *m, {}, std::move(o));
}

}  // namespace orc::sim
