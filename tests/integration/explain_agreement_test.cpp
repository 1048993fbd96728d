// `openrisk-cache explain --json` and the daemon decide through the same function (cache::plan): for each
// request of a table, explain's predicted X-Cache and Cache-Status must be what the running daemon answers,
// and both must be what the row expects. The daemon and explain read the same config file.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>
#include <vector>

#include "cache_fixture.hpp"
#include "support/daemon_process.hpp"
#include "support/paths.hpp"

namespace orc::test {
namespace {

namespace json = boost::json;

// kSimRules plus a pass and a stream rule, a credential-scoped rule and a rule that bypasses unnamed query
// parameters. (tag-needs-identity cannot happen with this rulebook: the loader refuses a template a scope
// cannot fill.)
const std::string kAgreementRules = std::string(kSimRules) + R"(  - name: login
    match: { path: "/api/v1/auth/**" }
    pass: true
  - name: export
    match: { method: GET, path: /api/v1/audit/export }
    stream: true
  - name: assets
    match: { method: GET, path: /api/v1/assets }
    cache: { ttl: 5m, scope: credential }
  - name: mitigations
    match: { method: GET, path: /api/v1/mitigations }
    cache: { ttl: 5m, scope: tenant, key: { query: [page], other_query: bypass }, tags: ["mit:{tenant}"] }
)";

enum class Who { nobody, admin, analyst, forged, pat, garbage };

struct Row {
  const char* method;
  std::string target;
  Who who;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string expect;  // "lookup", "pass" (X-Cache BYPASS, no Cache-Status), "reject", or a bypass reason
};

class ExplainAgreementTest : public CacheStorageTest {
 protected:
  // explain --json for the request, with the headers the raw client sends too.
  json::object explain(const Row& row, const HeaderList& headers) {
    std::vector<std::string> argv = {
        built_daemon_path(), "explain",  "--config", proxies_.at(0)->config_path(),
        row.method,          row.target, "--json"};
    for (const auto& [k, v] : headers.fields) {
      argv.push_back("-H");
      argv.push_back(k + ": " + v);
    }
    ExitStatus status;
    std::string out = run_command(argv, status, deadline_in(std::chrono::seconds(20)));
    EXPECT_TRUE(status.success()) << status.describe() << "\n" << out;
    boost::system::error_code ec;
    auto v = json::parse(out, ec);
    EXPECT_FALSE(ec) << out;
    return !ec && v.is_object() ? v.as_object() : json::object{};
  }
};

std::string str(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

TEST_P(ExplainAgreementTest, ExplainPredictsWhatTheDaemonAnswers) {
  ASSERT_NO_FATAL_FAILURE(start_all(kAgreementRules));
  const std::string admin = sim_login(sim_port(), "admin@acme.test");
  const std::string analyst = sim_login(sim_port(), "analyst@acme.test");
  auto parts = jwt_parts(admin);
  ASSERT_EQ(parts.size(), 3u);
  std::string sig = parts[2];
  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  const std::string forged = parts[0] + "." + parts[1] + "." + sig;
  const std::string risk = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(0);
  const std::string host = "127.0.0.1:" + std::to_string(proxy_port());

  const std::vector<Row> rows = {
      // Each scope, GET and HEAD.
      {"GET", "/api/v1/health", Who::nobody, {}, "", "lookup"},
      {"HEAD", "/api/v1/health", Who::nobody, {}, "", "lookup"},
      {"GET", "/api/v1/risks?limit=3", Who::admin, {}, "", "lookup"},
      {"GET", "/api/v1/risks?limit=3", Who::analyst, {}, "", "lookup"},
      {"HEAD", "/api/v1/risks?limit=3", Who::analyst, {}, "", "lookup"},
      {"GET", risk, Who::admin, {}, "", "lookup"},
      {"GET", "/api/v1/users/me", Who::admin, {}, "", "lookup"},
      {"GET", "/api/v1/assets", Who::admin, {}, "", "lookup"},
      {"GET", "/api/v1/assets", Who::pat, {}, "", "lookup"},  // a PAT: the credential scope keys on it
      {"GET", "/api/v1/mitigations?page=2", Who::admin, {}, "", "lookup"},
      {"GET", "/api/v1/risks?limit=3", Who::admin, {{"Accept-Language", "de"}}, "", "lookup"},
      {"GET", "/api/v1/risks?limit=3", Who::admin, {{"Cache-Control", "no-cache"}}, "", "lookup"},
      {"GET", "/api/v1//risks/?limit=3", Who::admin, {}, "", "lookup"},  // normalised like the daemon does
      // Identities the scope cannot key on.
      {"GET", "/api/v1/risks?limit=3", Who::nobody, {}, "", "no_credential"},
      {"GET", "/api/v1/assets", Who::nobody, {}, "", "no_credential"},
      {"GET", "/api/v1/risks?limit=3", Who::forged, {}, "", "jwt_bad_signature"},
      {"GET", "/api/v1/users/me", Who::pat, {}, "", "jwt_malformed"},
      {"GET", "/api/v1/users/me", Who::garbage, {}, "", "jwt_malformed"},
      // The request itself.
      {"GET", "/api/v1/mitigations?page=2&x=1", Who::admin, {}, "", "other-query"},
      {"GET", "/api/v1/risks?limit=3&q=%zz", Who::admin, {}, "", "invalid-query"},
      {"GET", "/api/v1/risks?limit=3&filter[a]=1", Who::admin, {}, "", "invalid-query"},
      {"GET", "/api/v1/risks?limit=3", Who::admin, {{"Cache-Control", "no-store"}}, "", "no-store"},
      {"GET",
       "/api/v1/risks?limit=3",
       Who::admin,
       {{"Pragma", "no-cache"}, {"Cache-Control", "no-store"}},
       "",
       "no-store"},
      {"GET",
       "/api/v1/risks?limit=3",
       Who::admin,
       {{"X-Original-URL", "/api/v1/users"}},
       "",
       "rewrite-header"},
      {"GET", risk, Who::admin, {{"X-HTTP-Method-Override", "DELETE"}}, "", "rewrite-header"},
      {"GET", risk, Who::admin, {{"Forwarded", "host=evil.example"}}, "", "rewrite-header"},
      {"GET", risk, Who::admin, {{"Connection", "keep-alive, X-Tenant"}}, "", "rewrite-header"},
      {"GET", risk, Who::admin, {}, "{}", "request-body"},
      {"GET", risk, Who::admin, {{"If-Match", "\"v1\""}}, "", "precondition"},
      // only-if-cached on a bypass: the cache's own 504, without X-Cache or Cache-Status.
      {"GET", risk, Who::admin, {{"Cache-Control", "only-if-cached, no-store"}}, "", "only-if-cached"},
      // Routes the cache does not serve.
      {"POST", "/api/v1/risks", Who::admin, {}, R"({"title":"explained"})", "pass"},  // invalidate
      {"PATCH", risk + "/mitigations", Who::admin, {}, "{}", "pass"},                 // invalidate
      {"POST", risk, Who::admin, {}, "{}", "pass"},  // a write of no rule on a cached path
      {"POST", "/api/v1/auth/login", Who::nobody, {}, "{}", "pass"},
      {"GET", "/api/v1/audit/export", Who::admin, {}, "", "pass"},
      {"GET", "/api/v1/nothing-matches", Who::admin, {}, "", "pass"},
      {"GET", "http://elsewhere.example/api/v1/health", Who::nobody, {}, "", "reject"},
  };
  ASSERT_GE(rows.size(), 30u);
  for (const auto& row : rows) {
    SCOPED_TRACE(std::string(row.method) + " " + row.target + " expecting " + row.expect);
    HeaderList h;
    h.add("Host", host);
    switch (row.who) {
      case Who::nobody:
        break;
      case Who::admin:
        h.add("Authorization", "Bearer " + admin);
        break;
      case Who::analyst:
        h.add("Authorization", "Bearer " + analyst);
        break;
      case Who::forged:
        h.add("Authorization", "Bearer " + forged);
        break;
      case Who::pat:
        h.add("Authorization", "Bearer orpat_0123456789abcdef0123456789abcdef");
        break;
      case Who::garbage:
        h.add("Authorization", "Bearer aaa.bbb.ccc");
        break;
    }
    for (const auto& [k, v] : row.headers) h.add(k, v);
    HeaderList explained = h;
    if (!row.body.empty()) explained.add("Content-Length", std::to_string(row.body.size()));
    auto e = explain(row, explained);
    HttpResponse r = through(0, row.method, row.target, h, row.body);
    ASSERT_TRUE(r.ok()) << r.describe();

    // What the row expects, from explain.
    const std::string x_cache = str(e, "x_cache");
    const std::string cache_status = str(e, "cache_status");
    if (row.expect == "reject") {
      EXPECT_EQ(str(e, "action"), "reject");
      EXPECT_EQ(r.status, 400) << r.describe();
      continue;
    }
    if (row.expect == "only-if-cached") {
      EXPECT_EQ(str(e, "decision"), "bypass");
      EXPECT_EQ(x_cache, "");
      EXPECT_EQ(cache_status, "");
      EXPECT_EQ(r.status, 504) << r.describe();
      EXPECT_FALSE(r.headers.has("X-Cache")) << r.describe();
      EXPECT_FALSE(r.headers.has("Cache-Status")) << r.describe();
      continue;
    }
    if (row.expect == "lookup") {
      EXPECT_EQ(str(e, "decision"), "lookup");
    } else if (row.expect == "pass") {
      EXPECT_TRUE(str(e, "decision") == "pass" || str(e, "decision") == "stream" ||
                  str(e, "decision") == "invalidate")
          << str(e, "decision");
      EXPECT_EQ(x_cache, "BYPASS");
      EXPECT_EQ(cache_status, "");
    } else {
      EXPECT_EQ(str(e, "decision"), "bypass");
      EXPECT_EQ(str(e, "bypass"), row.expect);
      EXPECT_EQ(cache_status, "openrisk-cache; fwd=bypass; detail=" + row.expect);
    }
    // What the daemon answered, against explain.
    const std::string got = header(r, "X-Cache");
    if (x_cache == "HIT or MISS") {
      EXPECT_TRUE(got == "HIT" || got == "MISS") << r.describe();
      EXPECT_EQ(header(r, "Cache-Status").find("bypass"), std::string::npos) << r.describe();
    } else {
      EXPECT_EQ(got, x_cache) << r.describe();
      EXPECT_EQ(header(r, "Cache-Status"), cache_status) << r.describe();
    }
  }
  // Every bypass is counted by rule and reason.
  EXPECT_EQ(
      metric_of(*proxies_.at(0), R"(openrisk_cache_bypasses_total{reason="no_credential",rule="risk-list"})"),
      1.0);
  EXPECT_EQ(metric_of(*proxies_.at(0),
                      R"(openrisk_cache_bypasses_total{reason="rewrite-header",rule="risk-detail"})"),
            3.0);
}

INSTANTIATE_TEST_SUITE_P(Storages, ExplainAgreementTest,
                         ::testing::Values(Storage::memory, Storage::redis, Storage::redis_cluster),
                         storage_name);

}  // namespace
}  // namespace orc::test
