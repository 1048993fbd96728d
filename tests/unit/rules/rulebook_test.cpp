// Unit tests for rules/rulebook: the matcher, semantic errors, every warning and purged_by().
#include "rules/rulebook.hpp"

#include <gtest/gtest.h>

#include <strings.h>

#include <set>

namespace orc::rules {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

// Every rulebook here has a key secret, so the default `credential` scope is valid.
const std::string kSecret = "cache: { key_secret: k }\n";
const std::string kJwt = "identity: { jwt: { algorithm: HS256, secret: s } }\n";

CompileResult compile(const std::string& yaml) {
  auto r = config::load_config_string(yaml, "test.yaml");
  std::string errors;
  for (const auto& e : r.errors) errors += e.to_string() + "\n";
  EXPECT_TRUE(r.config) << errors;
  if (!r.config) return {};
  return Rulebook::compile(*r.config);
}

std::string text(const std::vector<config::Diagnostic>& list) {
  std::string out;
  for (const auto& d : list) out += d.to_string() + "\n";
  return out;
}

bool contains(const std::vector<config::Diagnostic>& list, const std::string& line) {
  for (const auto& d : list)
    if (d.to_string() == line) return true;
  return false;
}

std::shared_ptr<const Rulebook> book(const std::string& yaml) {
  auto c = compile(yaml);
  EXPECT_TRUE(c.rulebook) << text(c.errors);
  return c.rulebook;
}

struct Req {
  std::string method = "GET";
  std::string path;
  std::string query;
  std::string host;
  std::set<std::string> headers;
};

std::optional<Match> match(const Rulebook& b, const Req& r) {
  const util::Query query(r.query);
  RequestView view{r.method, r.path, &query, r.host, [&](std::string_view name) {
                     for (const auto& h : r.headers)
                       if (h.size() == name.size() && strncasecmp(h.data(), name.data(), h.size()) == 0)
                         return true;
                     return false;
                   }};
  return b.match(view);
}

std::string winner(const Rulebook& b, const Req& r) {
  auto m = match(b, r);
  return m ? m->rule->cfg.name : "(none)";
}

// ---- matching ----

const std::string kPrecedence = kSecret + R"(rules:
  - { name: rest, match: { path: /api/** }, pass: true }
  - { name: param, match: { path: /api/:kind/list }, pass: true }
  - { name: literal, match: { path: /api/risks/list }, pass: true }
  - { name: deep-literal, match: { path: /r/lit/x }, pass: true }
  - { name: deep-param, match: { path: /r/:p/y }, pass: true }
)";

TEST(RulebookMatch, LiteralBeatsParamBeatsRest) {
  auto b = book(kPrecedence);
  ASSERT_TRUE(b);
  EXPECT_EQ(winner(*b, {.path = "/api/risks/list"}), "literal");
  EXPECT_EQ(winner(*b, {.path = "/api/controls/list"}), "param");
  EXPECT_EQ(winner(*b, {.path = "/api/risks/other"}), "rest");
  EXPECT_EQ(winner(*b, {.path = "/api/risks/list/more"}), "rest");
  EXPECT_EQ(winner(*b, {.path = "/api"}), "rest");
}

// shared/openrisk-api.md section 11: Fiber routes paths case-insensitively, so "/risks/UNMAPPED" is the
// "unmapped" route there, not "/risks/:id". routing.case_insensitive folds literal segments; a match keys on
// the rule's spelling of them, and parameters keep the bytes sent.
const std::string kCaseRoutes = R"(rules:
  - { name: unmapped, match: { path: /api/risks/unmapped }, pass: true }
  - { name: detail, match: { path: "/api/risks/:id" }, pass: true }
  - { name: files, match: { path: "/api/Files/**" }, pass: true }
)";

TEST(RulebookMatch, CaseSensitiveByDefault) {
  auto b = book(kSecret + kCaseRoutes);
  ASSERT_TRUE(b);
  EXPECT_EQ(winner(*b, {.path = "/api/risks/unmapped"}), "unmapped");
  EXPECT_EQ(winner(*b, {.path = "/api/risks/UNMAPPED"}), "detail");
  EXPECT_EQ(winner(*b, {.path = "/API/risks/unmapped"}), "(none)");
  EXPECT_EQ(winner(*b, {.path = "/api/files/a"}), "(none)");
}

TEST(RulebookMatch, CaseInsensitiveRoutingMatchesAnyCaseAndKeysOnTheRulesSpelling) {
  auto b = book(kSecret + "routing: { case_insensitive: true }\n" + kCaseRoutes);
  ASSERT_TRUE(b);
  for (const char* path : {"/api/risks/unmapped", "/api/risks/UNMAPPED", "/API/Risks/UnMapped"}) {
    auto m = match(*b, {.path = path});
    ASSERT_TRUE(m) << path;
    EXPECT_EQ(m->rule->cfg.name, "unmapped") << path;
    EXPECT_EQ(m->segments, (std::vector<std::string>{"api", "risks", "unmapped"})) << path;
  }
  auto detail = match(*b, {.path = "/API/RISKS/AbC-12"});
  ASSERT_TRUE(detail);
  EXPECT_EQ(detail->rule->cfg.name, "detail");
  EXPECT_EQ(detail->params, (Params{{"id", "AbC-12"}}));  // a parameter is the backend's to compare
  EXPECT_EQ(detail->segments, (std::vector<std::string>{"api", "risks", "AbC-12"}));
  auto files = match(*b, {.path = "/api/FILES/Report.PDF"});
  ASSERT_TRUE(files);
  EXPECT_EQ(files->rule->cfg.name, "files");
  EXPECT_EQ(files->segments, (std::vector<std::string>{"api", "Files", "Report.PDF"}));
  EXPECT_EQ(files->params, (Params{{"**", "Report.PDF"}}));
}

TEST(RulebookWarnings, PatternsThatDifferOnlyInCaseShadowWithCaseInsensitiveRouting) {
  const std::string rules = R"(rules:
  - { name: lower, match: { path: /api/items }, pass: true }
  - { name: upper, match: { path: /api/Items }, pass: true }
)";
  auto sensitive = compile(kSecret + rules);
  EXPECT_TRUE(sensitive.warnings.empty()) << text(sensitive.warnings);
  auto insensitive = compile(kSecret + "routing: { case_insensitive: true }\n" + rules);
  EXPECT_TRUE(contains(insensitive.warnings,
                       "test.yaml:5:5: warning: rule 'upper' can never match: rule 'lower' has the same path "
                       "pattern, every one of its methods and no other condition"))
      << text(insensitive.warnings);
}

TEST(RulebookMatch, BacktracksFromALiteralToAParam) {
  auto b = book(kPrecedence);
  ASSERT_TRUE(b);
  EXPECT_EQ(winner(*b, {.path = "/r/lit/x"}), "deep-literal");
  auto m = match(*b, {.path = "/r/lit/y"});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->rule->cfg.name, "deep-param");
  EXPECT_EQ(m->params, (Params{{"p", "lit"}}));
  EXPECT_EQ(winner(*b, {.path = "/r/lit/z"}), "(none)");
}

TEST(RulebookMatch, CapturesParametersAndTheRest) {
  auto b = book(kPrecedence);
  ASSERT_TRUE(b);
  auto p = match(*b, {.path = "/api/controls/list"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->params, (Params{{"kind", "controls"}}));
  EXPECT_EQ(p->segments, (std::vector<std::string>{"api", "controls", "list"}));
  auto r = match(*b, {.path = "/api/a/b/c"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->params, (Params{{"**", "a/b/c"}}));
  auto empty_rest = match(*b, {.path = "/api/"});
  ASSERT_TRUE(empty_rest);
  EXPECT_EQ(empty_rest->params, (Params{{"**", ""}}));
}

TEST(RulebookMatch, FirstInFileOrderAmongEqualPatterns) {
  auto b = book(kSecret + R"(rules:
  - { name: first, match: { path: /items/:id }, pass: true }
  - { name: second, match: { path: /items/:item }, stream: true }
)");
  ASSERT_TRUE(b);
  auto m = match(*b, {.path = "/items/7"});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->rule->cfg.name, "first");
  EXPECT_EQ(m->params, (Params{{"id", "7"}}));
}

TEST(RulebookMatch, HostQueryAndHeaderConditionsFallThroughToTheNextRule) {
  auto b = book(kSecret + R"(rules:
  - { name: by-host, match: { path: /h, host: api.example.com }, pass: true }
  - { name: by-query, match: { path: /h, query: [debug] }, pass: true }
  - { name: by-header, match: { path: /h, headers: [X-Debug] }, pass: true }
  - { name: fallback, match: { path: /h }, stream: true }
)");
  ASSERT_TRUE(b);
  EXPECT_EQ(winner(*b, {.path = "/h", .host = "API.example.com"}), "by-host");
  EXPECT_EQ(winner(*b, {.path = "/h", .query = "x=1&debug", .host = "other"}), "by-query");
  EXPECT_EQ(winner(*b, {.path = "/h", .query = "debugx=1", .headers = {"x-debug"}}), "by-header");
  EXPECT_EQ(winner(*b, {.path = "/h", .query = "x=1", .host = "other"}), "fallback");
  // Without a header lookup, a header condition does not hold.
  RequestView no_lookup{"GET", "/h", nullptr, "", nullptr};
  auto m = b->match(no_lookup);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->rule->cfg.name, "fallback");
}

// docs/rulebook.md section 2.4: `match.host` matches "only requests with this Host (port ignored)".
TEST(RulebookMatch, HostConditionIgnoresThePort) {
  auto b = book(kSecret + R"(rules:
  - { name: by-host, match: { path: /h, host: api.example.com }, pass: true }
  - { name: fallback, match: { path: /h }, stream: true }
)");
  ASSERT_TRUE(b);
  EXPECT_EQ(winner(*b, {.path = "/h", .host = "api.example.com"}), "by-host");
  EXPECT_EQ(winner(*b, {.path = "/h", .host = "api.example.com:8443"}), "by-host");
  EXPECT_EQ(winner(*b, {.path = "/h", .host = "api.example.com.evil:80"}), "fallback");
}

TEST(RulebookMatch, FailedConditionsFallBackToALessSpecificPattern) {
  auto b = book(kSecret + R"(rules:
  - { name: special, match: { path: /c/x, host: special.example.com }, pass: true }
  - { name: general, match: { path: /c/:p }, stream: true }
)");
  ASSERT_TRUE(b);
  EXPECT_EQ(winner(*b, {.path = "/c/x", .host = "special.example.com"}), "special");
  EXPECT_EQ(winner(*b, {.path = "/c/x", .host = "other.example.com"}), "general");
}

TEST(RulebookMatch, GetRulesMatchHead) {
  auto b = book(kSecret + R"(rules:
  - { name: read, match: { method: GET, path: /g }, pass: true }
  - { name: head-only, match: { method: HEAD, path: /h }, pass: true }
  - { name: write, match: { method: [POST, PUT], path: /g }, stream: true }
  - { name: any, match: { path: /any }, pass: true }
)");
  ASSERT_TRUE(b);
  EXPECT_EQ(winner(*b, {.method = "GET", .path = "/g"}), "read");
  EXPECT_EQ(winner(*b, {.method = "HEAD", .path = "/g"}), "read");
  EXPECT_EQ(winner(*b, {.method = "POST", .path = "/g"}), "write");
  EXPECT_EQ(winner(*b, {.method = "PUT", .path = "/g"}), "write");
  EXPECT_EQ(winner(*b, {.method = "DELETE", .path = "/g"}), "(none)");
  EXPECT_EQ(winner(*b, {.method = "HEAD", .path = "/h"}), "head-only");
  EXPECT_EQ(winner(*b, {.method = "GET", .path = "/h"}), "(none)");  // HEAD does not imply GET
  EXPECT_EQ(winner(*b, {.method = "PROPFIND", .path = "/any"}), "any");
  EXPECT_EQ(winner(*b, {.method = "OPTIONS", .path = "/any"}), "any");
  EXPECT_EQ(winner(*b, {.method = "PROPFIND", .path = "/g"}), "(none)");
}

TEST(RulebookMatch, MethodMaskOfARule) {
  auto b = book(kSecret +
                "rules:\n  - { name: r, match: { method: [GET, DELETE], path: /a }, pass: true }\n"
                "  - { name: all, match: { path: /b }, pass: true }\n");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->rules()[0].method_mask, method_bit("GET") | method_bit("HEAD") | method_bit("DELETE"));
  EXPECT_EQ(b->rules()[1].method_mask, 0x1FFu);
  EXPECT_EQ(method_bit("GET"), 1u);
  EXPECT_EQ(method_bit("TRACE"), 1u << 7);
  EXPECT_EQ(method_bit("PROPFIND"), 1u << 8);
  EXPECT_EQ(method_bit("BREW"), method_bit("PROPFIND"));
}

TEST(RulebookMatch, NoMatchIsEmpty) {
  auto b = book(kSecret + "rules:\n  - { name: a, match: { path: /a/:id }, pass: true }\n");
  ASSERT_TRUE(b);
  EXPECT_FALSE(match(*b, {.path = "/b"}));
  EXPECT_FALSE(match(*b, {.path = "/a"}));
  EXPECT_FALSE(match(*b, {.path = "/a/1/2"}));
  EXPECT_FALSE(match(*b, {.path = "/"}));
  auto empty = book(kSecret);
  ASSERT_TRUE(empty);
  EXPECT_FALSE(match(*empty, {.path = "/a/1"}));
}

TEST(RulebookMatch, PercentDecodingAndDotSegments) {
  auto b = book(kSecret + R"(rules:
  - { name: risks, match: { path: /api/risks/:id }, pass: true }
  - { name: tilde, match: { path: /users/%7ebob }, pass: true }
  - { name: everything, match: { path: /** }, stream: true }
)");
  ASSERT_TRUE(b);
  auto m = match(*b, {.path = "/api/%72isks/%34%32"});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->rule->cfg.name, "risks");
  EXPECT_EQ(m->params, (Params{{"id", "42"}}));
  EXPECT_EQ(join_path(m->segments), "/api/risks/42");
  auto slash = match(*b, {.path = "/api/risks/a%2fb"});
  ASSERT_TRUE(slash);
  EXPECT_EQ(slash->rule->cfg.name, "risks");
  EXPECT_EQ(slash->params, (Params{{"id", "a%2Fb"}}));
  EXPECT_EQ(winner(*b, {.path = "/users/~bob"}), "tilde");
  EXPECT_EQ(winner(*b, {.path = "/users/%7Ebob"}), "tilde");
  EXPECT_EQ(winner(*b, {.path = "//api//risks//9/"}), "risks");
  // A dot segment is refused outright, even though `/**` would match any path.
  EXPECT_FALSE(match(*b, {.path = "/api/risks/../admin"}));
  EXPECT_FALSE(match(*b, {.path = "/api/./risks/1"}));
  EXPECT_FALSE(match(*b, {.path = "/api/risks/%2e%2e"}));
}

// ---- semantic errors ----

TEST(RulebookErrors, UnknownParamInATagSuggestsTheClosest) {
  auto c = compile(kSecret + R"(rules:
  - name: r
    match: { path: /risks/:risk_id }
    cache: { tags: ["risk:{riskid}", "x:{zzzzzzzz}"] }
)");
  EXPECT_FALSE(c.rulebook);
  ASSERT_EQ(c.errors.size(), 2u) << text(c.errors);
  EXPECT_EQ(
      c.errors[0].to_string(),
      "test.yaml:5:21: error: rule 'r': tag 'risk:{riskid}' uses {riskid}, which is not a parameter of the "
      "path '/risks/:risk_id'; did you mean {risk_id}?");
  EXPECT_EQ(
      c.errors[1].to_string(),
      "test.yaml:5:38: error: rule 'r': tag 'x:{zzzzzzzz}' uses {zzzzzzzz}, which is not a parameter of the "
      "path '/risks/:risk_id'");
}

TEST(RulebookErrors, UnknownParamInAnInvalidateTag) {
  auto c = compile(kSecret + R"(rules:
  - name: w
    match: { method: DELETE, path: /risks/:id }
    invalidate: ["risk:{idd}"]
)");
  EXPECT_FALSE(c.rulebook);
  ASSERT_EQ(c.errors.size(), 1u) << text(c.errors);
  EXPECT_EQ(
      c.errors[0].to_string(),
      "test.yaml:5:18: error: rule 'w': tag 'risk:{idd}' uses {idd}, which is not a parameter of the path "
      "'/risks/:id'; did you mean {id}?");
}

TEST(RulebookErrors, BadTagSyntaxAndBadPath) {
  auto c = compile(kSecret + R"(rules:
  - name: r
    match: { path: risks/:id }
    cache: { tags: ["risk:{id"] }
)");
  EXPECT_FALSE(c.rulebook);
  EXPECT_TRUE(
      contains(c.errors, "test.yaml:4:20: error: rule 'r': match.path: expected a path starting with '/'"))
      << text(c.errors);
  EXPECT_TRUE(
      contains(c.errors, "test.yaml:5:21: error: rule 'r': tag: expected a closing '}' in 'risk:{id'"))
      << text(c.errors);
}

TEST(RulebookErrors, DuplicateAndInvalidNames) {
  auto c = compile(kSecret + R"(rules:
  - name: a
    match: { path: /a }
    pass: true
  - name: a
    match: { path: /b }
    pass: true
  - name: has space
    match: { path: /c }
    pass: true
)");
  EXPECT_FALSE(c.rulebook);
  ASSERT_EQ(c.errors.size(), 2u) << text(c.errors);
  EXPECT_EQ(c.errors[0].to_string(),
            "test.yaml:6:5: error: duplicate rule name 'a' (first defined at test.yaml:3)");
  EXPECT_EQ(c.errors[1].to_string(),
            "test.yaml:9:5: error: rule name 'has space': expected letters, digits, '-', '_' or '.'");
}

TEST(RulebookErrors, UserAndTenantScopesNeedJwt) {
  auto c = compile(kSecret + R"(rules:
  - name: t
    match: { path: /t }
    cache: { scope: tenant }
  - name: u
    match: { path: /u }
    cache:
      scope: user
)");
  EXPECT_FALSE(c.rulebook);
  ASSERT_EQ(c.errors.size(), 2u) << text(c.errors);
  EXPECT_EQ(
      c.errors[0].to_string(),
      "test.yaml:5:21: error: rule 't': scope 'tenant' needs JWT verification: configure 'identity.jwt'");
  EXPECT_EQ(c.errors[1].to_string(),
            "test.yaml:9:14: error: rule 'u': scope 'user' needs JWT verification: configure 'identity.jwt'");

  auto ok =
      compile(kSecret + kJwt + "rules:\n  - { name: t, match: { path: /t }, cache: { scope: tenant } }\n");
  EXPECT_TRUE(ok.rulebook) << text(ok.errors);
}

TEST(RulebookErrors, TenantOrUserTagNeedsAScopeThatProvidesIt) {
  auto c = compile(kSecret + kJwt + R"(rules:
  - name: cred
    match: { path: /a }
    cache: { tags: ["a:{tenant}"] }
  - name: pub
    match: { path: /b }
    cache: { scope: public, tags: ["b:{user}"] }
  - name: ten
    match: { path: /c }
    cache: { scope: tenant, tags: ["c:{tenant}", "c:{user}"] }
  - name: usr
    match: { path: /d }
    cache: { scope: user, tags: ["d:{tenant}:{user}"] }
)");
  EXPECT_FALSE(c.rulebook);
  ASSERT_EQ(c.errors.size(), 3u) << text(c.errors);
  EXPECT_EQ(
      c.errors[0].to_string(),
      "test.yaml:6:21: error: rule 'cred': tag 'a:{tenant}' uses {tenant}, which scope 'credential' does not "
      "provide");
  EXPECT_EQ(
      c.errors[1].to_string(),
      "test.yaml:9:36: error: rule 'pub': tag 'b:{user}' uses {user}, which scope 'public' does not provide");
  EXPECT_EQ(c.errors[2].to_string(),
            "test.yaml:12:50: error: rule 'ten': tag 'c:{user}' uses {user}, which scope 'tenant' does not "
            "provide");
}

TEST(RulebookErrors, RoleScopeNeedsAuthzClaimsAndProvidesTheTenantOnly) {
  const std::string rules = R"(rules:
  - name: shared
    match: { path: /s }
    cache: { scope: role, tags: ["s:{tenant}"] }
)";
  auto no_jwt = compile(kSecret + rules);
  ASSERT_EQ(no_jwt.errors.size(), 1u) << text(no_jwt.errors);
  EXPECT_EQ(
      no_jwt.errors[0].to_string(),
      "test.yaml:5:21: error: rule 'shared': scope 'role' needs JWT verification: configure 'identity.jwt'");
  auto no_claims = compile(kSecret + kJwt + rules);
  ASSERT_EQ(no_claims.errors.size(), 1u) << text(no_claims.errors);
  EXPECT_EQ(
      no_claims.errors[0].to_string(),
      "test.yaml:6:21: error: rule 'shared': scope 'role' shares by the permission claims: list them in "
      "'identity.jwt.authz_claims' (e.g. [permissions, org_roles])");
  const std::string with_claims =
      kSecret + "identity: { jwt: { algorithm: HS256, secret: s, authz_claims: [permissions] } }\n";
  auto ok = compile(with_claims + rules);
  EXPECT_TRUE(ok.rulebook) << text(ok.errors);
  auto user_tag = compile(with_claims + R"(rules:
  - name: shared
    match: { path: /s }
    cache: { scope: role, tags: ["s:{user}"] }
)");
  ASSERT_EQ(user_tag.errors.size(), 1u) << text(user_tag.errors);
  EXPECT_EQ(user_tag.errors[0].to_string(),
            "test.yaml:6:34: error: rule 'shared': tag 's:{user}' uses {user}, which scope 'role' does not "
            "provide");
}

TEST(RulebookErrors, APermissionNeedsTenantScopeAndOneName) {
  auto c =
      compile(kSecret + "identity: { jwt: { algorithm: HS256, secret: s, authz_claims: [permissions] } }\n" +
              R"(rules:
  - name: ok
    match: { path: /ok }
    cache: { scope: tenant, permission: "risks:read" }
  - name: role
    match: { path: /role }
    cache: { scope: role, permission: "risks:read" }
  - name: user
    match: { path: /user }
    cache: { scope: user, permission: "risks:read" }
  - name: wildcard
    match: { path: /w }
    cache: { scope: tenant, permission: "risks:*" }
  - name: blank
    match: { path: /b }
    cache: { scope: tenant, permission: "risks read" }
  - name: empty
    match: { path: /e }
    cache: { scope: tenant, permission: "" }
)");
  EXPECT_FALSE(c.rulebook);
  ASSERT_EQ(c.errors.size(), 5u) << text(c.errors);
  EXPECT_EQ(
      c.errors[0].to_string(),
      "test.yaml:9:39: error: rule 'role': 'permission' shares an entry among the tenant's members that "
      "hold it: it needs scope 'tenant', not 'role'");
  EXPECT_EQ(
      c.errors[1].to_string(),
      "test.yaml:12:39: error: rule 'user': 'permission' shares an entry among the tenant's members that "
      "hold it: it needs scope 'tenant', not 'user'");
  EXPECT_EQ(
      c.errors[2].to_string(),
      "test.yaml:15:41: error: rule 'wildcard': permission 'risks:*': expected one permission name such "
      "as risks:read (no blanks, no '*')");
  EXPECT_EQ(
      c.errors[3].to_string(),
      "test.yaml:18:41: error: rule 'blank': permission 'risks read': expected one permission name such "
      "as risks:read (no blanks, no '*')");
  EXPECT_EQ(c.errors[4].to_string(),
            "test.yaml:21:41: error: rule 'empty': permission '': expected one permission name such as "
            "risks:read (no blanks, no '*')");

  auto no_claim =
      compile(kSecret + "identity: { jwt: { algorithm: HS256, secret: s, permissions_claim: \"\" } }\n" +
              R"(rules:
  - name: ok
    match: { path: /ok }
    cache: { scope: tenant, permission: "risks:read" }
)");
  ASSERT_EQ(no_claim.errors.size(), 1u) << text(no_claim.errors);
  EXPECT_EQ(no_claim.errors[0].to_string(),
            "test.yaml:6:41: error: rule 'ok': 'permission' reads the token's permissions: set "
            "'identity.jwt.permissions_claim' (e.g. permissions)");
}

TEST(RulebookErrors, CredentialScopeNeedsAKeySecret) {
  auto c = compile(R"(rules:
  - name: implicit
    match: { path: /a }
    cache: {}
  - name: explicit
    match: { path: /b }
    cache: { scope: credential }
  - name: public
    match: { path: /c }
    cache: { scope: public }
)");
  EXPECT_FALSE(c.rulebook);
  ASSERT_EQ(c.errors.size(), 2u) << text(c.errors);
  EXPECT_EQ(
      c.errors[0].to_string(),
      "test.yaml:2:5: error: rule 'implicit': scope 'credential' keys on an HMAC of the credential: set "
      "'cache.key_secret' (or cache.key_secret_file)");
  EXPECT_EQ(
      c.errors[1].to_string(),
      "test.yaml:7:21: error: rule 'explicit': scope 'credential' keys on an HMAC of the credential: set "
      "'cache.key_secret' (or cache.key_secret_file)");
}

// Key material is stored with every entry: a header that carries a credential cannot be keyed on raw (a
// security probe's point: the Vary variant stored the bearer token; a rule keying on the header would too).
TEST(RulebookErrors, KeyHeadersNeverNameACredential) {
  auto c = compile(kSecret + R"(identity:
  credential: [{ header: Authorization }, { header: X-Api-Key }]
rules:
  - name: by-token
    match: { path: /a }
    cache: { key: { headers: [authorization] } }
  - name: by-cookie
    match: { path: /b }
    cache: { key: { headers: [Accept-Language, Cookie] } }
  - name: by-api-key
    match: { path: /c }
    cache: { key: { headers: [x-api-key] } }
  - name: by-language
    match: { path: /d }
    cache: { key: { headers: [Accept-Language] } }
)");
  EXPECT_FALSE(c.rulebook);
  ASSERT_EQ(c.errors.size(), 3u) << text(c.errors);
  EXPECT_EQ(c.errors[0].to_string(),
            "test.yaml:5:5: error: rule 'by-token': key.headers names 'authorization', which carries a "
            "credential: a key never holds one; use scope 'credential' (it keys on the credential's HMAC) "
            "or a JWT scope");
  EXPECT_NE(c.errors[1].message.find("'Cookie'"), std::string::npos) << text(c.errors);
  EXPECT_NE(c.errors[2].message.find("'x-api-key'"), std::string::npos) << text(c.errors);
}

TEST(RulebookErrors, InvalidateWithTenantOrUserNeedsJwt) {
  auto c = compile(kSecret + R"(rules:
  - name: w
    match: { method: POST, path: /risks }
    invalidate: ["risks:{tenant}", "mine:{user}", "all-risks"]
)");
  EXPECT_FALSE(c.rulebook);
  ASSERT_EQ(c.errors.size(), 2u) << text(c.errors);
  EXPECT_EQ(c.errors[0].to_string(),
            "test.yaml:5:18: error: rule 'w': tag 'risks:{tenant}' needs the writer's verified JWT, but "
            "'identity.jwt' is not configured");
  EXPECT_EQ(c.errors[1].line, 5);
  EXPECT_EQ(c.errors[1].column, 36);
  EXPECT_NE(c.errors[1].message.find("tag 'mine:{user}' needs the writer's verified JWT"), std::string::npos);

  auto ok = compile(kSecret + kJwt + R"(rules:
  - { name: w, match: { method: POST, path: /risks }, invalidate: ["risks:{tenant}"] }
)");
  EXPECT_TRUE(ok.rulebook) << text(ok.errors);
}

// ---- warnings ----

TEST(RulebookWarnings, CleanRulebookHasNone) {
  auto c = compile(kSecret + kJwt + R"(rules:
  - name: read
    match: { method: GET, path: /api/v1/risks/:id }
    cache: { scope: tenant, ttl: 1m, tags: ["risk:{tenant}:{id}"] }
  - name: write
    match: { method: [PUT, DELETE], path: /api/v1/risks/:id }
    invalidate: ["risk:{tenant}:{id}"]
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  EXPECT_TRUE(c.warnings.empty()) << text(c.warnings);
}

TEST(RulebookWarnings, CacheUnderAuth) {
  auto c = compile(kSecret + R"(rules:
  - name: me
    match: { path: /auth/me }
    cache: {}
  - name: nested
    match: { path: /api/auth/:x }
    cache: {}
  - name: authors
    match: { path: /authors }
    cache: {}
  - name: login
    match: { path: /auth/login }
    pass: true
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  ASSERT_EQ(c.warnings.size(), 2u) << text(c.warnings);
  EXPECT_EQ(
      c.warnings[0].to_string(),
      "test.yaml:4:20: warning: rule 'me' caches a route under /auth/: authentication responses carry tokens "
      "and cookies");
  EXPECT_TRUE(c.warnings[0].warning);
  EXPECT_EQ(c.warnings[1].line, 7);
  EXPECT_NE(c.warnings[1].message.find("rule 'nested' caches a route under /auth/"), std::string::npos);
}

TEST(RulebookWarnings, Caching5xx) {
  auto c = compile(kSecret + R"(rules:
  - name: r
    match: { path: /r }
    cache: { statuses: [200, 500, 503] }
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  ASSERT_EQ(c.warnings.size(), 2u) << text(c.warnings);
  EXPECT_EQ(c.warnings[0].to_string(),
            "test.yaml:5:24: warning: rule 'r' caches status 500: a backend failure would be served from the "
            "cache");
  EXPECT_EQ(c.warnings[1].to_string(),
            "test.yaml:5:24: warning: rule 'r' caches status 503: a backend failure would be served from the "
            "cache");
}

TEST(RulebookWarnings, TtlZero) {
  auto c = compile(kSecret + R"(rules:
  - name: r
    match: { path: /r }
    cache: { ttl: 0 }
  - name: o
    match: { path: /o }
    cache: { ttl: origin }
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  ASSERT_EQ(c.warnings.size(), 1u) << text(c.warnings);
  EXPECT_EQ(c.warnings[0].to_string(), "test.yaml:5:19: warning: rule 'r' has ttl 0: nothing is ever fresh");
}

TEST(RulebookWarnings, PublicScopeNextToAnAuthenticatedRule) {
  auto c = compile(kSecret + R"(rules:
  - name: pub
    match: { path: /api/v1/risks/:id }
    cache: { scope: public }
  - name: priv
    match: { path: /api/v1/risks/summary }
    cache: { scope: credential }
  - name: other-pub
    match: { path: /api/v1/catalog/:id }
    cache: { scope: public }
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  ASSERT_EQ(c.warnings.size(), 1u) << text(c.warnings);
  EXPECT_EQ(
      c.warnings[0].to_string(),
      "test.yaml:5:21: warning: rule 'pub' caches with scope public, but rule 'priv' treats /api/v1/risks as "
      "authenticated (scope credential)");
}

TEST(RulebookWarnings, CacheTagNeverPurged) {
  auto c = compile(kSecret + R"(rules:
  - name: r
    match: { path: /r/:id }
    cache: { tags: ["r:{id}", "kept"] }
  - name: w
    match: { method: POST, path: /w }
    invalidate: ["kept"]
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  ASSERT_EQ(c.warnings.size(), 1u) << text(c.warnings);
  EXPECT_EQ(
      c.warnings[0].to_string(),
      "test.yaml:5:21: warning: rule 'r': no invalidate rule ever purges tag 'r:{id}' (entries only expire)");
}

TEST(RulebookWarnings, InvalidateTagNeverCarried) {
  auto c = compile(kSecret + R"(rules:
  - name: w
    match: { method: POST, path: /w/:id }
    invalidate: [things, "r:{id}"]
  - name: r
    match: { path: /r/:id }
    cache: { tags: ["r:{id}"] }
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  ASSERT_EQ(c.warnings.size(), 1u) << text(c.warnings);
  EXPECT_EQ(
      c.warnings[0].to_string(),
      "test.yaml:5:18: warning: rule 'w': no cache rule carries tag 'things' (the purge can never remove "
      "anything)");
}

// Issue 17: a tag rendered from the write's answer ({answer.field}) has a fallback; only a write has an
// answer.
TEST(RulebookErrors, AnswerTagsNeedAFallbackAndAWrite) {
  auto c = compile(kSecret + kJwt + R"(rules:
  - name: r
    match: { path: /r/:id }
    cache: { scope: tenant, tags: ["r:{tenant}:{id}", "rs:{tenant}", "x:{answer.id}"] }
  - name: bare
    match: { method: POST, path: /p/:id }
    invalidate: ["r:{tenant}:{answer.risk_id}"]
  - name: plain-fallback
    match: { method: POST, path: /q/:id }
    invalidate: [{ tag: "r:{tenant}:{id}", fallback: "rs:{tenant}" }]
  - name: answer-in-fallback
    match: { method: POST, path: /s/:id }
    invalidate: [{ tag: "r:{tenant}:{answer.risk_id}", fallback: "r:{tenant}:{answer.id}" }]
  - name: bad-param-in-fallback
    match: { method: POST, path: /t/:id }
    invalidate: [{ tag: "r:{tenant}:{answer.risk_id}", fallback: "rs:{tenant}:{idd}" }]
)");
  EXPECT_FALSE(c.rulebook);
  const std::vector<std::string> expected = {
      "test.yaml:6:70: error: rule 'r': tag 'x:{answer.id}' uses {answer.id}, a field of the backend's "
      "answer "
      "to a write: only an invalidate rule's tag can",
      "test.yaml:9:18: error: rule 'bare': tag 'r:{tenant}:{answer.risk_id}' is rendered from the answer: "
      "write it as { tag: \"r:{tenant}:{answer.risk_id}\", fallback: F }, F being the tag to purge when the "
      "answer lacks the field",
      "test.yaml:12:18: error: rule 'plain-fallback': tag 'r:{tenant}:{id}' has a fallback but no "
      "{answer.field} (a fallback is what is purged when the answer lacks the field)",
      "test.yaml:15:18: error: rule 'answer-in-fallback': fallback 'r:{tenant}:{answer.id}' uses "
      "{answer.id}: it "
      "is purged when the answer cannot be read",
      "test.yaml:18:18: error: rule 'bad-param-in-fallback': tag 'rs:{tenant}:{idd}' uses {idd}, which is "
      "not "
      "a parameter of the path '/t/:id'; did you mean {id}?"};
  ASSERT_EQ(c.errors.size(), expected.size()) << text(c.errors);
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(c.errors[i].to_string(), expected[i]);
}

// A fallback purges: the cache tag it renders to is not "never purged", and it is checked like a tag.
TEST(RulebookWarnings, AFallbackPurgesAndIsCheckedForACarrier) {
  auto c = compile(kSecret + kJwt + R"(rules:
  - name: r
    match: { path: /r/:id }
    cache: { scope: tenant, tags: ["r:{tenant}:{id}", "details:{tenant}"] }
  - name: w
    match: { method: POST, path: /p/:id }
    invalidate: [{ tag: "r:{tenant}:{answer.risk_id}", fallback: "details:{tenant}" },
                 { tag: "r:{tenant}:{answer.other}", fallback: "nobody" }]
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  ASSERT_EQ(c.warnings.size(), 1u) << text(c.warnings);
  EXPECT_EQ(
      c.warnings[0].to_string(),
      "test.yaml:10:18: warning: rule 'w': no cache rule carries tag 'nobody' (the purge can never remove "
      "anything)");
  const auto& w = c.rulebook->rules()[1];
  ASSERT_EQ(w.fallbacks.size(), 2u);
  ASSERT_TRUE(w.fallbacks[0]);
  EXPECT_EQ(w.fallbacks[0]->source, "details:{tenant}");
  EXPECT_EQ(c.rulebook->purged_by(w).size(), 1u);
}

TEST(RulebookWarnings, ShadowedRule) {
  auto c = compile(kSecret + R"(rules:
  - { name: first, match: { method: GET, path: /s/:a }, pass: true }
  - { name: second, match: { method: HEAD, path: /s/:b }, pass: true }
  - { name: third, match: { method: POST, path: /s/:c }, pass: true }
  - { name: cond, match: { path: /t, host: x }, pass: true }
  - { name: after-cond, match: { path: /t }, pass: true }
  - { name: any, match: { path: /u }, pass: true }
  - { name: after-any, match: { method: DELETE, path: /u }, pass: true }
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  ASSERT_EQ(c.warnings.size(), 2u) << text(c.warnings);
  EXPECT_EQ(
      c.warnings[0].to_string(),
      "test.yaml:4:5: warning: rule 'second' can never match: rule 'first' has the same path pattern, every "
      "one of its methods and no other condition");
  EXPECT_EQ(
      c.warnings[1].to_string(),
      "test.yaml:9:5: warning: rule 'after-any' can never match: rule 'any' has the same path pattern, every "
      "one of its methods and no other condition");
}

// ---- purged_by ----

TEST(Rulebook, PurgedByFindsTheCacheRulesAWriteReaches) {
  auto c = compile(kSecret + R"(rules:
  - { name: risk, match: { path: /risks/:id }, cache: { tags: ["risk:{id}", "risks"] } }
  - { name: controls, match: { path: /controls }, cache: { tags: ["controls"] } }
  - { name: untagged, match: { path: /other }, cache: {} }
  - { name: write-one, match: { method: PUT, path: /risks/:id }, invalidate: ["risk:{id}"] }
  - { name: write-all, match: { method: POST, path: /bulk }, invalidate: ["controls", "risks"] }
  - { name: pass, match: { path: /p }, pass: true }
)");
  ASSERT_TRUE(c.rulebook) << text(c.errors);
  const auto& rules = c.rulebook->rules();
  ASSERT_EQ(rules.size(), 6u);
  auto names = [](const std::vector<const CompiledRule*>& v) {
    std::vector<std::string> out;
    for (const auto* r : v) out.push_back(r->cfg.name);
    return out;
  };
  EXPECT_EQ(names(c.rulebook->purged_by(rules[3])), (std::vector<std::string>{"risk"}));
  EXPECT_EQ(names(c.rulebook->purged_by(rules[4])), (std::vector<std::string>{"risk", "controls"}));
  EXPECT_TRUE(c.rulebook->purged_by(rules[5]).empty());
  EXPECT_EQ(rules[3].index, 3u);
  ASSERT_EQ(rules[0].tags.size(), 2u);
  EXPECT_EQ(rules[0].tags[0].source, "risk:{id}");
}

}  // namespace
}  // namespace orc::rules
