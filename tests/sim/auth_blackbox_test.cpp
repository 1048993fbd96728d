// Black-box: login, token verification with the exported key (RS256 and HS256), the gate's 401/403/404
// bodies, cookies with CSRF, refresh rotation and reuse detection, and switch-org.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <chrono>

#include "sim_fixture.hpp"

namespace orc::sim::test {
namespace {

namespace json = boost::json;

// Deliberately independent of the simulator's own JWT code: this is what a proxy would do.
std::string b64url_decode(std::string s) {
  for (char& c : s) c = c == '-' ? '+' : (c == '_' ? '/' : c);
  while (s.size() % 4) s += '=';
  std::string out(s.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return {};
  std::size_t pad = s.size() >= 2 && s[s.size() - 1] == '=' ? (s[s.size() - 2] == '=' ? 2 : 1) : 0;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string b64url_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  return out;
}

struct Jwt {
  std::string header_b64, payload_b64, signature;
  json::object header, claims;
};

Jwt split_jwt(const std::string& token) {
  Jwt j;
  auto d1 = token.find('.'), d2 = token.rfind('.');
  EXPECT_NE(d1, d2);
  j.header_b64 = token.substr(0, d1);
  j.payload_b64 = token.substr(d1 + 1, d2 - d1 - 1);
  j.signature = b64url_decode(token.substr(d2 + 1));
  j.header = parse_json(b64url_decode(j.header_b64)).as_object();
  j.claims = parse_json(b64url_decode(j.payload_b64)).as_object();
  return j;
}

bool rs256_valid(const std::string& pem, const Jwt& j) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!key) return false;
  std::string input = j.header_b64 + "." + j.payload_b64;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(j.signature.data()), j.signature.size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

std::string hs256(const std::string& secret, const std::string& input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string cookie_pair(const HttpResponse& r, const std::string& name) {
  for (auto& c : r.set_cookies())
    if (c.rfind(name + "=", 0) == 0) return c.substr(0, c.find(';'));
  return {};
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class AuthRs256 : public SimSuite<AuthRs256> {};

TEST_F(AuthRs256, LoginReturnsRs256TokenVerifiableWithExportedKey) {
  HttpResponse r = login_response(port(), "analyst@acme.test");
  ASSERT_EQ(r.status, 200) << r.body;
  json::object body = parse_json(r.body).as_object();
  const json::object& pair = body.at("token_pair").as_object();
  EXPECT_EQ(pair.at("expires_in").as_int64(), 900);
  EXPECT_EQ(pair.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(pair.at("refresh_token").as_string().size(), 64u);
  EXPECT_FALSE(body.at("csrf_token").as_string().empty());
  EXPECT_EQ(body.at("user").at("email").as_string(), "analyst@acme.test");
  EXPECT_EQ(body.at("business_role").as_string(), "analyst");

  std::string token(pair.at("access_token").as_string());
  Jwt j = split_jwt(token);
  EXPECT_EQ(j.header.at("alg").as_string(), "RS256");
  std::string pem = sim_->key_material();
  ASSERT_NE(pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_TRUE(rs256_valid(pem, j));
  Jwt tampered = j;
  tampered.payload_b64[5] = tampered.payload_b64[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(rs256_valid(pem, tampered));

  std::string tenant(body.at("organization").at("id").as_string());
  EXPECT_EQ(j.claims.at("sub").as_string(), body.at("user").at("id").as_string());
  EXPECT_EQ(j.claims.at("tenant_id").as_string(), tenant);
  EXPECT_EQ(j.claims.at("org_roles").at(tenant).as_string(), "user");
  EXPECT_EQ(j.claims.at("iss").as_string(), "openrisk");
  EXPECT_EQ(j.claims.at("aud").as_array().at(0).as_string(), "openrisk-api");
  EXPECT_EQ(j.claims.at("jti").as_string().size(), 32u);
  EXPECT_EQ(j.claims.at("exp").as_int64() - j.claims.at("iat").as_int64(), 900);
  bool has_read = false;
  for (auto& p : j.claims.at("permissions").as_array()) has_read |= p.as_string() == "risks:read";
  EXPECT_TRUE(has_read);

  // The or_access cookie carries the same token; or_csrf is readable by scripts (no HttpOnly).
  EXPECT_EQ(cookie_pair(r, "or_access"), "or_access=" + token);
  bool csrf_http_only = true;
  for (auto& c : r.set_cookies())
    if (c.rfind("or_csrf=", 0) == 0) csrf_http_only = c.find("HttpOnly") != std::string::npos;
  EXPECT_FALSE(csrf_http_only);

  HttpResponse me = get(port(), "/api/v1/auth/me", bearer(token));
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(parse_json(me.body).at("organization_id").as_string(), tenant);
}

TEST_F(AuthRs256, AdminTokenHoldsWildcardPermission) {
  Jwt j = split_jwt(login(port(), "admin@globex.test"));
  ASSERT_EQ(j.claims.at("permissions").as_array().size(), 1u);
  EXPECT_EQ(j.claims.at("permissions").as_array()[0].as_string(), "*");
}

TEST_F(AuthRs256, BadCredentialsAre401) {
  EXPECT_EQ(login_response(port(), "analyst@acme.test", "wrong").status, 401);
  EXPECT_EQ(login_response(port(), "nobody@acme.test").status, 401);
  EXPECT_EQ(send(port(), "POST", "/api/v1/auth/login", "not json").status, 400);
}

TEST_F(AuthRs256, MissingOrInvalidTokenGives401WithBackendShape) {
  HttpResponse missing = get(port(), "/api/v1/risks");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(parse_json(missing.body).at("code").as_string(), "UNAUTHORIZED");
  EXPECT_TRUE(parse_json(missing.body).as_object().contains("message"));

  std::string token = login(port(), "viewer@acme.test");
  std::string forged = token.substr(0, token.rfind('.') + 1) + "AAAA";
  HttpResponse bad = get(port(), "/api/v1/risks", bearer(forged));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(parse_json(bad.body).at("code").as_string(), "TOKEN_INVALID");

  HttpResponse format = get(port(), "/api/v1/risks", {{"Authorization", "Token " + token}});
  EXPECT_EQ(format.status, 401);

  // Unknown paths under /api/v1 meet the gate first (401), then 404 in Fiber's shape.
  EXPECT_EQ(get(port(), "/api/v1/no-such-route").status, 401);
  HttpResponse nf = get(port(), "/api/v1/no-such-route", bearer(token));
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(parse_json(nf.body).at("error").as_bool(), true);
  EXPECT_EQ(parse_json(nf.body).at("msg").as_string(), "Cannot GET /api/v1/no-such-route");
  EXPECT_EQ(get(port(), "/elsewhere").status, 404);
}

TEST_F(AuthRs256, MissingPermissionGives403WithBackendShape) {
  std::string viewer = login(port(), "viewer@acme.test");
  HttpResponse w = send(port(), "POST", "/api/v1/risks", R"({"title":"x"})", bearer(viewer));
  EXPECT_EQ(w.status, 403);
  EXPECT_EQ(parse_json(w.body).at("code").as_string(), "FORBIDDEN");
  EXPECT_EQ(parse_json(w.body).at("message").as_string(), "Missing required permission: [risks:create]");

  // A read denied per caller: the auditor may read assets but not risks.
  std::string auditor = login(port(), "auditor@acme.test");
  EXPECT_EQ(get(port(), "/api/v1/risks", bearer(auditor)).status, 403);
  EXPECT_EQ(get(port(), "/api/v1/assets", bearer(auditor)).status, 200);
  EXPECT_EQ(get(port(), "/api/v1/risks", bearer(viewer)).status, 200);
}

TEST_F(AuthRs256, CookieAuthNeedsCsrfOnWrites) {
  HttpResponse l = login_response(port(), "analyst@acme.test");
  std::string cookies = cookie_pair(l, "or_access") + "; " + cookie_pair(l, "or_csrf");
  std::string csrf(parse_json(l.body).at("csrf_token").as_string());
  EXPECT_EQ(get(port(), "/api/v1/risks?limit=1", {{"Cookie", cookies}}).status, 200);
  HttpResponse no_csrf = send(port(), "POST", "/api/v1/risks", R"({"title":"c"})", {{"Cookie", cookies}});
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_EQ(parse_json(no_csrf.body).at("code").as_string(), "CSRF_FAILED");
  HttpResponse ok = send(port(), "POST", "/api/v1/risks", R"({"title":"c"})",
                         {{"Cookie", cookies}, {"X-CSRF-Token", csrf}});
  EXPECT_EQ(ok.status, 201) << ok.body;
}

// fasthttp reads the cookies of every Cookie line: the access cookie counts in a second line, and the first
// of two wins.
TEST_F(AuthRs256, TheAccessCookieCountsInAnyCookieLine) {
  HttpResponse l = login_response(port(), "analyst@acme.test");
  const std::string access = cookie_pair(l, "or_access");
  EXPECT_EQ(get(port(), "/api/v1/risks?limit=1", {{"Cookie", "theme=dark"}, {"Cookie", access}}).status, 200);
  EXPECT_EQ(get(port(), "/api/v1/risks?limit=1", {{"Cookie", access}, {"Cookie", "or_access=forged"}}).status,
            200);
  EXPECT_EQ(get(port(), "/api/v1/risks?limit=1", {{"Cookie", "or_access=forged"}, {"Cookie", access}}).status,
            401);
}

TEST_F(AuthRs256, RefreshRotatesAndDetectsReuse) {
  HttpResponse l = login_response(port(), "analyst@acme.test");
  std::string refresh(parse_json(l.body).at("token_pair").at("refresh_token").as_string());
  std::string body = "{\"refresh_token\":\"" + refresh + "\"}";
  HttpResponse r1 = send(port(), "POST", "/api/v1/auth/refresh", body);
  ASSERT_EQ(r1.status, 200) << r1.body;
  std::string next(parse_json(r1.body).at("token_pair").at("refresh_token").as_string());
  EXPECT_NE(next, refresh);
  EXPECT_EQ(get(port(), "/api/v1/risks?limit=1",
                bearer(std::string(parse_json(r1.body).at("token_pair").at("access_token").as_string())))
                .status,
            200);
  HttpResponse replay = send(port(), "POST", "/api/v1/auth/refresh", body);
  EXPECT_EQ(replay.status, 401);
  EXPECT_EQ(parse_json(replay.body).at("code").as_string(), "REFRESH_REUSE_DETECTED");
  // The whole family is gone, including the token the first refresh returned.
  EXPECT_EQ(send(port(), "POST", "/api/v1/auth/refresh", "{\"refresh_token\":\"" + next + "\"}").status, 401);
}

TEST_F(AuthRs256, LogoutRevokesRefreshButAccessStaysValid) {
  HttpResponse l = login_response(port(), "viewer@acme.test");
  json::value b = parse_json(l.body);
  std::string refresh(b.at("token_pair").at("refresh_token").as_string());
  std::string access(b.at("token_pair").at("access_token").as_string());
  HttpResponse out = send(port(), "POST", "/api/v1/auth/logout", "{\"refresh_token\":\"" + refresh + "\"}");
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(cookie_pair(out, "or_access"), "or_access=");
  EXPECT_EQ(send(port(), "POST", "/api/v1/auth/refresh", "{\"refresh_token\":\"" + refresh + "\"}").status,
            401);
  EXPECT_EQ(get(port(), "/api/v1/users/me", bearer(access)).status, 200);  // like the backend: no blacklist
}

TEST_F(AuthRs256, SwitchOrgMintsTokenForTheOtherTenant) {
  std::string token = login(port(), "consultant@sim.test");
  Jwt first = split_jwt(token);
  HttpResponse orgs = get(port(), "/api/v1/auth/organizations", bearer(token));
  ASSERT_EQ(orgs.status, 200);
  json::array list = parse_json(orgs.body).at("organizations").as_array();
  ASSERT_EQ(list.size(), 2u);
  std::string other;
  for (auto& o : list)
    if (!o.at("is_default").as_bool()) other = std::string(o.at("organization_id").as_string());
  ASSERT_FALSE(other.empty());

  HttpResponse sw = send(port(), "POST", "/api/v1/auth/switch-org", "{\"organization_id\":\"" + other + "\"}",
                         bearer(token));
  ASSERT_EQ(sw.status, 200) << sw.body;
  json::value b = parse_json(sw.body);
  EXPECT_EQ(b.at("role").as_string(), "admin");
  std::string switched(b.at("token_pair").at("access_token").as_string());
  Jwt second = split_jwt(switched);
  EXPECT_TRUE(rs256_valid(sim_->key_material(), second));
  EXPECT_EQ(second.claims.at("tenant_id").as_string(), other);
  EXPECT_NE(second.claims.at("jti").as_string(), first.claims.at("jti").as_string());
  EXPECT_EQ(second.claims.at("permissions").as_array()[0].as_string(), "*");

  // A risk of the new tenant is visible only with the new token; the old token keeps working (no revocation).
  HttpResponse risks = get(port(), "/api/v1/risks?limit=1", bearer(switched));
  std::string rid(parse_json(risks.body).at("items").as_array()[0].at("id").as_string());
  EXPECT_EQ(get(port(), "/api/v1/risks/" + rid, bearer(switched)).status, 200);
  EXPECT_EQ(get(port(), "/api/v1/risks/" + rid, bearer(token)).status, 404);

  std::string stranger = login(port(), "analyst@initech.test");
  HttpResponse denied = send(port(), "POST", "/api/v1/auth/switch-org",
                             "{\"organization_id\":\"" + other + "\"}", bearer(stranger));
  EXPECT_EQ(denied.status, 403);
}

class AuthHs256 : public SimSuite<AuthHs256> {
 public:
  static std::vector<std::string> args() { return {"--jwt-mode", "hs256", "--jwt-secret", "test-secret"}; }
};

TEST_F(AuthHs256, LoginReturnsPhase5TokenSignedWithExportedSecret) {
  EXPECT_EQ(sim_->key_material(), "test-secret");
  HttpResponse r = login_response(port(), "analyst@acme.test");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value b = parse_json(r.body);
  EXPECT_EQ(b.at("expires_in").as_int64(), 86400);
  EXPECT_EQ(b.at("user").at("role").as_string(), "analyst");
  std::string token(b.at("token").as_string());
  Jwt j = split_jwt(token);
  EXPECT_EQ(j.header.at("alg").as_string(), "HS256");
  EXPECT_EQ(j.signature, hs256("test-secret", j.header_b64 + "." + j.payload_b64));
  EXPECT_EQ(j.claims.at("role_name").as_string(), "analyst");
  EXPECT_EQ(j.claims.at("email").as_string(), "analyst@acme.test");
  EXPECT_FALSE(j.claims.contains("tenant_id"));
  EXPECT_FALSE(j.claims.contains("jti"));
  EXPECT_TRUE(r.set_cookies().empty());
  EXPECT_EQ(get(port(), "/api/v1/risks?limit=1", bearer(token)).status, 200);
}

TEST_F(AuthHs256, Phase5ErrorShapes) {
  HttpResponse missing = get(port(), "/api/v1/risks");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(parse_json(missing.body).at("error").as_string(), "Missing authorization header");

  // A token the test signs itself with the shared secret, already expired.
  std::string user_id(
      parse_json(login_response(port(), "viewer@acme.test").body).at("user").at("id").as_string());
  std::string header = b64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  std::string payload = b64url_encode(
      "{\"id\":\"" + user_id + "\",\"role_name\":\"viewer\",\"exp\":" + std::to_string(now_s() - 10) + "}");
  std::string expired =
      header + "." + payload + "." + b64url_encode(hs256("test-secret", header + "." + payload));
  HttpResponse exp = get(port(), "/api/v1/risks", bearer(expired));
  EXPECT_EQ(exp.status, 401);
  EXPECT_EQ(parse_json(exp.body).at("error").as_string(), "Token expired");

  std::string viewer(parse_json(login_response(port(), "viewer@acme.test").body).at("token").as_string());
  HttpResponse denied = send(port(), "POST", "/api/v1/risks", R"({"title":"x"})", bearer(viewer));
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(parse_json(denied.body).at("error").as_string(), "Insufficient permissions");
}

}  // namespace
}  // namespace orc::sim::test
