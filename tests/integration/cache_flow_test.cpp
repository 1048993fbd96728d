// Black-box tests of the cache's read flow against the real simulator: hits, scopes and identities, request
// coalescing, stale-if-error and stale-while-revalidate, with the in-process storage and with Redis.
#include <gtest/gtest.h>

#include <signal.h>

#include <set>
#include <string>

#include "cache_fixture.hpp"
#include "proxy_fixture.hpp"
#include "support/raw_client.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

const std::string kRiskRoute = "GET /api/v1/risks/:id";

class CacheFlowTest : public CacheStorageTest {};

TEST_P(CacheFlowTest, MissThenHitDoesNotReachTheBackend) {
  ASSERT_NO_FATAL_FAILURE(start_all(kSimRules));
  const std::string token = sim_login(sim_port(), "admin@acme.test");
  const std::string target = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(0);

  HttpResponse miss = get(target, token);
  ASSERT_TRUE(miss.ok()) << miss.describe();
  ASSERT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(x_cache(miss), "MISS") << miss.describe();
  EXPECT_EQ(sim_route_count(sim_port(), kRiskRoute), 1);

  HttpResponse hit = get(target, token);
  ASSERT_TRUE(hit.ok()) << hit.describe();
  EXPECT_EQ(hit.status, 200) << hit.describe();
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_EQ(hit.body, miss.body);
  EXPECT_FALSE(header(hit, "ETag").empty()) << hit.describe();
  EXPECT_FALSE(header(hit, "Age").empty()) << hit.describe();
  EXPECT_NE(header(hit, "Cache-Status").find("hit"), std::string::npos) << hit.describe();
  EXPECT_EQ(header(hit, "X-Sim-Version"), header(miss, "X-Sim-Version"));
  EXPECT_EQ(sim_route_count(sim_port(), kRiskRoute), 1) << "the hit reached the simulator";
}

TEST_P(CacheFlowTest, UserScopeNeverSharesBetweenUsers) {
  ASSERT_NO_FATAL_FAILURE(start_all(kSimRules));
  const std::string admin = sim_login(sim_port(), "admin@acme.test");
  const std::string analyst = sim_login(sim_port(), "analyst@acme.test");
  const std::string target = "/api/v1/users/me";

  HttpResponse a1 = get(target, admin);
  HttpResponse b1 = get(target, analyst);
  ASSERT_EQ(a1.status, 200) << a1.describe();
  ASSERT_EQ(b1.status, 200) << b1.describe();
  EXPECT_EQ(x_cache(a1), "MISS") << a1.describe();
  EXPECT_EQ(x_cache(b1), "MISS") << "the analyst was served the admin's entry\n" << b1.describe();
  EXPECT_NE(a1.body.find("admin@acme.test"), std::string::npos) << a1.body;
  EXPECT_NE(b1.body.find("analyst@acme.test"), std::string::npos) << b1.body;
  EXPECT_EQ(b1.body.find("admin@acme.test"), std::string::npos) << b1.body;

  HttpResponse a2 = get(target, admin);
  HttpResponse b2 = get(target, analyst);
  EXPECT_EQ(x_cache(a2), "HIT") << a2.describe();
  EXPECT_EQ(x_cache(b2), "HIT") << b2.describe();
  EXPECT_EQ(a2.body, a1.body);
  EXPECT_EQ(b2.body, b1.body);
  EXPECT_EQ(sim_route_count(sim_port(), "GET /api/v1/users/me"), 2);
}

TEST_P(CacheFlowTest, TenantScopeSharesWithinATenantOnly) {
  ASSERT_NO_FATAL_FAILURE(start_all(kSimRules));
  const std::string acme_admin = sim_login(sim_port(), "admin@acme.test");
  const std::string acme_analyst = sim_login(sim_port(), "analyst@acme.test");
  const std::string globex_admin = sim_login(sim_port(), "admin@globex.test");
  const std::string target = "/api/v1/risks?limit=3";
  const std::string route = "GET /api/v1/risks";

  HttpResponse first = get(target, acme_admin);
  ASSERT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(x_cache(first), "MISS") << first.describe();

  HttpResponse same_tenant = get(target, acme_analyst);
  ASSERT_EQ(same_tenant.status, 200) << same_tenant.describe();
  EXPECT_EQ(x_cache(same_tenant), "HIT") << same_tenant.describe();
  EXPECT_EQ(same_tenant.body, first.body);
  EXPECT_EQ(sim_route_count(sim_port(), route), 1);

  HttpResponse other_tenant = get(target, globex_admin);
  ASSERT_EQ(other_tenant.status, 200) << other_tenant.describe();
  EXPECT_EQ(x_cache(other_tenant), "MISS") << "Globex was served Acme's entry\n" << other_tenant.describe();
  EXPECT_NE(other_tenant.body, first.body);
  const std::vector<std::string> acme_ids = sim_sample_risks(sim_port(), 0);
  for (const auto& id : acme_ids) EXPECT_EQ(other_tenant.body.find(id), std::string::npos) << id;
  EXPECT_EQ(sim_route_count(sim_port(), route), 2);

  HttpResponse other_again = get(target, globex_admin);
  EXPECT_EQ(x_cache(other_again), "HIT") << other_again.describe();
  EXPECT_EQ(other_again.body, other_tenant.body);
}

TEST_P(CacheFlowTest, UnverifiedTokensBypassAndNeverHit) {
  ASSERT_NO_FATAL_FAILURE(start_all(kSimRules));
  const std::string admin = sim_login(sim_port(), "admin@acme.test");
  const std::string analyst = sim_login(sim_port(), "analyst@acme.test");
  const std::string target = "/api/v1/risks?limit=3";
  const std::string route = "GET /api/v1/risks";

  // An entry of Acme exists and is a hit for a verified Acme token.
  HttpResponse primed = get(target, admin);
  ASSERT_EQ(primed.status, 200) << primed.describe();
  ASSERT_EQ(x_cache(get(target, admin)), "HIT");

  const auto a = jwt_parts(admin);
  const auto b = jwt_parts(analyst);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  std::string flipped_sig = a[2];
  flipped_sig[0] = flipped_sig[0] == 'A' ? 'B' : 'A';
  const std::string alg_none = base64url_encode(R"({"alg":"none","typ":"JWT"})");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"signature of another token", "Bearer " + a[0] + "." + b[1] + "." + a[2]},
      {"tampered signature", "Bearer " + a[0] + "." + a[1] + "." + flipped_sig},
      {"alg none", "Bearer " + alg_none + "." + a[1] + "."},
      {"garbage", "Bearer garbage"},
      {"three garbage parts", "Bearer aaa.bbb.ccc"},
      {"not a bearer", "Basic YWRtaW46c2ltLXBhc3N3b3Jk"},
      // The backend reads exactly "Bearer <token>" (shared/openrisk-api.md section 11): a valid token in
      // another spelling is a 401, never the cached 200.
      {"lower-case scheme", "bearer " + admin},
      {"upper-case scheme", "BEARER " + admin},
      {"two spaces", "Bearer  " + admin},
      {"bare token", admin},
  };
  int expected_count = 1;
  for (const auto& [what, value] : cases) {
    SCOPED_TRACE(what);
    HeaderList h;
    h.add("Authorization", value);
    HttpResponse r = through(0, "GET", target, h);
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(x_cache(r), "BYPASS") << r.describe();
    EXPECT_EQ(r.status, 401) << "the simulator refuses this token; anything else came from the cache\n"
                             << r.describe();
    EXPECT_NE(r.body, primed.body);
    EXPECT_EQ(sim_route_count(sim_port(), route), ++expected_count)
        << "the request did not reach the backend";
  }
  HttpResponse anonymous = through(0, "GET", target);
  EXPECT_EQ(x_cache(anonymous), "BYPASS") << anonymous.describe();
  EXPECT_EQ(anonymous.status, 401) << anonymous.describe();

  // The or_access cookie identifies when no Authorization header is sent, and only then: a malformed header
  // beside a valid cookie is a 401 from the backend, so the proxy does not read the cookie either.
  HeaderList cookie;
  cookie.add("Cookie", "or_access=" + admin);
  HttpResponse by_cookie = through(0, "GET", target, cookie);
  EXPECT_EQ(by_cookie.status, 200) << by_cookie.describe();
  EXPECT_EQ(x_cache(by_cookie), "HIT") << by_cookie.describe();
  HeaderList both = cookie;
  both.add("Authorization", "bearer " + admin);
  HttpResponse malformed = through(0, "GET", target, both);
  EXPECT_EQ(malformed.status, 401) << malformed.describe();
  EXPECT_EQ(x_cache(malformed), "BYPASS") << malformed.describe();
  EXPECT_NE(header(malformed, "Cache-Status").find("malformed_credential"), std::string::npos)
      << malformed.describe();
}

// identity.jwt.authz_claims: permissions live in the token (shared/openrisk-api.md section 11), so a user
// entry belongs to the permission set that fetched it, and scope role shares an entry by that set.
const char* const kAuthzRules = R"(rules:
  - name: health
    match: { method: GET, path: /api/v1/health }
    cache: { ttl: 1s, scope: public }
  - name: risk-detail
    match: { method: GET, path: "/api/v1/risks/:id" }
    cache: { ttl: 5m, scope: user, tags: ["risk:{tenant}:{id}"] }
  - name: risk-list
    match: { method: GET, path: /api/v1/risks }
    cache: { ttl: 5m, scope: role, key: { query: [limit] }, tags: ["risks:{tenant}"] }
)";
const std::string kAuthzClaims = ", authz_claims: [permissions, org_roles]";

std::string jwt_subject(const std::string& token) {
  return json_string(base64url_decode(jwt_parts(token).at(1)), "sub");
}

TEST_P(CacheFlowTest, ATokenIssuedAfterARoleChangeNeverReadsTheOldRolesEntry) {
  ASSERT_NO_FATAL_FAILURE(start_all(kAuthzRules, {}, "", kAuthzClaims));
  const std::string admin = sim_login(sim_port(), "admin@acme.test");
  const std::string before = sim_login(sim_port(), "analyst@acme.test");
  const std::string target = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(0);
  ASSERT_EQ(get(target, before).status, 200);
  ASSERT_EQ(x_cache(get(target, before)), "HIT");

  // The admin demotes the analyst to auditor (no risks:read), on the backend; the analyst signs in again.
  HttpResponse demote =
      http(sim_port(), "PUT", "/api/v1/organization/members/" + jwt_subject(before) + "/role", bearer(admin),
           R"({"role":"user","business_role":"auditor"})");
  ASSERT_EQ(demote.status, 200) << demote.describe();
  const std::string after = sim_login(sim_port(), "analyst@acme.test");

  HttpResponse denied = get(target, after);
  EXPECT_EQ(denied.status, 403) << "the demoted member's new token was served the analyst's cached entry\n"
                                << denied.describe();
  EXPECT_NE(x_cache(denied), "HIT") << denied.describe();
  EXPECT_EQ(sim_route_count(sim_port(), "GET /api/v1/risks/:id"), 2);
  // The old token still carries risks:read, and the backend still honours it until it expires: so does
  // the cache.
  HttpResponse old_token = get(target, before);
  EXPECT_EQ(old_token.status, 200) << old_token.describe();
  EXPECT_EQ(x_cache(old_token), "HIT") << old_token.describe();
}

TEST_P(CacheFlowTest, RoleScopeSharesAnEntryBetweenMembersWithOnePermissionSet) {
  ASSERT_NO_FATAL_FAILURE(start_all(kAuthzRules, {}, "", kAuthzClaims));
  const std::string target = "/api/v1/risks?limit=3";
  const std::string route = "GET /api/v1/risks";
  // analyst@acme.test and consultant@sim.test are both Acme analysts: one permission set, one org role.
  HttpResponse analyst = get(target, sim_login(sim_port(), "analyst@acme.test"));
  ASSERT_EQ(analyst.status, 200) << analyst.describe();
  EXPECT_EQ(x_cache(analyst), "MISS") << analyst.describe();
  HttpResponse consultant = get(target, sim_login(sim_port(), "consultant@sim.test"));
  EXPECT_EQ(consultant.status, 200) << consultant.describe();
  EXPECT_EQ(x_cache(consultant), "HIT") << consultant.describe();
  EXPECT_EQ(consultant.body, analyst.body);
  EXPECT_EQ(sim_route_count(sim_port(), route), 1);

  // Other permission sets of the same tenant, and the same set in another tenant, fetch their own.
  for (const char* email : {"viewer@acme.test", "admin@acme.test", "analyst@globex.test"}) {
    HttpResponse r = get(target, sim_login(sim_port(), email));
    EXPECT_EQ(r.status, 200) << email << "\n" << r.describe();
    EXPECT_EQ(x_cache(r), "MISS") << email << " was served another permission set's entry\n" << r.describe();
  }
  HttpResponse auditor = get(target, sim_login(sim_port(), "auditor@acme.test"));
  EXPECT_EQ(auditor.status, 403) << auditor.describe();
  EXPECT_EQ(sim_route_count(sim_port(), route), 5);
}

// `permission: risks:read` under scope tenant (docs/rulebook.md section 1.3): the list is the same for every
// member the backend lets read it, so every permission set that grants risks:read shares one entry, and a
// member whose token does not grant it is never served that entry (the backend answers it 403).
TEST_P(CacheFlowTest, APermissionSharesAnEntryAmongTheMembersItGrants) {
  ASSERT_NO_FATAL_FAILURE(start_all(R"(rules:
  - name: health
    match: { method: GET, path: /api/v1/health }
    cache: { ttl: 1s, scope: public }
  - name: risk-list
    match: { method: GET, path: /api/v1/risks }
    cache: { ttl: 5m, scope: tenant, permission: "risks:read", key: { query: [limit] }, tags: ["risks:{tenant}"] }
)",
                                    {}, "", kAuthzClaims));
  const std::string target = "/api/v1/risks?limit=3";
  const std::string route = "GET /api/v1/risks";
  HttpResponse viewer = get(target, sim_login(sim_port(), "viewer@acme.test"));
  ASSERT_EQ(viewer.status, 200) << viewer.describe();
  EXPECT_EQ(x_cache(viewer), "MISS") << viewer.describe();
  // An analyst (more permissions) and an admin ("*") of the same tenant read the viewer's entry.
  for (const char* email : {"analyst@acme.test", "admin@acme.test"}) {
    HttpResponse r = get(target, sim_login(sim_port(), email));
    EXPECT_EQ(r.status, 200) << email << "\n" << r.describe();
    EXPECT_EQ(x_cache(r), "HIT") << email << "\n" << r.describe();
    EXPECT_EQ(r.body, viewer.body) << email;
  }
  EXPECT_EQ(sim_route_count(sim_port(), route), 1);

  // An auditor of the same tenant holds no risks:read: forwarded, never served the entry, never filling it.
  const std::string auditor = sim_login(sim_port(), "auditor@acme.test");
  for (int i = 0; i < 2; ++i) {
    HttpResponse denied = get(target, auditor);
    EXPECT_EQ(denied.status, 403) << "a member without the permission was served the shared entry\n"
                                  << denied.describe();
    EXPECT_EQ(x_cache(denied), "BYPASS") << denied.describe();
    EXPECT_NE(header(denied, "Cache-Status").find("no_permission"), std::string::npos) << denied.describe();
  }
  EXPECT_EQ(sim_route_count(sim_port(), route), 3);
  // Another tenant has its own entry.
  HttpResponse globex = get(target, sim_login(sim_port(), "analyst@globex.test"));
  EXPECT_EQ(globex.status, 200) << globex.describe();
  EXPECT_EQ(x_cache(globex), "MISS") << "a member of another tenant read Acme's entry\n" << globex.describe();
  EXPECT_NE(globex.body, viewer.body);
  EXPECT_EQ(x_cache(get(target, sim_login(sim_port(), "admin@acme.test"))), "HIT");
  EXPECT_EQ(sim_route_count(sim_port(), route), 4);
}

TEST_P(CacheFlowTest, ExpiredTokenBypassesAndNeverHits) {
  // Short-lived tokens and no leeway. The entry is primed while the token is valid; the token then expires
  // (observed on the simulator, which refuses it from `exp` on) and is sent through the proxy at once.
  ASSERT_NO_FATAL_FAILURE(start_all(kSimRules, {"--access-ttl", "2s"}, "", ", leeway: 0s"));
  const std::string token = sim_login(sim_port(), "admin@acme.test");
  const std::string target = "/api/v1/risks?limit=3";
  HttpResponse primed = get(target, token);
  ASSERT_EQ(primed.status, 200) << primed.describe();
  HttpResponse hit = get(target, token);
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();

  ASSERT_TRUE(poll_until(
      [&] {
        return http(sim_port(), "GET", "/api/v1/users/me", bearer(token)).body.find("TOKEN_EXPIRED") !=
               std::string::npos;
      },
      deadline_in(15s)))
      << "the simulator never refused the token as expired";

  HttpResponse expired = get(target, token);
  EXPECT_EQ(x_cache(expired), "BYPASS") << "a token the backend refuses as expired read a cached entry\n"
                                        << expired.describe();
  EXPECT_EQ(expired.status, 401) << expired.describe();
  EXPECT_NE(expired.body.find("TOKEN_EXPIRED"), std::string::npos) << expired.describe();
  EXPECT_EQ(sim_route_count(sim_port(), "GET /api/v1/risks"), 2);
}

TEST_P(CacheFlowTest, ConcurrentMissesReachTheBackendOnce) {
  // Reads take 1 s in the simulator, so the eight requests overlap with the one fetch.
  ASSERT_NO_FATAL_FAILURE(start_all(kSimRules, {"--class-latency", "read=1s"}));
  const std::string token = sim_login(sim_port(), "viewer@acme.test");
  const std::string target = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(1);
  constexpr std::size_t kClients = 8;

  std::vector<HttpResponse> responses =
      run_concurrently(kClients, [&](std::size_t) { return get(target, token); });

  EXPECT_EQ(sim_route_count(sim_port(), kRiskRoute), 1) << "concurrent misses were not coalesced";
  // docs/caching.md: the waiters are served the one fetch's result as MISS with "fwd=miss; collapsed".
  int collapsed = 0;
  for (std::size_t i = 0; i < kClients; ++i) {
    const HttpResponse& r = responses[i];
    ASSERT_TRUE(r.ok()) << i << ": " << r.describe();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.body, responses[0].body) << i;
    EXPECT_EQ(x_cache(r), "MISS") << r.describe();
    if (header(r, "Cache-Status").find("collapsed") != std::string::npos) ++collapsed;
  }
  EXPECT_EQ(collapsed, static_cast<int>(kClients) - 1) << "all but the one that fetched waited for it";
  HttpResponse hit = get(target, token);
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_EQ(hit.body, responses[0].body);
  EXPECT_EQ(sim_route_count(sim_port(), kRiskRoute), 1);
}

TEST_P(CacheFlowTest, AtTheDrainDeadlineALeaderAndItsFollowersUnwind) {
  // Reads take 30 s in the simulator and the drain timeout is 1 s: the fetch and the requests waiting for it
  // are still in flight at the deadline, and must end by unwinding (not by a stopped context).
  ASSERT_NO_FATAL_FAILURE(start_all(kSimRules, {"--class-latency", "read=30s"},
                                    "  first_byte_timeout: 60s\ntimeouts: { drain: 1s }\n"));
  const std::string token = sim_login(sim_port(), "viewer@acme.test");
  const std::string target = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(2);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<RawClient>(proxy_port()));
    ASSERT_TRUE(clients.back()->send(make_request("GET", target, bearer(token))));
  }
  ASSERT_TRUE(poll_until([&] { return sim_route_count(sim_port(), kRiskRoute) >= 1; }, deadline_in(10s)));

  DaemonProcess& daemon = *proxies_.at(0);
  ASSERT_TRUE(daemon.send_signal(SIGTERM));
  for (auto& c : clients) EXPECT_FALSE(c->read_response().ok());
  auto status = daemon.wait_exit(deadline_in(20s));
  ASSERT_TRUE(status.has_value()) << "the daemon did not exit after the drain timeout";
  EXPECT_TRUE(status->success()) << status->describe();
  const std::string log = daemon.stderr_text();
  EXPECT_NE(log.find("every request ended after the drain timeout"), std::string::npos) << log;
  EXPECT_EQ(log.find("stopping the workers"), std::string::npos) << log;
}

const char* const kStaleIfErrorRules = R"(rules:
  - name: health
    match: { method: GET, path: /api/v1/health }
    cache: { ttl: 1s, scope: public }
  - name: risk-detail
    match: { method: GET, path: "/api/v1/risks/:id" }
    cache: { ttl: 1s, scope: tenant, stale_if_error: 5m, tags: ["risk:{tenant}:{id}"] }
  - name: stats
    match: { method: GET, path: /api/v1/stats }
    cache: { ttl: 1s, scope: tenant, stale_if_error: 0s, tags: ["risks:{tenant}"] }
  - name: risk-write
    match: { method: [POST, PATCH, DELETE], path: "/api/v1/risks/:id/**" }
    invalidate: ["risks:{tenant}", "risk:{tenant}:{id}"]
)";

TEST_P(CacheFlowTest, StaleIfErrorServesTheOldEntryWhenTheBackendFails) {
  ASSERT_NO_FATAL_FAILURE(start_all(kStaleIfErrorRules, {}, "  first_byte_timeout: 1s\n"));
  const std::string token = sim_login(sim_port(), "admin@acme.test");
  const std::string target = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(2);

  HttpResponse stats = get("/api/v1/stats", token);
  ASSERT_EQ(stats.status, 200) << stats.describe();
  HttpResponse primed = get(target, token);
  ASSERT_EQ(primed.status, 200) << primed.describe();
  ASSERT_EQ(x_cache(primed), "MISS") << primed.describe();

  // From now on the backend never answers these reads: the proxy's first-byte timeout (1 s) fails them.
  sim_add_fault(sim_port(), R"({"faults":[{"route":"GET /api/v1/risks/:id","mode":"hang","delay":"30s"},)"
                            R"({"route":"GET /api/v1/stats","mode":"hang","delay":"30s"}]})");

  // Fresh: hits. Expired: the backend is asked, fails, and the stale entry is served.
  HttpResponse r;
  ASSERT_TRUE(poll_until_not_hit([&] { return get(target, token); }, r))
      << "the entry never stopped being a fresh HIT with ttl 1s";
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(x_cache(r), "STALE") << r.describe();
  EXPECT_EQ(r.body, primed.body);
  EXPECT_EQ(header(r, "X-Sim-Version"), header(primed, "X-Sim-Version"));
  EXPECT_GE(sim_route_count(sim_port(), kRiskRoute), 2) << "the expired entry was served without asking";

  // The stats entry (older, same TTL) has no stale_if_error: the failure reaches the client.
  HttpResponse no_stale = get("/api/v1/stats", token);
  EXPECT_EQ(no_stale.status, 504) << no_stale.describe();
  EXPECT_NE(x_cache(no_stale), "STALE") << no_stale.describe();
  EXPECT_NE(x_cache(no_stale), "HIT") << no_stale.describe();
}

const char* const kSlowWriteRules = R"(rules:
  - name: health
    match: { method: GET, path: /api/v1/health }
    cache: { ttl: 1s, scope: public }
  - name: stats
    match: { method: GET, path: /api/v1/stats }
    cache: { ttl: 5m, scope: tenant, tags: ["risks:{tenant}"] }
  - name: risk-patch
    match: { method: PATCH, path: "/api/v1/risks/:id" }
    invalidate: ["risks:{tenant}"]
)";

// A write the backend applies after the proxy stopped waiting for its answer (a handler that outlives the
// first-byte timeout) gets a 504, and its tags are purged all the same: once the backend has it, no read is
// answered from an entry filled before the write.
TEST_P(CacheFlowTest, AWriteThatTimesOutPurgesItsTagsAllTheSame) {
  ASSERT_NO_FATAL_FAILURE(start_all(kSlowWriteRules, {}, "  first_byte_timeout: 1s\n"));
  const std::string token = sim_login(sim_port(), "admin@acme.test");
  const std::string risk = sim_sample_risks(sim_port(), 0).at(1);
  HttpResponse primed = get("/api/v1/stats", token);
  ASSERT_EQ(x_cache(primed), "MISS") << primed.describe();
  const std::uint64_t before = sim_version(primed);
  ASSERT_EQ(x_cache(get("/api/v1/stats", token)), "HIT");

  sim_add_fault(sim_port(),
                R"({"faults":[{"route":"PATCH /api/v1/risks/:id","mode":"slow","delay":"2s","count":1}]})");
  HttpResponse write = through(0, "PATCH", "/api/v1/risks/" + risk, bearer(token), R"({"impact":5})");
  EXPECT_EQ(write.status, 504) << write.describe();
  // The backend applies it a second later; then the proxy's answer is the backend's.
  ASSERT_TRUE(poll_until(
      [&] { return sim_version(http(sim_port(), "GET", "/api/v1/stats", bearer(token))) > before; },
      deadline_in(10s)))
      << "the simulator never applied the write";
  HttpResponse after = get("/api/v1/stats", token);
  EXPECT_NE(x_cache(after), "HIT") << after.describe();
  EXPECT_GT(sim_version(after), before) << after.describe();
}

const char* const kSwrRules = R"(rules:
  - name: health
    match: { method: GET, path: /api/v1/health }
    cache: { ttl: 1s, scope: public }
  - name: stats
    match: { method: GET, path: /api/v1/stats }
    cache: { ttl: 4s, scope: tenant, stale_while_revalidate: 5m, stale_if_error: 0s, tags: ["risks:{tenant}"] }
  - name: risk-write
    match: { method: [POST, PATCH, DELETE], path: "/api/v1/risks/:id/**" }
    invalidate: ["risks:{tenant}"]
)";

TEST_P(CacheFlowTest, StaleWhileRevalidateServesStaleAndRefreshesOnce) {
  // Reads take 500 ms, so the background refresh is still running while the next requests arrive. The 4 s TTL
  // leaves the refreshed entry fresh while the test looks at it, even on a loaded machine (with 2 s, a slow
  // poll can see it expire again and trigger a second, legitimate refresh; it failed once under load).
  ASSERT_NO_FATAL_FAILURE(start_all(kSwrRules, {"--class-latency", "read=500ms"}));
  const std::string token = sim_login(sim_port(), "admin@acme.test");
  const std::string route = "GET /api/v1/stats";

  HttpResponse primed = get("/api/v1/stats", token);
  ASSERT_EQ(primed.status, 200) << primed.describe();
  ASSERT_EQ(x_cache(primed), "MISS") << primed.describe();
  const std::uint64_t v0 = sim_version(primed);

  // A write the proxy does not see (straight to the simulator): only a refresh can show it.
  const std::string risk = sim_sample_risks(sim_port(), 0).at(0);
  HttpResponse write = http(sim_port(), "PATCH", "/api/v1/risks/" + risk, bearer(token), R"({"impact":5})");
  ASSERT_EQ(write.status, 200) << write.describe();
  const std::uint64_t v1 = sim_version(write);
  ASSERT_GT(v1, v0);

  HttpResponse first_stale;
  ASSERT_TRUE(poll_until_not_hit([&] { return get("/api/v1/stats", token); }, first_stale))
      << "the entry never expired";
  EXPECT_EQ(x_cache(first_stale), "STALE") << first_stale.describe();
  EXPECT_EQ(first_stale.body, primed.body);
  EXPECT_EQ(sim_version(first_stale), v0);

  // More readers during the refresh: stale or (once refreshed) fresh, never a miss of their own.
  std::vector<HttpResponse> during =
      run_concurrently(5, [&](std::size_t) { return get("/api/v1/stats", token); });
  for (const auto& r : during) {
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_TRUE(x_cache(r) == "STALE" || x_cache(r) == "HIT") << r.describe();
  }

  HttpResponse refreshed;
  ASSERT_TRUE(poll_until(
      [&] {
        refreshed = get("/api/v1/stats", token);
        return x_cache(refreshed) == "HIT" && sim_version(refreshed) == v1;
      },
      deadline_in(15s)))
      << "the refreshed entry never became a HIT; last:\n"
      << refreshed.describe();
  EXPECT_EQ(sim_route_count(sim_port(), route), 2) << "expected the priming fetch plus exactly one refresh";
  // The refresh went to the backend like a client's request: the rule's upstream metrics count both.
  auto& proxy = *proxies_.at(0);
  EXPECT_EQ(metric_of(proxy, R"(openrisk_cache_upstream_requests_total{code_class="2xx",rule="stats"})"), 2);
  EXPECT_EQ(metric_of(proxy, R"(openrisk_cache_upstream_duration_seconds_count{rule="stats"})"), 2);
}

INSTANTIATE_TEST_SUITE_P(Storages, CacheFlowTest,
                         ::testing::Values(Storage::memory, Storage::redis, Storage::redis_cluster,
                                           Storage::redis_unix),
                         storage_name);

}  // namespace
}  // namespace orc::test
