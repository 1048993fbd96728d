// Unit tests for app/explain: what the proxy would do with one request, as text and as --json.
#include "app/explain.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <sstream>

#include "identity/caller.hpp"
#include "test_helpers.hpp"

namespace orc::app {
namespace {

namespace json = boost::json;

class Explain : public ::testing::Test {
 protected:
  void SetUp() override {
    auto path = dir_.write("openrisk-cache.yaml", test::jwt_config_head(dir_, "openrisk") + R"(rules:
  - name: risk-read
    match: { method: GET, path: /api/v1/risks/:id }
    cache:
      ttl: 5m
      scope: tenant
      key: { query: [expand] }
      tags: ["risk:{tenant}:{id}", "risks:{tenant}"]
  - name: risk-write
    match: { method: [PUT, PATCH, DELETE], path: /api/v1/risks/:id }
    invalidate: ["risk:{tenant}:{id}", "risks:{tenant}"]
  - name: risk-review
    match: { method: POST, path: /api/v1/risks/:id/review }
    invalidate: ["risk:{tenant}:{id}", { tag: "risks:{tenant}", unless_body_only: [note, reviewer] }]
  - name: plan-step
    match: { method: POST, path: /api/v1/mitigations/:id/steps }
    invalidate: [{ tag: "risk:{tenant}:{answer.risk_id}", fallback: "risks:{tenant}" }]
  - name: login
    match: { path: /auth/** }
    pass: true
  - name: events
    match: { method: GET, path: /api/v1/events/stream }
    stream: true
  - name: guarded
    match: { method: GET, path: /api/v1/guarded/:id }
    cache: { ttl: 5m, scope: tenant, permission: "risks:read" }
)");
    loaded_ = load_all(path);
    std::string diags;
    for (const auto& d : loaded_.errors) diags += d.to_string() + "\n";
    for (const auto& d : loaded_.warnings) diags += d.to_string() + "\n";
    ASSERT_TRUE(loaded_.ok()) << diags;
    ASSERT_TRUE(loaded_.warnings.empty()) << diags;
    ASSERT_TRUE(loaded_.verifier);
    long long exp = static_cast<long long>(std::time(nullptr)) + 3600;
    token_ = test::rs256_token(test::rsa_key(), R"({"sub":"u-3","tenant_id":"t-7","iss":"openrisk","exp":)" +
                                                    std::to_string(exp) + "}");
    forged_ =
        test::rs256_token(test::other_rsa_key(), R"({"sub":"u-3","tenant_id":"t-7","iss":"openrisk","exp":)" +
                                                     std::to_string(exp) + "}");
  }

  std::string text(const std::string& method, const std::string& url, const std::string& token) const {
    return run(method, url, token, false);
  }
  json::object object(const std::string& method, const std::string& url, const std::string& token,
                      const std::vector<std::pair<std::string, std::string>>& headers = {}) const {
    auto out = run(method, url, token, true, headers);
    boost::system::error_code ec;
    auto v = json::parse(out, ec);
    EXPECT_FALSE(ec) << out;
    EXPECT_TRUE(v.is_object()) << out;
    return v.is_object() ? v.as_object() : json::object{};
  }

  std::string run(const std::string& method, const std::string& url, const std::string& token, bool as_json,
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) const {
    ExplainRequest req;
    req.method = method;
    req.url = url;
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    for (const auto& h : headers) req.headers.push_back(h);
    req.json = as_json;
    std::ostringstream out;
    EXPECT_EQ(explain(loaded_, req, out), 0);
    std::string s = out.str();
    if (!token.empty()) {
      EXPECT_EQ(s.find(token), std::string::npos) << "the raw credential leaked:\n" << s;
      EXPECT_EQ(s.find(token.substr(token.rfind('.') + 1)), std::string::npos) << "the signature leaked:\n"
                                                                               << s;
    }
    return s;
  }

  static std::string str(const json::value& v) {
    return v.is_string() ? std::string(v.as_string()) : "(not a string)";
  }

  test::TempDir dir_;
  Loaded loaded_;
  std::string token_, forged_;
};

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST_F(Explain, CachedReadAsText) {
  auto out = text("get", "/api/v1/risks/42?expand=owner&utm=x", token_);
  EXPECT_TRUE(has_line(out, "request             GET /api/v1/risks/42?expand=owner&utm=x")) << out;
  EXPECT_TRUE(has_line(out, "rule                risk-read")) << out;
  EXPECT_TRUE(has_line(out, "defined_at          " + dir_.file("openrisk-cache.yaml") + ":10:5")) << out;
  EXPECT_TRUE(has_line(out, "action              cache")) << out;
  EXPECT_TRUE(has_line(out, "scope               tenant")) << out;
  EXPECT_TRUE(has_line(out, "ttl                 5m")) << out;
  EXPECT_TRUE(has_line(out, "cacheable           true")) << out;
  EXPECT_TRUE(has_line(out, "params              id=42")) << out;
  std::string fp = identity::hmac_sha256_hex("test-key-secret", token_).substr(0, 12);
  EXPECT_TRUE(has_line(out, "identity            header Authorization, hmac " + fp +
                                "...; jwt verified (user u-3, tenant t-7)"))
      << out;
  EXPECT_TRUE(has_line(out, "key material")) << out;
  EXPECT_TRUE(has_line(out, "    path=/api/v1/risks/42")) << out;
  EXPECT_TRUE(has_line(out, "    query=expand=owner")) << out;
  EXPECT_TRUE(has_line(out, "    scope=tenant:t-7")) << out;
  EXPECT_TRUE(has_line(out, "tags                risk:t-7:42, risks:t-7, uri:/api/v1/risks/42")) << out;
  EXPECT_TRUE(has_line(out, "decision            lookup")) << out;
  EXPECT_TRUE(has_line(out, "x_cache             HIT or MISS")) << out;
  EXPECT_NE(out.find("\nkey                 orc:e:"), std::string::npos) << out;
}

TEST_F(Explain, APermissionIsShownAndChecked) {
  const long long exp = static_cast<long long>(std::time(nullptr)) + 3600;
  const auto viewer = test::rs256_token(
      test::rsa_key(),
      R"({"sub":"u-3","tenant_id":"t-7","iss":"openrisk","permissions":["risks:read"],"exp":)" +
          std::to_string(exp) + "}");
  auto out = text("GET", "/api/v1/guarded/42", viewer);
  EXPECT_TRUE(has_line(out, "scope               tenant")) << out;
  EXPECT_TRUE(has_line(out, "permission          risks:read")) << out;
  EXPECT_TRUE(has_line(out, "cacheable           true")) << out;
  EXPECT_TRUE(has_line(out, "    scope=tenant:t-7:perm:risks:read")) << out;
  auto denied = object("GET", "/api/v1/guarded/42", token_);
  EXPECT_EQ(str(denied["permission"]), "risks:read");
  EXPECT_EQ(str(denied["bypass"]), "no_permission");
  EXPECT_FALSE(denied["cacheable"].as_bool());
}

TEST_F(Explain, CachedReadAsJson) {
  auto o = object("GET", "http://api.example.com/api/v1/risks/42?expand=owner", token_);
  EXPECT_EQ(str(o["rule"]), "risk-read");
  EXPECT_EQ(str(o["action"]), "cache");
  EXPECT_EQ(str(o["scope"]), "tenant");
  EXPECT_EQ(str(o["ttl"]), "5m");
  ASSERT_TRUE(o["cacheable"].is_bool());
  EXPECT_TRUE(o["cacheable"].as_bool());
  EXPECT_EQ(str(o["request"].as_object()["path"]), "/api/v1/risks/42");
  EXPECT_EQ(str(o["request"].as_object()["query"]), "expand=owner");
  EXPECT_EQ(str(o["params"].as_object()["id"]), "42");
  auto key = str(o["key"]);
  EXPECT_EQ(key.size(), std::string("orc:e:").size() + 64) << key;
  EXPECT_EQ(key.rfind("orc:e:", 0), 0u) << key;
  EXPECT_NE(str(o["key_material"]).find("scope=tenant:t-7\n"), std::string::npos);
  ASSERT_TRUE(o["tags"].is_array());
  EXPECT_EQ(o["tags"].as_array(), (json::array{"risk:t-7:42", "risks:t-7", "uri:/api/v1/risks/42"}));
  EXPECT_EQ(str(o["decision"]), "lookup");
  EXPECT_EQ(str(o["x_cache"]), "HIT or MISS");
  EXPECT_TRUE(o["cache_status"].is_null());
  auto& id = o["identity"].as_object();
  EXPECT_EQ(str(id["credential_from"]), "header Authorization");
  EXPECT_EQ(str(id["credential_hmac_prefix"]).size(), 12u);
  EXPECT_EQ(str(id["jwt"]), "verified");
  EXPECT_EQ(str(id["user"]), "u-3");
  EXPECT_EQ(str(id["tenant"]), "t-7");
}

TEST_F(Explain, EquivalentReadsShareTheKey) {
  auto a = object("GET", "/api/v1/risks/42?expand=owner&utm=1", token_);
  auto b = object("HEAD", "/api/v1/risks//42/?utm=2&expand=owner", token_);
  EXPECT_EQ(str(a["key"]), str(b["key"]));
  auto other_id = object("GET", "/api/v1/risks/43?expand=owner", token_);
  EXPECT_NE(str(a["key"]), str(other_id["key"]));
}

TEST_F(Explain, ReadWithAnUnverifiableToken) {
  auto o = object("GET", "/api/v1/risks/42", forged_);
  EXPECT_EQ(str(o["rule"]), "risk-read");
  ASSERT_TRUE(o["cacheable"].is_bool());
  EXPECT_FALSE(o["cacheable"].as_bool());
  EXPECT_EQ(str(o["why"]).rfind("bypass: jwt_bad_signature (", 0), 0u) << str(o["why"]);
  EXPECT_EQ(str(o["decision"]), "bypass");
  EXPECT_EQ(str(o["bypass"]), "jwt_bad_signature");
  EXPECT_EQ(str(o["x_cache"]), "BYPASS");
  EXPECT_EQ(str(o["cache_status"]), "openrisk-cache; fwd=bypass; detail=jwt_bad_signature");
  EXPECT_FALSE(o.contains("key"));
  EXPECT_FALSE(o.contains("tags"));
  EXPECT_EQ(str(o["identity"].as_object()["jwt"]), "not verified");
  EXPECT_FALSE(o["identity"].as_object().contains("tenant"));

  auto out = text("GET", "/api/v1/risks/42", forged_);
  EXPECT_TRUE(has_line(out, "cacheable           false")) << out;
  EXPECT_NE(out.find("\nwhy                 bypass: jwt_bad_signature ("), std::string::npos) << out;
  EXPECT_EQ(out.find("key material"), std::string::npos) << out;
}

TEST_F(Explain, ReadWithoutACredential) {
  auto o = object("GET", "/api/v1/risks/42", "");
  EXPECT_FALSE(o["cacheable"].as_bool());
  EXPECT_EQ(str(o["bypass"]), "no_credential");
  EXPECT_TRUE(o["identity"].as_object()["credential_from"].is_null());
  auto out = text("GET", "/api/v1/risks/42", "");
  EXPECT_TRUE(has_line(out, "identity            no credential")) << out;
}

TEST_F(Explain, ReadWithAMalformedCredential) {
  const std::vector<std::pair<std::string, std::string>> lower = {{"Authorization", "bearer " + token_}};
  auto o = object("GET", "/api/v1/risks/42", "", lower);
  EXPECT_FALSE(o["cacheable"].as_bool());
  EXPECT_EQ(str(o["bypass"]), "malformed_credential");
  EXPECT_EQ(str(o["identity"].as_object()["credential"]), "malformed: not 'Bearer <token>'");
  EXPECT_FALSE(o["identity"].as_object().contains("credential_hmac_prefix"));
  ExplainRequest req;
  req.method = "GET";
  req.url = "/api/v1/risks/42";
  req.headers = lower;
  std::ostringstream out;
  EXPECT_EQ(explain(loaded_, req, out), 0);
  EXPECT_TRUE(
      has_line(out.str(), "identity            header Authorization, malformed: not 'Bearer <token>'"))
      << out.str();
  EXPECT_EQ(out.str().find(token_), std::string::npos) << out.str();
}

TEST_F(Explain, QueryOutsideTheKeyWithNoBypassIsStillCacheable) {
  auto o = object("GET", "/api/v1/risks/42?page=9", token_);
  EXPECT_TRUE(o["cacheable"].as_bool());
  EXPECT_NE(str(o["key_material"]).find("\nquery=\n"), std::string::npos) << str(o["key_material"]);
}

TEST_F(Explain, Write) {
  auto o = object("PUT", "/api/v1/risks/42", token_);
  EXPECT_EQ(str(o["rule"]), "risk-write");
  EXPECT_EQ(str(o["action"]), "invalidate");
  EXPECT_EQ(o["purges_tags"].as_array(), (json::array{"risk:t-7:42", "risks:t-7", "uri:/api/v1/risks/42"}));
  EXPECT_EQ(str(o["decision"]), "invalidate");
  EXPECT_EQ(str(o["x_cache"]), "BYPASS");
  EXPECT_EQ(o["purges_entries_of"].as_array(), (json::array{"risk-read"}));
  EXPECT_EQ(str(o["also_purges_get_of"]), "risk-read");
  EXPECT_FALSE(o.contains("cacheable"));
  EXPECT_FALSE(o.contains("key"));

  auto out = text("DELETE", "/api/v1/risks/42", token_);
  EXPECT_TRUE(has_line(out, "action              invalidate")) << out;
  EXPECT_TRUE(has_line(out, "purges_tags         risk:t-7:42, risks:t-7, uri:/api/v1/risks/42")) << out;
  EXPECT_TRUE(has_line(out, "purges_entries_of   risk-read")) << out;
  EXPECT_TRUE(has_line(out, "also_purges_get_of  risk-read")) << out;
}

TEST_F(Explain, WriteWithoutAVerifiedTokenShowsTheTemplates) {
  auto o = object("PATCH", "/api/v1/risks/42", forged_);
  EXPECT_EQ(o["purges_tags"].as_array(),
            (json::array{"uri:/api/v1/risks/42", "risk:{tenant}:{id} (needs a verified JWT)",
                         "risks:{tenant} (needs a verified JWT)"}));
}

TEST_F(Explain, AConditionalTagShowsItsCondition) {
  auto o = object("POST", "/api/v1/risks/42/review", token_);
  EXPECT_EQ(str(o["rule"]), "risk-review");
  EXPECT_EQ(o["purges_tags"].as_array(),
            (json::array{"risk:t-7:42", "uri:/api/v1/risks/42/review",
                         "risks:t-7 (unless the JSON body names only: note, reviewer)"}));
  o = object("POST", "/api/v1/risks/42/review", forged_);
  EXPECT_EQ(o["purges_tags"].as_array(),
            (json::array{
                "uri:/api/v1/risks/42/review", "risk:{tenant}:{id} (needs a verified JWT)",
                "risks:{tenant} (needs a verified JWT) (unless the JSON body names only: note, reviewer)"}));
}

TEST_F(Explain, ATagFromTheAnswerShowsItsFieldAndFallback) {
  auto o = object("POST", "/api/v1/mitigations/m-1/steps", token_);
  EXPECT_EQ(str(o["rule"]), "plan-step");
  EXPECT_EQ(o["purges_tags"].as_array(),
            (json::array{"uri:/api/v1/mitigations/m-1/steps",
                         "risk:t-7:{answer.risk_id} (from the backend's answer; when it lacks the field: "
                         "risks:t-7)"}));
  EXPECT_EQ(o["purges_entries_of"].as_array(), (json::array{"risk-read"}));
  o = object("POST", "/api/v1/mitigations/m-1/steps", forged_);
  EXPECT_EQ(o["purges_tags"].as_array(),
            (json::array{"uri:/api/v1/mitigations/m-1/steps",
                         "risk:{tenant}:{answer.risk_id} (needs a verified JWT) (from the backend's answer; "
                         "when it lacks the field: risks:{tenant})"}));
}

TEST_F(Explain, PassRoute) {
  auto o = object("POST", "/auth/login", token_);
  EXPECT_EQ(str(o["rule"]), "login");
  EXPECT_EQ(str(o["action"]), "pass");
  EXPECT_EQ(str(o["why"]), "forwarded untouched and never cached");
  EXPECT_EQ(str(o["params"].as_object()["**"]), "login");
  EXPECT_FALSE(o.contains("key"));
  auto out = text("POST", "/auth/login", token_);
  EXPECT_TRUE(has_line(out, "rule                login")) << out;
  EXPECT_TRUE(has_line(out, "action              pass")) << out;
  EXPECT_TRUE(has_line(out, "why                 forwarded untouched and never cached")) << out;
}

TEST_F(Explain, StreamRoute) {
  auto o = object("GET", "/api/v1/events/stream", token_);
  EXPECT_EQ(str(o["rule"]), "events");
  EXPECT_EQ(str(o["action"]), "stream");
  EXPECT_EQ(str(o["why"]), "forwarded without buffering and never cached");
  auto out = text("GET", "/api/v1/events/stream", token_);
  EXPECT_TRUE(has_line(out, "action              stream")) << out;
}

TEST_F(Explain, NoMatch) {
  auto o = object("GET", "/nothing/here?x=1", token_);
  EXPECT_TRUE(o["rule"].is_null());
  EXPECT_EQ(str(o["action"]), "pass");
  EXPECT_EQ(str(o["why"]), "no rule matches: the request is forwarded and never cached");
  EXPECT_FALSE(o.contains("identity"));
  auto out = text("GET", "/nothing/here?x=1", token_);
  EXPECT_TRUE(has_line(out, "request             GET /nothing/here?x=1")) << out;
  EXPECT_TRUE(has_line(out, "rule                -")) << out;
  EXPECT_TRUE(has_line(out, "why                 no rule matches: the request is forwarded and never cached"))
      << out;
}

TEST_F(Explain, RequestsTheDaemonBypassesAreShownAsBypasses) {
  // The same plan as the daemon's (cache::plan): each of these bypasses with its Cache-Status detail.
  const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>> cases = {
      {{{"X-Original-URL", "/api/v1/users"}}, "rewrite-header"},
      {{{"X-HTTP-Method-Override", "DELETE"}}, "rewrite-header"},
      {{{"Connection", "close"}, {"Connection", "X-Tenant"}}, "rewrite-header"},
      {{{"Cache-Control", "max-age=0, no-store"}}, "no-store"},
      {{{"Content-Length", "5"}}, "request-body"},
      {{{"Transfer-Encoding", "chunked"}}, "request-body"},
  };
  for (const auto& [headers, reason] : cases) {
    SCOPED_TRACE(reason + ": " + headers.front().first);
    auto o = object("GET", "/api/v1/risks/42", token_, headers);
    EXPECT_EQ(str(o["decision"]), "bypass");
    EXPECT_EQ(str(o["bypass"]), reason);
    EXPECT_EQ(str(o["cache_status"]), "openrisk-cache; fwd=bypass; detail=" + reason);
  }
  auto plain =
      object("GET", "/api/v1/risks/42", token_, {{"Connection", "keep-alive"}, {"Content-Length", "0"}});
  EXPECT_EQ(str(plain["decision"]), "lookup");
  auto revalidate = object("GET", "/api/v1/risks/42", token_, {{"Cache-Control", "no-cache"}});
  EXPECT_EQ(str(revalidate["decision"]), "lookup");
  EXPECT_EQ(str(revalidate["x_cache"]), "MISS");
  EXPECT_EQ(str(revalidate["cache_status"]), "openrisk-cache; fwd=miss");
}

TEST_F(Explain, ATargetTheDaemonRejectsIsShownAsRejected) {
  auto o = object("GET", "http://other.example/api/v1/risks/42", token_, {{"Host", "api.example"}});
  EXPECT_EQ(str(o["action"]), "reject");
  EXPECT_TRUE(o["rule"].is_null());
  auto out = text("GET", "/api/v1/../../etc/passwd", token_);
  EXPECT_TRUE(has_line(out, "action              reject")) << out;
}

// A credential in the query (the SSE route's ?token=) is shown redacted, as in the access log
// (logging.redact_query), in the text and the JSON, and for a target the daemon rejects.
TEST_F(Explain, QueryValuesOfRedactedNamesAreNeverShown) {
  const std::string secret = "sEcReT-QuErY-ToKeN";
  auto out = text("GET", "/api/v1/risks/42?token=" + secret + "&expand=owner", token_);
  EXPECT_TRUE(has_line(out, "request             GET /api/v1/risks/42?token=REDACTED&expand=owner")) << out;
  EXPECT_EQ(out.find(secret), std::string::npos) << out;
  auto o = object("GET", "/api/v1/risks/42?access_token=" + secret, token_);
  EXPECT_EQ(str(o["request"].as_object().at("query")), "access_token=REDACTED");
  EXPECT_EQ(json::serialize(o).find(secret), std::string::npos) << json::serialize(o);
  auto rejected = text("GET", "/api/v1/../../etc?password=" + secret, token_);
  EXPECT_TRUE(has_line(rejected, "action              reject")) << rejected;
  EXPECT_EQ(rejected.find(secret), std::string::npos) << rejected;
}

TEST(ExplainCookies, TwoCookieFieldsReadAsOneCookieHeader) {
  // RFC 6265 section 5.4: a client sends one Cookie field; two are joined with "; " (not ", "), so the
  // credential cookie is found with its own value, as in one field.
  test::TempDir dir;
  auto path = dir.write("c.yaml", R"(cache: { key_secret: s }
identity:
  credential: [{cookie: sid}]
rules:
  - name: me
    match: { method: GET, path: /me }
    cache: { ttl: 1m, scope: credential }
)");
  auto loaded = load_all(path);
  ASSERT_TRUE(loaded.ok());
  auto key_of = [&](std::vector<std::pair<std::string, std::string>> headers) {
    ExplainRequest req{"GET", "/me", std::move(headers), true};
    std::ostringstream out;
    explain(loaded, req, out);
    auto v = json::parse(out.str());
    return std::string(v.as_object().at("key").as_string());
  };
  const auto one = key_of({{"Cookie", "theme=dark; sid=S-1"}});
  EXPECT_EQ(key_of({{"Cookie", "theme=dark"}, {"Cookie", "sid=S-1"}}), one);
  EXPECT_NE(key_of({{"Cookie", "theme=dark"}, {"Cookie", "sid=S-2"}}), one);
}

TEST_F(Explain, WriteMethodOnACacheRuleIsNotServedFromTheCache) {
  // POST matches no rule of /api/v1/risks/:id (risk-read is GET only, risk-write has no POST).
  auto o = object("POST", "/api/v1/risks/42", token_);
  EXPECT_TRUE(o["rule"].is_null());
}

}  // namespace
}  // namespace orc::app
