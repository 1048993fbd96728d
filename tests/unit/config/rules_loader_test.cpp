// Unit tests for config/rules_loader: the rulebook sections read from YAML, with file:line:column errors.
#include "config/rules_loader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "config/config_loader.hpp"
#include "test_helpers.hpp"

namespace orc::config {
namespace {

using std::chrono::milliseconds;

LoadResult load(const std::string& yaml) {
  return load_config_string(yaml, "test.yaml");
}

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

bool has_error(const LoadResult& r, const std::string& text) {
  return all_errors(r).find(text) != std::string::npos;
}

TEST(RulesLoader, ReadsEveryRuleKey) {
  auto r = load(R"(cache: { key_secret: k }
identity: { jwt: { algorithm: HS256, secret: s } }
rules:
  - name: risk-read
    match:
      method: [get, Post]
      path: /api/v1/risks/:id
      host: api.example.com
      query: [expand]
      headers: [X-Tenant]
    cache:
      ttl: 90s
      scope: tenant
      key:
        query: [expand, page]
        other_query: bypass
        headers: [Accept-Language]
      tags: ["risk:{tenant}:{id}", "risks:{tenant}"]
      statuses: [200, 404]
      max_body: 64KiB
      stale_while_revalidate: 10s
      stale_if_error: 1m
      heuristic_max: 2h
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  ASSERT_EQ(r.config->rules.size(), 1u);
  const RuleConfig& rule = r.config->rules[0];
  EXPECT_EQ(rule.name, "risk-read");
  EXPECT_EQ(rule.pos.file, "test.yaml");
  EXPECT_EQ(rule.pos.line, 4);
  EXPECT_EQ(rule.pos.column, 5);
  EXPECT_EQ(rule.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(rule.path, "/api/v1/risks/:id");
  EXPECT_EQ(rule.path_pos.line, 7);
  EXPECT_EQ(rule.path_pos.column, 13);
  EXPECT_EQ(rule.host, "api.example.com");
  EXPECT_EQ(rule.require_query, (std::vector<std::string>{"expand"}));
  EXPECT_EQ(rule.require_headers, (std::vector<std::string>{"X-Tenant"}));
  EXPECT_EQ(rule.action, ActionKind::cache);

  const CacheAction& c = rule.cache;
  EXPECT_FALSE(c.ttl_origin);
  EXPECT_EQ(c.ttl, milliseconds(90'000));
  EXPECT_EQ(c.ttl_pos.line, 12);
  EXPECT_EQ(c.ttl_pos.column, 12);
  EXPECT_EQ(c.scope, Scope::tenant);
  EXPECT_EQ(c.scope_pos.line, 13);
  EXPECT_EQ(c.scope_pos.column, 14);
  EXPECT_EQ(c.key_query, (std::vector<std::string>{"expand", "page"}));
  EXPECT_TRUE(c.other_query_bypass);
  EXPECT_EQ(c.key_headers, (std::vector<std::string>{"Accept-Language"}));
  ASSERT_EQ(c.tags.size(), 2u);
  EXPECT_EQ(c.tags[0].value, "risk:{tenant}:{id}");
  EXPECT_EQ(c.tags[0].pos.line, 18);
  EXPECT_EQ(c.tags[0].pos.column, 14);
  EXPECT_EQ(c.tags[1].value, "risks:{tenant}");
  EXPECT_EQ(c.tags[1].pos.line, 18);
  EXPECT_EQ(c.tags[1].pos.column, 36);
  EXPECT_EQ(c.statuses, (std::vector<unsigned>{200, 404}));
  EXPECT_EQ(c.statuses_pos.line, 19);
  EXPECT_EQ(c.max_body, 64u * 1024);
  EXPECT_EQ(c.stale_while_revalidate, milliseconds(10'000));
  EXPECT_EQ(c.stale_if_error, milliseconds(60'000));
  EXPECT_EQ(c.heuristic_max, milliseconds(7'200'000));
}

TEST(RulesLoader, CacheDefaultsWhenNothingIsSaid) {
  auto r = load("rules:\n  - name: a\n    match: { path: /a }\n    cache: {}\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  const CacheAction& c = r.config->rules[0].cache;
  EXPECT_EQ(r.config->rules[0].action, ActionKind::cache);
  EXPECT_EQ(c.ttl, milliseconds(5 * 60'000));
  EXPECT_EQ(c.scope, Scope::credential);
  EXPECT_FALSE(c.other_query_bypass);
  EXPECT_TRUE(c.key_query.empty());
  EXPECT_EQ(c.statuses, (std::vector<unsigned>{200, 203, 204, 300, 301, 404, 410}));
  EXPECT_EQ(c.max_body, 1024u * 1024);
  EXPECT_EQ(c.scope_pos.line, 0);  // not written: the checks fall back to the rule's position
}

// The RFC 9111 options of origin rules: the key is the target URI unless a query list is given.
TEST(RulesLoader, OriginRulesKeyOnTheWholeQueryAndReadTheHttpOptions) {
  auto r = load(R"(rules:
  - name: origin
    match: { path: /a }
    cache: { ttl: origin, scope: public, targeted_field: OpenRisk-Cache-Control, forward_targeted: true,
             set_cookie: strip, validation_window: 0s }
  - name: listed
    match: { path: /b }
    cache: { ttl: origin, key: { query: [page] } }
  - name: all
    match: { path: /c }
    cache: { ttl: 1m, key: { query: all } }
  - name: plain
    match: { path: /d }
    cache: { ttl: 1m }
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& rules = r.config->rules;
  EXPECT_TRUE(rules[0].cache.key_query_all);
  EXPECT_EQ(rules[0].cache.targeted,
            (std::vector<std::string>{"OpenRisk-Cache-Control", "CDN-Cache-Control"}));
  EXPECT_TRUE(rules[0].cache.forward_targeted);
  EXPECT_TRUE(rules[0].cache.set_cookie_strip);
  EXPECT_EQ(rules[0].cache.validation_window, milliseconds(0));
  EXPECT_EQ(rules[3].cache.validation_window, milliseconds(10 * 60'000));
  EXPECT_FALSE(rules[1].cache.key_query_all);
  EXPECT_EQ(rules[1].cache.key_query, (std::vector<std::string>{"page"}));
  EXPECT_TRUE(rules[2].cache.key_query_all);
  EXPECT_FALSE(rules[3].cache.key_query_all);
  EXPECT_EQ(rules[3].cache.targeted, (std::vector<std::string>{"CDN-Cache-Control"}));
  EXPECT_FALSE(rules[3].cache.forward_targeted);
  EXPECT_FALSE(rules[3].cache.set_cookie_strip);

  for (const char* bad : {"key: { query: some }", "set_cookie: keep", "targeted_field: 'Bad Name'"}) {
    auto e = load(std::string("rules:\n  - name: x\n    match: { path: /x }\n    cache: { ttl: origin, ") +
                  bad + " }\n");
    EXPECT_FALSE(e.config) << bad;
    EXPECT_NE(all_errors(e).find("expected"), std::string::npos) << all_errors(e);
  }
}

TEST(RulesLoader, DefaultsBlockAppliesToEveryCacheRuleAndRulesOverrideIt) {
  auto r = load(R"(defaults:
  cache:
    ttl: 30s
    scope: public
    statuses: [200]
    key: { query: [page], other_query: bypass }
rules:
  - name: a
    match: { path: /a }
    cache: { ttl: 1m }
  - name: b
    match: { path: /b }
    cache: { scope: credential, key: { query: [q] } }
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& a = r.config->rules[0].cache;
  EXPECT_EQ(a.ttl, milliseconds(60'000));
  EXPECT_EQ(a.scope, Scope::public_);
  EXPECT_EQ(a.statuses, (std::vector<unsigned>{200}));
  EXPECT_EQ(a.key_query, (std::vector<std::string>{"page"}));
  EXPECT_TRUE(a.other_query_bypass);
  const auto& b = r.config->rules[1].cache;
  EXPECT_EQ(b.ttl, milliseconds(30'000));
  EXPECT_EQ(b.scope, Scope::credential);
  EXPECT_EQ(b.key_query, (std::vector<std::string>{"q"}));
  EXPECT_TRUE(b.other_query_bypass);
}

TEST(RulesLoader, DefaultsBlockHasNoTags) {
  auto r = load("defaults:\n  cache:\n    tags: [x]\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].column, 5);
  EXPECT_NE(r.errors[0].message.find("unknown key 'defaults.cache.tags'"), std::string::npos)
      << all_errors(r);
}

TEST(RulesLoader, MethodListSingleMethodOrOmitted) {
  auto r = load(R"(rules:
  - { name: many, match: { method: [GET, head, Delete], path: /a }, pass: true }
  - { name: one, match: { method: patch, path: /b }, pass: true }
  - { name: any, match: { path: /c }, pass: true }
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->rules[0].methods, (std::vector<std::string>{"GET", "HEAD", "DELETE"}));
  EXPECT_EQ(r.config->rules[1].methods, (std::vector<std::string>{"PATCH"}));
  EXPECT_TRUE(r.config->rules[2].methods.empty());
  EXPECT_EQ(r.config->rules[2].action, ActionKind::pass);
}

TEST(RulesLoader, UnknownMethodSuggestsTheClosest) {
  auto r = load("rules:\n  - name: a\n    match: { method: GETT, path: /a }\n    pass: true\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:3:22: error: 'rules[0].match.method': unknown method 'GETT'; did you mean 'GET'?");
}

TEST(RulesLoader, TtlOrigin) {
  auto r = load("rules:\n  - name: a\n    match: { path: /a }\n    cache: { ttl: origin }\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_TRUE(r.config->rules[0].cache.ttl_origin);
}

TEST(RulesLoader, BadTtlIsAnError) {
  auto r = load("rules:\n  - name: a\n    match: { path: /a }\n    cache: { ttl: forever }\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(
      r.errors[0].to_string(),
      "test.yaml:4:19: error: 'rules[0].cache.ttl': expected a duration such as 30s or 5m, or 'origin', got "
      "'forever'");
}

TEST(RulesLoader, InvalidateAndStreamActions) {
  auto r = load(R"(rules:
  - name: w
    match: { method: POST, path: /a/:id }
    invalidate: ["a:{id}", "list"]
  - name: s
    match: { path: /events }
    stream: true
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& w = r.config->rules[0];
  EXPECT_EQ(w.action, ActionKind::invalidate);
  ASSERT_EQ(w.invalidate.size(), 2u);
  EXPECT_EQ(w.invalidate[0].value, "a:{id}");
  EXPECT_EQ(w.invalidate[0].pos.line, 4);
  EXPECT_EQ(w.invalidate[0].pos.column, 18);
  EXPECT_EQ(w.invalidate[1].value, "list");
  EXPECT_EQ(r.config->rules[1].action, ActionKind::stream);
}

TEST(RulesLoader, InvalidateTagWithABodyCondition) {
  auto r = load(R"(rules:
  - name: w
    match: { method: PATCH, path: /a/:id }
    invalidate: ["a:{id}", { tag: "counts", unless_body_only: [title, tags] }]
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& w = r.config->rules[0];
  ASSERT_EQ(w.invalidate.size(), 2u);
  EXPECT_TRUE(w.invalidate[0].unless_body_only.empty());
  EXPECT_EQ(w.invalidate[1].value, "counts");
  EXPECT_EQ(w.invalidate[1].unless_body_only, (std::vector<std::string>{"title", "tags"}));
  EXPECT_EQ(w.invalidate[1].pos.line, 4);
  EXPECT_EQ(w.invalidate[1].pos.column, 28);
}

TEST(RulesLoader, InvalidateTagFromTheAnswerWithItsFallback) {
  auto r = load(R"(rules:
  - name: w
    match: { method: POST, path: /plans/:id/steps }
    invalidate: ["plans", { tag: "risk:{answer.risk_id}", fallback: "risks" }]
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& w = r.config->rules[0];
  ASSERT_EQ(w.invalidate.size(), 2u);
  EXPECT_TRUE(w.invalidate[0].fallback.empty());
  EXPECT_EQ(w.invalidate[1].value, "risk:{answer.risk_id}");
  EXPECT_EQ(w.invalidate[1].fallback, "risks");
  EXPECT_TRUE(w.invalidate[1].unless_body_only.empty());
}

TEST(RulesLoader, InvalidateBodyConditionErrorsNameTheItem) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({ unless_body_only: [title] })",
       "test.yaml:4:18: error: 'rules[0].invalidate[0].tag': expected the tag to purge"},
      {R"({ tag: t })",
       "test.yaml:4:18: error: 'rules[0].invalidate[0]': expected either unless_body_only or fallback beside "
       "tag"},
      {R"({ tag: t, unless_body_only: [title], fallback: f })",
       "test.yaml:4:18: error: 'rules[0].invalidate[0]': expected either unless_body_only or fallback beside "
       "tag"},
      {R"({ tag: "t:{answer.x}", fallback: "" })",
       "test.yaml:4:18: error: 'rules[0].invalidate[0].fallback': expected the tag to purge when the answer "
       "lacks the fields"},
      {R"({ tag: t, unless_body_only: [] })",
       "test.yaml:4:18: error: 'rules[0].invalidate[0].unless_body_only': expected a list of at least one "
       "field name"},
      {R"({ tag: t, unles_body_only: [title] })",
       "test.yaml:4:28: error: unknown key 'rules[0].invalidate[0].unles_body_only'; did you mean "
       "'unless_body_only'?"},
      {R"([nested])",
       "test.yaml:4:18: error: 'rules[0].invalidate[0]': expected a tag, or a mapping { tag, "
       "unless_body_only } or { tag, fallback }"},
  };
  for (const auto& [item, error] : cases) {
    auto r =
        load(std::string("rules:\n  - name: w\n    match: { method: PATCH, path: /a }\n    invalidate: [") +
             item + "]\n");
    ASSERT_FALSE(r.config) << item;
    ASSERT_FALSE(r.errors.empty()) << item;
    EXPECT_EQ(r.errors[0].to_string(), error) << item;
  }
}

TEST(RulesLoader, InvalidateNeedsAtLeastOneTag) {
  auto r = load("rules:\n  - name: w\n    match: { method: POST, path: /a }\n    invalidate: []\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:4:17: error: 'rules[0].invalidate': expected at least one tag to purge");
}

TEST(RulesLoader, RuleWithoutActionIsAnErrorAtTheRule) {
  auto r = load("rules:\n  - name: none\n    match: { path: /a }\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(
      r.errors[0].to_string(),
      "test.yaml:2:5: error: rule 'none': expected exactly one action of cache, invalidate, pass or stream, "
      "found 0");
}

TEST(RulesLoader, RuleWithTwoActionsIsAnErrorAtTheRule) {
  auto r = load(
      "listen: 127.0.0.1:1\nrules:\n  - name: first\n    match: { path: /a }\n    pass: true\n"
      "  - name: both\n    match: { path: /b }\n    pass: true\n    stream: true\n"
      "  - name: cache-and-purge\n    match: { path: /c }\n    cache: {}\n    invalidate: [x]\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_EQ(
      r.errors[0].to_string(),
      "test.yaml:6:5: error: rule 'both': expected exactly one action of cache, invalidate, pass or stream, "
      "found 2");
  EXPECT_EQ(
      r.errors[1].to_string(),
      "test.yaml:10:5: error: rule 'cache-and-purge': expected exactly one action of cache, invalidate, pass "
      "or stream, found 2");
}

TEST(RulesLoader, NameMatchAndPathAreRequired) {
  auto r = load("rules:\n  - pass: true\n  - name: b\n    match: { host: x }\n    pass: true\n");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "test.yaml:2:5: error: 'rules[0]': every rule needs a 'name'")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:2:5: error: 'rules[0]': every rule needs a 'match'")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:4:12: error: 'rules[1].match': a 'path' is required")) << all_errors(r);
}

// Without a close match, the message lists the section's keys, each once (scope and permission are read
// twice: their position, then their value).
TEST(RulesLoader, UnknownKeyListsEachKnownKeyOnce) {
  auto r = load("rules:\n  - name: a\n    match: { path: /a }\n    cache: { ttl: 1m, bogus: 1 }\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  const auto& m = r.errors[0].message;
  const std::string lead = "unknown key 'rules[0].cache.bogus'; expected one of: ";
  ASSERT_EQ(m.rfind(lead, 0), 0u) << m;
  std::vector<std::string> keys;
  std::stringstream list(m.substr(lead.size()));
  for (std::string k; std::getline(list, k, ',');) keys.push_back(k.substr(k.find_first_not_of(' ')));
  for (const char* k : {"ttl", "scope", "permission", "key", "tags", "verify"})
    EXPECT_EQ(std::count(keys.begin(), keys.end(), k), 1) << k << " in: " << m;
}

TEST(RulesLoader, UnknownKeyInsideARuleSuggestsTheKnownOne) {
  auto r = load(
      "rules:\n  - name: a\n    match: { path: /a, hots: x }\n    pass: true\n    streem: true\n"
      "  - name: b\n    match: { path: /b }\n    cache:\n      scoep: public\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 3u) << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:3:24: error: unknown key 'rules[0].match.hots'; did you mean 'host'?"))
      << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:5:5: error: unknown key 'rules[0].streem'; did you mean 'stream'?"))
      << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:9:7: error: unknown key 'rules[1].cache.scoep'; did you mean 'scope'?"))
      << all_errors(r);
}

TEST(RulesLoader, BadScopeIsAnErrorAtTheValue) {
  auto r = load("rules:\n  - name: a\n    match: { path: /a }\n    cache:\n      scope: private\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:5:14: error: 'rules[0].cache.scope': expected one of public, credential, user, "
            "tenant, role, got "
            "'private'");
}

TEST(RulesLoader, BadStatusCodesAreErrorsAtTheItem) {
  auto r =
      load("rules:\n  - name: a\n    match: { path: /a }\n    cache:\n      statuses: [200, 999, ok, 99]\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 3u) << all_errors(r);
  EXPECT_EQ(
      r.errors[0].to_string(),
      "test.yaml:5:23: error: 'rules[0].cache.statuses': expected a status code from 100 to 599, got '999'");
  EXPECT_EQ(r.errors[1].column, 28);
  EXPECT_NE(r.errors[1].message.find("got 'ok'"), std::string::npos);
  EXPECT_EQ(r.errors[2].column, 32);
  EXPECT_NE(r.errors[2].message.find("got '99'"), std::string::npos);
}

TEST(RulesLoader, StatusesMustBeAList) {
  auto r = load("rules:\n  - name: a\n    match: { path: /a }\n    cache: { statuses: 200 }\n");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(
      has_error(r, "test.yaml:4:24: error: 'rules[0].cache.statuses': expected a list of status codes"))
      << all_errors(r);
}

TEST(RulesLoader, PassFalseIsAnError) {
  auto r = load("rules:\n  - name: a\n    match: { path: /a }\n    pass: false\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:4:11: error: 'rules[0].pass': write it as 'pass: true' or remove it");
}

TEST(RulesLoader, StreamFalseIsAnError) {
  auto r = load("rules:\n  - name: a\n    match: { path: /a }\n    stream: no\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:4:13: error: 'rules[0].stream': write it as 'stream: true' or remove it");
}

TEST(RulesLoader, RulesMustBeAListOfMappings) {
  auto r = load("rules:\n  - just-a-string\n");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "test.yaml:2:5: error: 'rules': every item must be a rule")) << all_errors(r);
  auto m = load("rules: { name: a }\n");
  ASSERT_FALSE(m.config);
  EXPECT_TRUE(has_error(m, "test.yaml:1:8: error: 'rules': expected a list of rules")) << all_errors(m);
}

TEST(RulesLoader, IdentityCredentialDefaultsToTheAuthorizationHeader) {
  auto r = load("");
  ASSERT_TRUE(r.config) << all_errors(r);
  ASSERT_EQ(r.config->identity.credential.size(), 1u);
  EXPECT_EQ(r.config->identity.credential[0].kind, CredentialSource::Kind::header);
  EXPECT_EQ(r.config->identity.credential[0].name, "Authorization");
  EXPECT_EQ(r.config->identity.credential[0].scheme, "Bearer");
  EXPECT_FALSE(r.config->identity.jwt.enabled);
}

// The Authorization header is read as "Bearer <token>" unless the source says otherwise; other headers are
// taken whole unless they name a scheme; cookies and queries have none.
TEST(RulesLoader, IdentityCredentialScheme) {
  auto r = load(
      "identity:\n  credential:\n    - {header: authorization}\n    - {header: X-Api-Key}\n"
      "    - {header: X-Auth, scheme: Token}\n    - {header: Authorization, scheme: none}\n"
      "    - {cookie: sid}\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& s = r.config->identity.credential;
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].scheme, "Bearer");
  EXPECT_EQ(s[1].scheme, "");
  EXPECT_EQ(s[2].scheme, "Token");
  EXPECT_EQ(s[3].scheme, "");
  EXPECT_EQ(s[4].scheme, "");

  auto bad = load(
      "identity:\n  credential:\n    - {header: A, scheme: 'Bea rer'}\n    - {cookie: c, scheme: Bearer}\n");
  ASSERT_FALSE(bad.config);
  EXPECT_TRUE(has_error(bad,
                        "test.yaml:3:27: error: 'identity.credential[0].scheme': expected an authentication "
                        "scheme such as Bearer, or none, got 'Bea rer'"))
      << all_errors(bad);
  EXPECT_TRUE(
      has_error(bad, "test.yaml:4:7: error: 'identity.credential': 'scheme' belongs to a header source only"))
      << all_errors(bad);
}

TEST(RulesLoader, IdentityCredentialSourcesInOrder) {
  auto r = load("identity:\n  credential: [{header: X-Api-Key}, {cookie: or_access}, {query: token}]\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& s = r.config->identity.credential;
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].kind, CredentialSource::Kind::header);
  EXPECT_EQ(s[0].name, "X-Api-Key");
  EXPECT_EQ(s[1].kind, CredentialSource::Kind::cookie);
  EXPECT_EQ(s[1].name, "or_access");
  EXPECT_EQ(s[2].kind, CredentialSource::Kind::query);
  EXPECT_EQ(s[2].name, "token");
}

TEST(RulesLoader, IdentityCredentialSourceIsExactlyOneKind) {
  auto r = load("identity:\n  credential:\n    - {header: A, cookie: b}\n    - {}\n    - {param: x}\n");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(has_error(
      r,
      "test.yaml:3:7: error: 'identity.credential': each source is exactly one of header, cookie or query"))
      << all_errors(r);
  EXPECT_TRUE(has_error(
      r,
      "test.yaml:4:7: error: 'identity.credential': each source is exactly one of header, cookie or query"))
      << all_errors(r);
  EXPECT_TRUE(has_error(r, "unknown key 'identity.credential[0].param'")) << all_errors(r);
  auto scalar = load("identity:\n  credential: Authorization\n");
  ASSERT_FALSE(scalar.config);
  EXPECT_TRUE(has_error(scalar, "test.yaml:2:15: error: 'identity.credential': expected a list"))
      << all_errors(scalar);
}

TEST(RulesLoader, JwtSettings) {
  auto r = load(R"(identity:
  jwt:
    algorithm: RS256
    public_key_file: /etc/orc/jwt.pem
    issuer: openrisk
    audience: api
    user_claim: uid
    tenant_claim: org
    authz_claims: [permissions, org_roles]
    leeway: 5s
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& j = r.config->identity.jwt;
  EXPECT_TRUE(j.enabled);
  EXPECT_EQ(j.algorithm, "RS256");
  EXPECT_EQ(j.public_key_file, "/etc/orc/jwt.pem");
  EXPECT_EQ(j.issuer, "openrisk");
  EXPECT_EQ(j.audience, "api");
  EXPECT_EQ(j.user_claim, "uid");
  EXPECT_EQ(j.tenant_claim, "org");
  EXPECT_EQ(j.authz_claims, (std::vector<std::string>{"permissions", "org_roles"}));
  EXPECT_EQ(j.leeway, milliseconds(5000));
  EXPECT_EQ(j.pos.line, 3);
  EXPECT_EQ(j.pos.column, 5);
}

TEST(RulesLoader, JwtRs256WithoutKeyFileIsAnError) {
  auto r = load("identity:\n  jwt:\n    algorithm: RS256\n    issuer: openrisk\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(), "test.yaml:3:5: error: 'identity.jwt': RS256 needs 'public_key_file'");
}

TEST(RulesLoader, JwtHs256WithoutSecretAndUnknownAlgorithmAreErrors) {
  auto r = load("identity:\n  jwt: { algorithm: HS256 }\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:2:8: error: 'identity.jwt': HS256 needs 'secret' or 'secret_file'");

  auto a = load("identity:\n  jwt: { algorithm: ES256, public_key_file: k.pem }\n");
  ASSERT_FALSE(a.config);
  EXPECT_TRUE(
      has_error(a, "test.yaml:2:21: error: 'identity.jwt.algorithm': expected RS256 or HS256, got 'ES256'"))
      << all_errors(a);
}

TEST(RulesLoader, SecretFilesAreReadWithoutTheTrailingNewline) {
  test::TempDir dir;
  auto key_secret = dir.write("key_secret", "cache-secret-value\n");
  auto jwt_secret = dir.write("jwt_secret", "jwt-secret-value\r\n");
  auto admin_token = dir.write("admin_token", "admin-token-value");
  auto r = load("cache: { key_secret_file: '" + key_secret +
                "' }\nidentity:\n  jwt: { algorithm: HS256, secret_file: '" + jwt_secret +
                "' }\nadmin: { token_file: '" + admin_token + "' }\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->cache.key_secret, "cache-secret-value");
  EXPECT_EQ(r.config->identity.jwt.secret, "jwt-secret-value");
  EXPECT_EQ(r.config->admin.token, "admin-token-value");
}

TEST(RulesLoader, SecretAndSecretFileAreExclusiveAndAMissingFileIsAnError) {
  test::TempDir dir;
  auto file = dir.write("key_secret", "x\n");
  auto both = load("cache:\n  key_secret: inline\n  key_secret_file: '" + file + "'\n");
  ASSERT_FALSE(both.config);
  ASSERT_EQ(both.errors.size(), 1u) << all_errors(both);
  EXPECT_EQ(both.errors[0].to_string(),
            "test.yaml:3:20: error: 'cache.key_secret' and 'cache.key_secret_file' are exclusive");

  auto missing_path = dir.file("nope");
  auto missing = load("cache:\n  key_secret_file: '" + missing_path + "'\n");
  ASSERT_FALSE(missing.config);
  ASSERT_EQ(missing.errors.size(), 1u) << all_errors(missing);
  EXPECT_EQ(missing.errors[0].to_string(), "test.yaml:2:20: error: 'cache.key_secret_file': cannot read '" +
                                               missing_path + "': cannot open: No such file or directory");
}

TEST(RulesLoader, RedisAndAdminSections) {
  auto r = load(
      "redis: { url: 'redis://cache:6380/2', key_prefix: 'x:', pool_size: 8, connect_timeout: 2s, "
      "command_timeout: 20ms }\nadmin: { listen: '127.0.0.1:9999', token: t }\ncache: { memory_budget: 64MiB "
      "}\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_TRUE(r.config->redis.enabled);
  EXPECT_EQ(r.config->redis.url, "redis://cache:6380/2");
  EXPECT_EQ(r.config->redis.key_prefix, "x:");
  EXPECT_EQ(r.config->redis.pool_size, 8u);
  EXPECT_EQ(r.config->redis.connect_timeout, milliseconds(2000));
  EXPECT_EQ(r.config->redis.command_timeout, milliseconds(20));
  EXPECT_EQ(r.config->admin.listen, "127.0.0.1:9999");
  EXPECT_EQ(r.config->admin.token, "t");
  EXPECT_EQ(r.config->cache.memory_budget, 64u * 1024 * 1024);

  auto bad = load("redis: { url: 'http://cache:6379' }\n");
  ASSERT_FALSE(bad.config);
  EXPECT_TRUE(has_error(bad, "test.yaml:1:15: error: 'redis.url': expected redis://")) << all_errors(bad);
}

// docs/configuration.md: a Redis on the same machine over its Unix socket; one server, not Sentinel or a
// Cluster, whose addresses are TCP.
TEST(RulesLoader, RedisOverAUnixSocketIsOneServer) {
  auto r = load("redis: { url: 'unix:///run/redis/redis.sock?db=2' }\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->redis.url, "unix:///run/redis/redis.sock?db=2");

  auto sentinel =
      load("redis:\n  url: 'unix:///run/redis.sock'\n  sentinel: { master: m, nodes: [h:26379] }\n");
  ASSERT_FALSE(sentinel.config);
  EXPECT_TRUE(has_error(sentinel, "test.yaml:2:8: error: 'redis.url': a unix:// socket is one server"))
      << all_errors(sentinel);
  auto cluster = load("redis:\n  url: 'unix:///run/redis.sock'\n  cluster: [h:7000, h:7001]\n");
  ASSERT_FALSE(cluster.config);
  EXPECT_TRUE(has_error(cluster, "test.yaml:2:8: error: 'redis.url': a unix:// socket is one server"))
      << all_errors(cluster);
  ASSERT_EQ(cluster.errors.size(), 1u) << all_errors(cluster);
}

// docs/configuration.md: `cache.l1_budget: 0` turns the L1 off; every other size stays greater than zero.
TEST(RulesLoader, L1BudgetZeroTurnsTheL1OffOtherSizesMustBePositive) {
  auto off = load("cache: { l1_budget: 0 }\n");
  ASSERT_TRUE(off.config) << all_errors(off);
  EXPECT_EQ(off.config->cache.l1_budget, 0u);
  auto on = load("cache: { l1_budget: 8MiB }\n");
  ASSERT_TRUE(on.config) << all_errors(on);
  EXPECT_EQ(on.config->cache.l1_budget, 8u * 1024 * 1024);

  auto zero_budget = load("cache: { memory_budget: 0 }\n");
  ASSERT_FALSE(zero_budget.config);
  EXPECT_TRUE(has_error(zero_budget,
                        "test.yaml:1:25: error: 'cache.memory_budget': expected a size greater than zero"))
      << all_errors(zero_budget);
  auto bad = load("cache: { l1_budget: -1 }\n");
  ASSERT_FALSE(bad.config);
  EXPECT_TRUE(has_error(bad, "'cache.l1_budget': expected a size (0 for off)")) << all_errors(bad);
}

// docs/configuration.md: `redis.sentinel` names the master and the sentinels; what is wrong is said where.
TEST(RulesLoader, RedisSentinelSection) {
  auto r = load(
      "redis:\n  url: 'redis://:pw@unused:1/2'\n  sentinel:\n    master: orc-master\n    nodes: "
      "[10.0.0.5:26379, "
      "'sentinel-b:26379']\n    password: s3\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& s = r.config->redis.sentinel;
  EXPECT_EQ(s.master, "orc-master");
  EXPECT_EQ(s.nodes, (std::vector<std::string>{"10.0.0.5:26379", "sentinel-b:26379"}));
  EXPECT_EQ(s.password, "s3");
  EXPECT_TRUE(load("redis: { url: 'redis://127.0.0.1:6379' }\n").config->redis.sentinel.master.empty());
  // One string of comma-separated nodes, as an environment variable gives them.
  ::setenv("ORC_TEST_SENTINELS", "s1:26379, s2:26379,s3:26380", 1);
  auto from_env = load("redis:\n  sentinel: { master: m, nodes: '${ORC_TEST_SENTINELS}' }\n");
  ASSERT_TRUE(from_env.config) << all_errors(from_env);
  EXPECT_EQ(from_env.config->redis.sentinel.nodes,
            (std::vector<std::string>{"s1:26379", "s2:26379", "s3:26380"}));
  ::unsetenv("ORC_TEST_SENTINELS");
  auto empty = load("redis:\n  sentinel: { master: m, nodes: ' , ' }\n");
  EXPECT_TRUE(has_error(empty, "'redis.sentinel.nodes': expected a list of host:port")) << all_errors(empty);

  auto no_nodes = load("redis:\n  sentinel: { master: m }\n");
  EXPECT_TRUE(
      has_error(no_nodes, "test.yaml:2:13: error: 'redis.sentinel.nodes': expected a list of host:port"))
      << all_errors(no_nodes);
  auto bad_node = load("redis:\n  sentinel: { master: m, nodes: [a:1, nohost] }\n");
  EXPECT_TRUE(has_error(bad_node,
                        "test.yaml:2:39: error: 'redis.sentinel.nodes': expected host:port such as "
                        "10.0.0.5:26379, got 'nohost'"))
      << all_errors(bad_node);
  auto no_master = load("redis:\n  sentinel: { nodes: [a:1] }\n");
  EXPECT_TRUE(has_error(no_master, "'redis.sentinel.master': expected the name the sentinels monitor"))
      << all_errors(no_master);
  auto typo = load("redis:\n  sentinel: { master: m, nodes: [a:1], pasword: x }\n");
  EXPECT_TRUE(has_error(typo, "redis.sentinel.pasword")) << all_errors(typo);
}

// docs/configuration.md: `redis.cluster` lists seed nodes; a Cluster has database 0 only and is not also
// behind Sentinel; `redis.wait_replicas` defaults to 1 behind Sentinel or on a Cluster, 0 on one server.
TEST(RulesLoader, RedisClusterSectionAndWaitReplicas) {
  auto r = load("redis:\n  cluster: [10.0.0.5:6379, 'redis-b:6380']\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->redis.cluster, (std::vector<std::string>{"10.0.0.5:6379", "redis-b:6380"}));
  EXPECT_EQ(r.config->redis.purge_replicas(), 1u);
  auto none = load("redis:\n  cluster: 'a:1,b:2'\n  wait_replicas: 0\n");
  ASSERT_TRUE(none.config) << all_errors(none);
  EXPECT_EQ(none.config->redis.cluster, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(none.config->redis.purge_replicas(), 0u);
  EXPECT_EQ(load("redis: { url: 'redis://h:1' }\n").config->redis.purge_replicas(), 0u);
  EXPECT_EQ(load("redis: { url: 'redis://h:1', wait_replicas: 2 }\n").config->redis.purge_replicas(), 2u);
  EXPECT_EQ(load("redis: { sentinel: { master: m, nodes: [a:1] } }\n").config->redis.purge_replicas(), 1u);

  auto db = load("redis:\n  url: 'redis://:pw@h:1/2'\n  cluster: [a:1]\n");
  EXPECT_TRUE(has_error(db,
                        "test.yaml:3:12: error: 'redis.cluster': a Redis Cluster has database 0 only, and "
                        "redis.url names 2"))
      << all_errors(db);
  EXPECT_TRUE(load("redis:\n  url: 'redis://:pw@h:1/0'\n  cluster: [a:1]\n").config);
  auto both = load("redis:\n  cluster: [a:1]\n  sentinel: { master: m, nodes: [b:2] }\n");
  EXPECT_TRUE(has_error(both, "'redis.cluster': expected either a Cluster or Sentinel, not both"))
      << all_errors(both);
  auto bad = load("redis:\n  cluster: [a:1, nohost]\n");
  EXPECT_TRUE(has_error(bad,
                        "test.yaml:2:18: error: 'redis.cluster': expected host:port such as 10.0.0.5:6379, "
                        "got 'nohost'"))
      << all_errors(bad);
  auto too_many = load("redis:\n  cluster: [a:1]\n  wait_replicas: 17\n");
  EXPECT_FALSE(too_many.config) << "wait_replicas is 0 to 16";
}

// docs/configuration.md: `cache.max_fill` (default 2m), a duration greater than zero.
TEST(RulesLoader, MaxFillIsAPositiveDurationOfTwoMinutesByDefault) {
  auto dflt = load("cache: { l1_budget: 0 }\n");
  ASSERT_TRUE(dflt.config) << all_errors(dflt);
  EXPECT_EQ(dflt.config->cache.max_fill, std::chrono::minutes(2));
  auto set = load("cache: { max_fill: 45s }\n");
  ASSERT_TRUE(set.config) << all_errors(set);
  EXPECT_EQ(set.config->cache.max_fill, std::chrono::seconds(45));
  for (const char* bad : {"cache: { max_fill: 0s }\n", "cache: { max_fill: soon }\n"}) {
    auto r = load(bad);
    EXPECT_FALSE(r.config) << bad;
    EXPECT_TRUE(has_error(r, "test.yaml:1:20: error: 'cache.max_fill': expected a duration"))
        << all_errors(r);
  }
}

TEST(RulesLoader, IncludedRuleFilesAreReadRelativeToTheConfigFile) {
  test::TempDir dir;
  dir.write("rules/extra.yaml", "rules:\n  - name: extra-read\n    match: { path: /extra }\n    cache: {}\n");
  auto main =
      dir.write("main.yaml",
                "defaults: { cache: { ttl: 42s } }\nrules:\n  - name: main-pass\n    match: { path: /m }\n"
                "    pass: true\ninclude: [rules/extra.yaml]\n");
  auto r = load_config_file(main);
  ASSERT_TRUE(r.config) << all_errors(r);
  ASSERT_EQ(r.config->rules.size(), 2u);
  EXPECT_EQ(r.config->rules[0].name, "main-pass");
  EXPECT_EQ(r.config->rules[0].pos.file, main);
  const auto& extra = r.config->rules[1];
  EXPECT_EQ(extra.name, "extra-read");
  EXPECT_EQ(extra.cache.ttl, milliseconds(42'000));  // the main file's defaults apply to included rules
  std::string extra_path = dir.file("rules/extra.yaml");
  EXPECT_EQ(extra.pos.file, extra_path);
  EXPECT_EQ(extra.pos.line, 2);
  EXPECT_EQ(extra.path_pos.file, extra_path);
  EXPECT_EQ(r.config->files, (std::vector<std::string>{main, extra_path}));
}

TEST(RulesLoader, ErrorInAnIncludedFileNamesThatFileAndLine) {
  test::TempDir dir;
  dir.write("rules/extra.yaml",
            "rules:\n  - name: ok\n    match: { path: /ok }\n    pass: true\n  - name: broken\n"
            "    match: { path: /b }\n    cache: { scope: privat }\n");
  auto main = dir.write("main.yaml", "include: [rules/extra.yaml]\nlisten: nowhere\n");
  auto r = load_config_file(main);
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  std::string extra_path = dir.file("rules/extra.yaml");
  EXPECT_TRUE(has_error(r, main + ":2:9: error: 'listen': expected host:port")) << all_errors(r);
  EXPECT_TRUE(has_error(
      r, extra_path + ":7:21: error: 'rules[1].cache.scope': expected one of public, credential, user, "
                      "tenant, role, got 'privat'"))
      << all_errors(r);
}

// A rule of an included file is numbered in that file's list, as its author counts, whatever the main file
// holds.
TEST(RulesLoader, ARuleOfAnIncludedFileIsNumberedInItsOwnFile) {
  test::TempDir dir;
  dir.write("extra.yaml", "rules:\n  - name: first\n    match: { path: /f }\n    pas: true\n");
  auto main = dir.write("main.yaml",
                        "rules:\n  - { name: a, match: { path: /a }, pass: true }\n"
                        "  - { name: b, match: { path: /b }, pass: true }\ninclude: [extra.yaml]\n");
  auto r = load_config_file(main);
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(
      has_error(r, dir.file("extra.yaml") + ":4:5: error: unknown key 'rules[0].pas'; did you mean 'pass'?"))
      << all_errors(r);
}

TEST(RulesLoader, UnreadableOrInvalidIncludedFile) {
  test::TempDir dir;
  dir.write("bad.yaml", "rules: [ { name: x\n");
  auto main = dir.write("main.yaml", "include: [missing.yaml, bad.yaml]\n");
  auto r = load_config_file(main);
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(), main + ":1:11: error: cannot read the included rule file '" +
                                         dir.file("missing.yaml") +
                                         "': cannot open: No such file or directory");
  EXPECT_EQ(r.errors[1].file, dir.file("bad.yaml"));
  EXPECT_GT(r.errors[1].line, 0);
  EXPECT_NE(r.errors[1].message.find("invalid YAML"), std::string::npos);
}

TEST(RulesLoader, UnknownTopLevelKeyInAnIncludedFile) {
  test::TempDir dir;
  dir.write("extra.yaml", "rulez: []\n");
  auto main = dir.write("main.yaml", "include: [extra.yaml]\n");
  auto r = load_config_file(main);
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            dir.file("extra.yaml") + ":1:1: error: unknown key 'rulez'; did you mean 'rules'?");
}

TEST(RulesLoader, ErrorsInSeveralRulesAreAllReported) {
  auto r = load(R"(rules:
  - name: a
    match: { path: /a }
    cache: { scope: everyone }
  - name: b
    match: { path: /b }
  - name: c
    match: { method: FETCH, path: /c }
    pass: true
  - name: d
    match: { path: /d }
    cache: { ttl: soon, statuses: [700] }
)");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 5u) << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:4:21: error: 'rules[0].cache.scope'")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:5:5: error: rule 'b': expected exactly one action")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:8:22: error: 'rules[2].match.method': unknown method 'FETCH'"))
      << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:12:19: error: 'rules[3].cache.ttl'")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:12:36: error: 'rules[3].cache.statuses'")) << all_errors(r);
}

// cache.verify (issue 15 item 4): the process's settings, and each rule's opt-out and ignored JSON members,
// also as defaults.
TEST(RulesLoader, VerifySettingsAndRuleOptions) {
  auto off = load("rules: []\n");
  ASSERT_TRUE(off.config) << all_errors(off);
  EXPECT_EQ(off.config->cache.verify.sample, 0.0) << "off by default";
  EXPECT_EQ(off.config->cache.verify.max_per_second, 10.0);
  EXPECT_EQ(off.config->cache.verify.concurrency, 2u);
  EXPECT_EQ(off.config->cache.verify.keep, 50u);

  auto r = load(R"(cache:
  verify: { sample: 0.001, max_per_second: 2.5, concurrency: 4, keep: 0 }
defaults:
  cache: { verify_ignore: [generated_at] }
rules:
  - name: a
    match: { method: GET, path: /a }
    cache: { ttl: 1m, scope: public }
  - name: b
    match: { method: GET, path: /b }
    cache: { ttl: 1m, scope: public, verify: false, verify_ignore: [now, at] }
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& v = r.config->cache.verify;
  EXPECT_EQ(v.sample, 0.001);
  EXPECT_EQ(v.max_per_second, 2.5);
  EXPECT_EQ(v.concurrency, 4u);
  EXPECT_EQ(v.keep, 0u);
  ASSERT_EQ(r.config->rules.size(), 2u);
  EXPECT_TRUE(r.config->rules[0].cache.verify);
  EXPECT_EQ(r.config->rules[0].cache.verify_ignore, (std::vector<std::string>{"generated_at"}));
  EXPECT_FALSE(r.config->rules[1].cache.verify);
  EXPECT_EQ(r.config->rules[1].cache.verify_ignore, (std::vector<std::string>{"now", "at"}));
}

TEST(RulesLoader, VerifyErrorsNameFileLineAndColumn) {
  auto r = load(R"(cache:
  verify: { sample: 2, max_per_second: 0, concurrency: 0, keep: -1, every: 1 }
rules:
  - name: a
    match: { method: GET, path: /a }
    cache: { verify: maybe, verify_ignore: x }
)");
  ASSERT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "test.yaml:2:21: error: 'cache.verify.sample': expected a fraction from 0 to 1"))
      << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:2:40: error: 'cache.verify.max_per_second': expected a number"))
      << all_errors(r);
  EXPECT_TRUE(
      has_error(r, "test.yaml:2:56: error: 'cache.verify.concurrency': expected a whole number from 1"))
      << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:2:65: error: 'cache.verify.keep'")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:2:69: error: unknown key 'cache.verify.every'")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "test.yaml:6:22: error: 'rules[0].cache.verify': expected true or false"))
      << all_errors(r);
  EXPECT_TRUE(
      has_error(r, "test.yaml:6:44: error: 'rules[0].cache.verify_ignore': expected a list of strings"))
      << all_errors(r);
  for (const char* bad : {"nan", "inf", "0x1", "-0.5", "1e400", ""}) {
    auto b = load(std::string("cache: { verify: { sample: '") + bad + "' } }\n");
    EXPECT_FALSE(b.config) << bad;
  }
}

}  // namespace
}  // namespace orc::config
