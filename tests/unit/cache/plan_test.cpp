// cache::plan, the pure decision the daemon and `explain` share: actions, bypass reasons in their order of
// precedence, the key and the tags (the uri: tag last), owed purges and the JWT's time from the caller.
#include "cache/plan.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <set>

#include "app/loaded_config.hpp"
#include "cache/pending_purges.hpp"
#include "metrics/metrics.hpp"
#include "test_helpers.hpp"
#include "util/strings.hpp"

namespace orc::cache {
namespace {

class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto path = dir_.write("openrisk-cache.yaml", test::jwt_config_head(dir_) + R"(rules:
  - name: risk-read
    match: { method: GET, path: /api/v1/risks/:id }
    cache: { ttl: 5m, scope: tenant, tags: ["risk:{tenant}:{id}"] }
  - name: me
    match: { method: GET, path: /api/v1/me }
    cache: { ttl: 5m, scope: user, tags: ["me:{tenant}:{user}"] }
  - name: list
    match: { method: GET, path: /api/v1/risks }
    cache: { ttl: 5m, scope: public, key: { query: [page], other_query: bypass } }
  - name: risk-write
    match: { method: [PATCH], path: /api/v1/risks/:id }
    invalidate: ["risk:{tenant}:{id}", { tag: "risk-counts:{tenant}", unless_body_only: [title, tags] }]
  - name: events
    match: { method: GET, path: /api/v1/events }
    stream: true
  - name: plan-write
    match: { method: POST, path: /api/v1/mitigations/:id/steps }
    invalidate: ["mits:{tenant}", { tag: "risk:{tenant}:{answer.risk_id}", fallback: "risk:{tenant}:all" }]
  - name: bulk-import
    match: { method: POST, path: /api/v1/imports, headers: [X-Bulk] }
    invalidate: ["bulk:{tenant}"]
  - name: import
    match: { method: POST, path: /api/v1/imports }
    invalidate: ["import:{tenant}"]
  - name: guarded
    match: { method: GET, path: /api/v1/guarded/:id }
    cache: { ttl: 5m, scope: tenant, permission: "risks:read", tags: ["risk:{tenant}:{id}"] }
)");
    loaded_ = app::load_all(path);
    ASSERT_TRUE(loaded_.ok());
    now_ = static_cast<long long>(std::time(nullptr));
    token_ = test::rs256_token(test::rsa_key(),
                               R"({"sub":"u-3","tenant_id":"t-7","exp":)" + std::to_string(now_ + 60) + "}");
    no_tenant_ =
        test::rs256_token(test::rsa_key(), R"({"sub":"u-3","exp":)" + std::to_string(now_ + 60) + "}");
  }

  Plan run(std::string_view method, std::string_view path, std::string_view query,
           std::vector<std::pair<std::string, std::string>> headers, bool has_body = false,
           const PendingPurges* owed = nullptr, long long now = 0) {
    headers_ = std::move(headers);
    RequestFacts facts{method,
                       path,
                       query,
                       "api.test",
                       has_body,
                       [this](std::string_view name) -> std::optional<std::string_view> {
                         for (const auto& [k, v] : headers_)
                           if (k == name) return std::string_view(v);
                         return std::nullopt;
                       }};
    return plan({facts, *loaded_.config, true, loaded_.rulebook.get(), loaded_.verifier.get(), owed,
                 now ? now : now_});
  }
  std::vector<std::pair<std::string, std::string>> auth(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }

  test::TempDir dir_;
  app::Loaded loaded_;
  long long now_ = 0;
  std::string token_, no_tenant_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

TEST_F(PlanTest, ALookupHasTheKeyAndTheTagsWithTheUriTagLast) {
  auto p = run("GET", "/api/v1/risks/42", "", auth(token_));
  ASSERT_EQ(p.action, Action::lookup);
  EXPECT_EQ(p.tags, (std::vector<std::string>{"risk:t-7:42", "uri:/api/v1/risks/42"}));
  EXPECT_NE(p.key.material.find("scope=tenant:t-7"), std::string::npos) << p.key.material;
  EXPECT_EQ(p.key.secret, loaded_.config->cache.key_secret) << "the HMAC key of the key's Vary digests";
  EXPECT_FALSE(p.key.secret.empty());
  EXPECT_TRUE(p.fill);
  EXPECT_FALSE(p.revalidate);
  EXPECT_FALSE(run("HEAD", "/api/v1/risks/42", "", auth(token_)).fill) << "a HEAD miss is only relayed";
  EXPECT_EQ(run("HEAD", "/api/v1/risks/42", "", auth(token_)).key.key, p.key.key);
  EXPECT_EQ(predict(p).x_cache, "HIT or MISS");
}

TEST_F(PlanTest, APermissionSharesTheEntryAmongTheTokensThatGrantIt) {
  const auto with = [&](const std::string& perms) {
    return test::rs256_token(test::rsa_key(), R"({"sub":"u-3","tenant_id":"t-7","permissions":)" + perms +
                                                  R"(,"exp":)" + std::to_string(now_ + 60) + "}");
  };
  auto viewer = run("GET", "/api/v1/guarded/42", "", auth(with(R"(["risks:read"])")));
  auto admin = run("GET", "/api/v1/guarded/42", "", auth(with(R"(["*"])")));
  ASSERT_EQ(viewer.action, Action::lookup) << to_string(viewer.bypass);
  ASSERT_EQ(admin.action, Action::lookup) << to_string(admin.bypass);
  EXPECT_NE(viewer.key.material.find("scope=tenant:t-7:perm:risks:read"), std::string::npos)
      << viewer.key.material;
  EXPECT_EQ(admin.key.key, viewer.key.key);
  EXPECT_NE(run("GET", "/api/v1/risks/42", "", auth(with(R"(["risks:read"])"))).key.key, viewer.key.key)
      << "an unguarded tenant entry of the same id";

  for (const auto& token : {with(R"(["assets:read"])"), token_}) {
    auto refused = run("GET", "/api/v1/guarded/42", "", auth(token));
    EXPECT_EQ(refused.action, Action::bypass);
    EXPECT_EQ(refused.bypass, Bypass::no_permission);
    EXPECT_EQ(to_string(refused.bypass), "no_permission");
    EXPECT_TRUE(refused.key.key.empty());
  }
}

TEST_F(PlanTest, BypassReasonsInTheirOrder) {
  // A body first, then rewrite headers, then no-store, then preconditions, then the identity, then the
  // query, then owed purges.
  auto all = auth("garbage");
  all.emplace_back("X-Original-URL", "/x");
  all.emplace_back("Cache-Control", "no-store");
  all.emplace_back("If-Match", "\"v1\"");
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", all, true).bypass, Bypass::request_body);
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", all).bypass, Bypass::rewrite_header);
  all.erase(all.begin() + 1);
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", all).bypass, Bypass::no_store);
  all.erase(all.begin() + 1);
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", all).bypass, Bypass::precondition);
  EXPECT_EQ(
      run("GET", "/api/v1/risks/42", "", {{"If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"}}).bypass,
      Bypass::precondition);
  EXPECT_EQ(predict(run("HEAD", "/api/v1/risks/42", "", all)).cache_status,
            "openrisk-cache; fwd=bypass; detail=precondition");
  // only-if-cached on a bypass is the cache's own 504: neither X-Cache nor Cache-Status.
  const auto own_504 =
      predict(run("GET", "/api/v1/risks/42", "", {{"Cache-Control", "only-if-cached, no-store"}}));
  EXPECT_EQ(own_504.x_cache, "");
  EXPECT_EQ(own_504.cache_status, "");
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", auth("garbage")).bypass, Bypass::jwt_malformed);
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", {}).bypass, Bypass::no_credential);
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", auth(no_tenant_)).bypass, Bypass::missing_claim);
  // A query that is not RFC 3986 cannot be read as the backend reads it: before the identity (a credential
  // may be in the query) and the key.
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "page=%zz", auth("garbage")).bypass, Bypass::invalid_query);
  EXPECT_EQ(run("GET", "/api/v1/risks", "filter[x]=1", {}).bypass, Bypass::invalid_query);
  EXPECT_EQ(predict(run("GET", "/api/v1/risks", "q=\xff", {})).cache_status,
            "openrisk-cache; fwd=bypass; detail=invalid-query");
  EXPECT_EQ(run("GET", "/api/v1/risks", "page=2&x=1", {}).bypass, Bypass::other_query);
  EXPECT_EQ(run("GET", "/api/v1/risks", "page=2", {}).action, Action::lookup);
  auto p = run("GET", "/api/v1/risks/42", "", auth("garbage"));
  EXPECT_EQ(p.action, Action::bypass);
  EXPECT_EQ(predict(p).cache_status, "openrisk-cache; fwd=bypass; detail=jwt_malformed");
  EXPECT_FALSE(p.why.empty());
}

TEST_F(PlanTest, TheJwtIsJudgedAtTheTimeGiven) {
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", auth(token_), false, nullptr, now_ + 30).action,
            Action::lookup);
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", auth(token_), false, nullptr, now_ + 3600).bypass,
            Bypass::jwt_expired);
}

TEST_F(PlanTest, OwedPurgesOfItsTagsBypass) {
  PendingPurges owed;
  owed.add({"risk:t-7:41"});
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", auth(token_), false, &owed).action, Action::lookup);
  owed.add({"uri:/api/v1/risks/42"});
  EXPECT_EQ(run("GET", "/api/v1/risks/42", "", auth(token_), false, &owed).bypass, Bypass::purge_pending);
}

TEST_F(PlanTest, WritesRenderWhatTheyCanAndNameTheRest) {
  auto p = run("PATCH", "/api/v1/risks/42", "", auth(token_));
  EXPECT_EQ(p.action, Action::invalidate);
  EXPECT_EQ(p.tags, (std::vector<std::string>{"risk:t-7:42", "uri:/api/v1/risks/42"}));
  EXPECT_TRUE(p.unrendered.empty());
  auto anonymous = run("PATCH", "/api/v1/risks/42", "", {});
  EXPECT_EQ(anonymous.action, Action::invalidate) << "a write is never refused for its identity";
  EXPECT_EQ(anonymous.tags, (std::vector<std::string>{"uri:/api/v1/risks/42"}));
  EXPECT_EQ(anonymous.unrendered, (std::vector<std::string>{"risk:{tenant}:{id}", "risk-counts:{tenant}"}));
}

// `Connection: Authorization` makes the proxy drop the header (RFC 9110 section 7.6.1), so the backend judges
// the write by its next credential (the cookie, maybe another tenant's, found by a probe) or by none: the
// tags are those of the credential the backend gets, never of the dropped one.
TEST_F(PlanTest, AWriteIsJudgedByTheCredentialTheBackendGets) {
  auto headers = auth(token_);
  headers.emplace_back("Connection", "keep-alive, authorization");
  auto p = run("PATCH", "/api/v1/risks/42", "", headers);
  EXPECT_EQ(p.action, Action::invalidate);
  EXPECT_EQ(p.tags, (std::vector<std::string>{"uri:/api/v1/risks/42"}));
  EXPECT_EQ(p.unrendered, (std::vector<std::string>{"risk:{tenant}:{id}", "risk-counts:{tenant}"}));
}

// A rule's `headers` condition holds on what the backend gets: `Connection: X-Bulk` makes the proxy drop the
// field, the backend then handles a plain import, and the plain import's rule must purge.
TEST_F(PlanTest, ARulesHeaderConditionIsReadOnWhatTheBackendGets) {
  auto headers = auth(token_);
  headers.emplace_back("X-Bulk", "1");
  EXPECT_EQ(run("POST", "/api/v1/imports", "", headers, true).tags,
            (std::vector<std::string>{"bulk:t-7", "uri:/api/v1/imports"}));
  headers.emplace_back("Connection", "X-Bulk");
  auto dropped = run("POST", "/api/v1/imports", "", headers, true);
  ASSERT_NE(dropped.rule(), nullptr);
  EXPECT_EQ(dropped.rule()->cfg.name, "import");
  EXPECT_EQ(dropped.tags, (std::vector<std::string>{"import:t-7", "uri:/api/v1/imports"}));
}

TEST(AsForwarded, WithoutHopByHopFieldsAndWhatConnectionNames) {
  const std::vector<std::pair<std::string, std::string>> sent{{"Connection", "keep-alive, Cookie , HOST"},
                                                              {"Authorization", "Bearer a"},
                                                              {"Cookie", "or_access=b"},
                                                              {"Host", "api.test"},
                                                              {"Proxy-Authorization", "Basic c"},
                                                              {"Accept", "*/*"}};
  const identity::HeaderLookup header = [&](std::string_view name) -> std::optional<std::string_view> {
    for (const auto& [k, v] : sent)
      if (util::iequals(k, name)) return std::string_view(v);
    return std::nullopt;
  };
  const auto forwarded = as_forwarded(header);
  EXPECT_EQ(forwarded("authorization"), "Bearer a");
  EXPECT_EQ(forwarded("cookie"), std::nullopt);
  EXPECT_EQ(forwarded("Host"), "api.test") << "the proxy keeps Host whatever Connection says";
  EXPECT_EQ(forwarded("Proxy-Authorization"), std::nullopt);
  EXPECT_EQ(forwarded("Connection"), std::nullopt);
  EXPECT_EQ(forwarded("Accept"), "*/*");
}

TEST_F(PlanTest, ConditionalTagsAreRenderedApartWithTheirFields) {
  auto p = run("PATCH", "/api/v1/risks/42", "", auth(token_), true);
  EXPECT_EQ(p.tags, (std::vector<std::string>{"risk:t-7:42", "uri:/api/v1/risks/42"}))
      << "a conditional tag is not purged unconditionally";
  ASSERT_EQ(p.conditional.size(), 1u);
  EXPECT_EQ(p.conditional[0].tag, "risk-counts:t-7");
  ASSERT_NE(p.conditional[0].unless_body_only, nullptr);
  EXPECT_EQ(*p.conditional[0].unless_body_only, (std::vector<std::string>{"title", "tags"}));
  auto anonymous = run("PATCH", "/api/v1/risks/42", "", {}, true);
  EXPECT_TRUE(anonymous.conditional.empty());
  EXPECT_EQ(anonymous.unrendered, (std::vector<std::string>{"risk:{tenant}:{id}", "risk-counts:{tenant}"}));
}

// Issue 17: a tag from the write's answer is rendered from the request but for its answer fields, with its
// fallback; without the claims it needs it is unrendered, like any tag.
TEST_F(PlanTest, AnswerTagsAreRenderedApartWithTheirFallback) {
  auto p = run("POST", "/api/v1/mitigations/m-1/steps", "", auth(token_), true);
  EXPECT_EQ(p.tags, (std::vector<std::string>{"mits:t-7", "uri:/api/v1/mitigations/m-1/steps"}));
  ASSERT_EQ(p.answered.size(), 1u);
  EXPECT_EQ(p.answered[0].tag.pieces, (std::vector<std::string>{"risk:t-7:", ""}));
  EXPECT_EQ(p.answered[0].tag.fields, (std::vector<std::string>{"risk_id"}));
  EXPECT_EQ(p.answered[0].fallback, "risk:t-7:all");
  auto anonymous = run("POST", "/api/v1/mitigations/m-1/steps", "", {}, true);
  EXPECT_TRUE(anonymous.answered.empty());
  EXPECT_EQ(anonymous.unrendered,
            (std::vector<std::string>{"mits:{tenant}", "risk:{tenant}:{answer.risk_id}"}));
}

// The tags of an answer: its members when it is a whole JSON object that has them, else the fallback.
TEST(AnswerTags, FromTheAnswerOrTheFallback) {
  const std::vector<Plan::AnswerTag> answered = {
      {rules::PartialTag{{"risk:t:", ""}, {"risk_id"}}, "risks:t"},
      {rules::PartialTag{{"plan:", ":", ""}, {"plan.id", "plan.n"}}, "plans"}};
  struct Case {
    std::optional<std::string_view> body;
    std::string_view content_type;
    bool encoded;
    std::vector<std::string> tags;
    std::size_t fallbacks;
    const char* why;
  };
  const std::string long_id(257, 'x');
  const std::string long_answer = R"({"risk_id":")" + long_id + R"("})";
  const Case cases[] = {
      {R"({"risk_id":"r-1","plan":{"id":"p-2","n":3}})",
       "application/json",
       false,
       {"risk:t:r-1", "plan:p-2:3"},
       0,
       "strings and integers, nested"},
      {R"({"risk_id":-4,"plan":{"id":18446744073709551615,"n":0}})",
       "application/vnd.x+json; charset=utf-8",
       false,
       {"risk:t:-4", "plan:18446744073709551615:0"},
       0,
       "signed and unsigned integers; a +json type"},
      {R"({"risk_id":"r-1"})", "application/json", false, {"risk:t:r-1", "plans"}, 1, "a member missing"},
      {R"({"risk_id":"r-1","plan":"p-2"})",
       "application/json",
       false,
       {"risk:t:r-1", "plans"},
       1,
       "not an object on the path"},
      {R"({"risk_id":1.5,"plan":{"id":true,"n":null}})",
       "application/json",
       false,
       {"risks:t", "plans"},
       2,
       "a fraction, a boolean, a null"},
      {R"({"risk_id":"","plan":{"id":"a
b","n":1}})",
       "application/json",
       false,
       {"risks:t", "plans"},
       2,
       "an empty string, a control character"},
      {long_answer, "application/json", false, {"risks:t", "plans"}, 2, "a string over 256 bytes"},
      {R"({"Risk_id":"r-1"})",
       "application/json",
       false,
       {"risks:t", "plans"},
       2,
       "names compare byte for byte"},
      {R"({"risk_id":"r-1"})", "text/plain", false, {"risks:t", "plans"}, 2, "not JSON by its media type"},
      {R"({"risk_id":"r-1"})", "application/json", true, {"risks:t", "plans"}, 2, "an encoded answer"},
      {R"([{"risk_id":"r-1"}])", "application/json", false, {"risks:t", "plans"}, 2, "not an object"},
      {R"({"risk_id":)", "application/json", false, {"risks:t", "plans"}, 2, "invalid JSON"},
      {std::nullopt,
       "application/json",
       false,
       {"risks:t", "plans"},
       2,
       "no answer (a 204, too long, broken)"},
  };
  for (const auto& c : cases) {
    std::size_t fallbacks = 0;
    EXPECT_EQ(answer_tags(answered, c.body, c.content_type, c.encoded, fallbacks), c.tags) << c.why;
    EXPECT_EQ(fallbacks, c.fallbacks) << c.why;
  }
  std::size_t none = 0;
  EXPECT_TRUE(answer_tags({}, std::nullopt, "", false, none).empty());
  EXPECT_EQ(none, 0u);
}

// What lets a conditional tag go unpurged: a JSON object body naming only the listed fields.
TEST(SkipsPurge, OnlyAJsonObjectOfTheListedFields) {
  const std::vector<std::string> fields{"title", "description", "tags"};
  struct Case {
    std::optional<std::string_view> body;
    std::string_view content_type;
    bool skips;
    const char* why;
  };
  const Case cases[] = {
      {R"({"title":"x"})", "application/json", true, "one listed field"},
      {R"({"title":"x","tags":["a"],"description":null})", "application/json; charset=utf-8", true,
       "all listed"},
      {R"({})", "application/json", true, "an empty object changes no field"},
      {R"({"title":"x"})", "Application/JSON", true, "media types compare case-insensitively"},
      {R"({"title":"x"})", "application/merge-patch+json", true, "a +json type (RFC 6839)"},
      {R"({"title":"x","status":"OPEN"})", "application/json", false, "an unlisted field"},
      {R"({"Title":"x"})", "application/json", false, "names compare byte for byte (Go matches Title)"},
      {R"({"title":"x"})", "text/plain", false, "not JSON by its media type"},
      {R"({"title":"x"})", "", false, "no media type"},
      {R"(title=x)", "application/x-www-form-urlencoded", false, "a form"},
      {R"({"title":)", "application/json", false, "invalid JSON"},
      {R"([{"title":"x"}])", "application/json", false, "not an object"},
      {std::nullopt, "application/json", false, "no body kept (absent, too long, not whole)"},
  };
  for (const auto& c : cases) EXPECT_EQ(skips_purge(c.body, c.content_type, fields), c.skips) << c.why;
}

TEST_F(PlanTest, PassAndStream) {
  EXPECT_EQ(run("GET", "/api/v1/events", "", {}).action, Action::stream);
  EXPECT_EQ(run("GET", "/elsewhere", "", {}).action, Action::pass);
  EXPECT_FALSE(run("GET", "/elsewhere", "", {}).match);
  EXPECT_EQ(run("OPTIONS", "/api/v1/risks/42", "", auth(token_)).action, Action::pass);
  EXPECT_EQ(run("POST", "/elsewhere", "", {}).action, Action::pass);
  EXPECT_EQ(run("POST", "/api/v1/events", "", {}).action, Action::pass)
      << "its GETs are streamed, not cached";
  EXPECT_EQ(predict(run("GET", "/api/v1/events", "", {})).x_cache, "BYPASS");
}

// RFC 9111 section 4.4: an unsafe method that no invalidate rule takes still purges the cached GETs of its
// URI (every scope's: the uri: tag), whatever its method, known or not.
TEST_F(PlanTest, UnsafeMethodsPurgeTheirUri) {
  for (std::string_view method : {"DELETE", "POST", "PUT", "PROPPATCH", "PURGE"}) {
    auto p = run(method, "/api/v1/risks/42", "", auth(token_));
    EXPECT_EQ(p.action, Action::invalidate) << method;
    EXPECT_EQ(p.tags, (std::vector<std::string>{"uri:/api/v1/risks/42"})) << method;
    EXPECT_FALSE(p.match) << "no rule took the write";
  }
  const util::Query none;
  const identity::HeaderLookup no_headers = [](std::string_view) -> std::optional<std::string_view> {
    return std::nullopt;
  };
  EXPECT_EQ(cached_uri_tag(*loaded_.rulebook, "/api/v1/risks/7", none, "api.test", no_headers),
            "uri:/api/v1/risks/7")
      << "a Location naming a cached path";
  EXPECT_FALSE(cached_uri_tag(*loaded_.rulebook, "/api/v1/events", none, "api.test", no_headers))
      << "streamed";
  EXPECT_FALSE(cached_uri_tag(*loaded_.rulebook, "/elsewhere", none, "api.test", no_headers));
  auto list = run("POST", "/api/v1/risks", "page=2", {});
  EXPECT_EQ(list.action, Action::invalidate);
  EXPECT_EQ(list.tags, (std::vector<std::string>{"uri:/api/v1/risks"})) << "every query of the path";
}

TEST_F(PlanTest, EveryBypassHasItsName) {
  std::set<std::string_view> names;
  for (std::size_t i = 1; i < kBypassReasons; ++i) names.insert(to_string(static_cast<Bypass>(i)));
  EXPECT_EQ(names.size(), kBypassReasons - 1) << "two reasons share a name";
  EXPECT_EQ(names.count("none"), 0u);
  EXPECT_LE(kBypassReasons, metrics::RuleMetrics::kBypassReasons) << "the metric has a slot for each";
}

}  // namespace
}  // namespace orc::cache
