// Black-box: tenant isolation, reads reflecting writes with a higher X-Sim-Version, list parameters and
// shapes, request counting and reset, the streamed export, and a clean exit on SIGTERM.
#include <set>

#include "sim_fixture.hpp"

namespace orc::sim::test {
namespace {

namespace json = boost::json;

std::set<std::string> risk_ids(std::uint16_t port, const std::string& token) {
  std::set<std::string> ids;
  for (int page = 1; page < 100; ++page) {
    HttpResponse r = get(port, "/api/v1/risks?limit=200&page=" + std::to_string(page), bearer(token));
    EXPECT_EQ(r.status, 200);
    json::array items = parse_json(r.body).at("items").as_array();
    if (items.empty()) break;
    for (auto& i : items) ids.insert(std::string(i.at("id").as_string()));
  }
  return ids;
}

class Data : public SimSuite<Data> {};

TEST_F(Data, TenantIsolation) {
  std::string a = login(port(), "admin@acme.test");
  std::string b = login(port(), "admin@globex.test");
  std::set<std::string> ids_a = risk_ids(port(), a), ids_b = risk_ids(port(), b);
  EXPECT_EQ(ids_a.size(), 300u);
  EXPECT_EQ(ids_b.size(), 300u);
  for (auto& id : ids_a) EXPECT_FALSE(ids_b.contains(id));

  std::string a_risk = *ids_a.begin();
  EXPECT_EQ(get(port(), "/api/v1/risks/" + a_risk, bearer(a)).status, 200);
  EXPECT_EQ(get(port(), "/api/v1/risks/" + a_risk, bearer(b)).status, 404);
  EXPECT_EQ(get(port(), "/api/v1/risks/" + a_risk + "/mitigations", bearer(b)).status, 404);
  EXPECT_EQ(send(port(), "PATCH", "/api/v1/risks/" + a_risk, R"({"title":"hijack"})", bearer(b)).status, 404);
  EXPECT_EQ(send(port(), "DELETE", "/api/v1/risks/" + a_risk, "", bearer(b)).status, 404);

  // A write in tenant A moves A's counter only.
  HttpResponse before_b = get(port(), "/api/v1/stats", bearer(b));
  ASSERT_EQ(send(port(), "POST", "/api/v1/risks", R"({"title":"only in A"})", bearer(a)).status, 201);
  HttpResponse after_b = get(port(), "/api/v1/stats", bearer(b));
  EXPECT_EQ(sim_version(before_b), sim_version(after_b));
  EXPECT_EQ(before_b.body, after_b.body);
  HttpResponse search_b = get(port(), "/api/v1/risks?search=only%20in%20A", bearer(b));
  EXPECT_EQ(parse_json(search_b.body).at("total").as_int64(), 0);
}

TEST_F(Data, WriteIsVisibleInNextReadWithHigherVersion) {
  std::string t = login(port(), "analyst@acme.test");
  HttpResponse list = get(port(), "/api/v1/risks?limit=1", bearer(t));
  std::string id(parse_json(list.body).at("items").as_array()[0].at("id").as_string());
  HttpResponse before = get(port(), "/api/v1/risks/" + id, bearer(t));
  std::uint64_t v0 = sim_version(before);

  HttpResponse patch = send(port(), "PATCH", "/api/v1/risks/" + id,
                            R"({"title":"Renamed","impact":5,"probability":5})", bearer(t));
  ASSERT_EQ(patch.status, 200) << patch.body;
  EXPECT_EQ(sim_version(patch), v0 + 1);
  HttpResponse after = get(port(), "/api/v1/risks/" + id, bearer(t));
  EXPECT_EQ(sim_version(after), v0 + 1);
  EXPECT_EQ(parse_json(after.body).at("title").as_string(), "Renamed");
  EXPECT_EQ(parse_json(after.body).at("criticality").as_string(), "CRITICAL");

  // A mitigation write changes the risk body (embedded plans) and the mitigation routes.
  HttpResponse m = send(port(), "POST", "/api/v1/risks/" + id + "/mitigations",
                        R"({"title":"Patch it","sub_actions":["one",{"title":"two"}]})", bearer(t));
  ASSERT_EQ(m.status, 201) << m.body;
  EXPECT_EQ(sim_version(m), v0 + 2);
  json::value plan = parse_json(m.body);
  std::string mid(plan.at("id").as_string());
  std::string aid(plan.at("sub_actions").as_array()[0].at("id").as_string());
  HttpResponse done =
      send(port(), "POST", "/api/v1/mitigations/" + mid + "/sub-actions/" + aid + "/complete", "", bearer(t));
  ASSERT_EQ(done.status, 200);
  EXPECT_EQ(parse_json(done.body).at("progress").as_int64(), 50);
  EXPECT_EQ(parse_json(done.body).at("status").as_string(), "IN_PROGRESS");
  HttpResponse mits = get(port(), "/api/v1/risks/" + id + "/mitigations", bearer(t));
  EXPECT_EQ(sim_version(mits), v0 + 3);
  EXPECT_NE(mits.body.find(mid), std::string::npos);
  EXPECT_NE(get(port(), "/api/v1/risks/" + id, bearer(t)).body.find("\"progress\":50"), std::string::npos);
  EXPECT_EQ(get(port(), "/api/v1/mitigations/" + mid, bearer(t)).status, 200);

  EXPECT_EQ(send(port(), "PATCH", "/api/v1/mitigations/" + mid, R"({"status":"DONE"})", bearer(t)).status,
            200);
  EXPECT_EQ(
      send(port(), "POST", "/api/v1/mitigations/" + mid + "/sub-actions", R"({"title":"three"})", bearer(t))
          .status,
      201);
  // The analyst may not delete (mitigations:delete); the admin may.
  EXPECT_EQ(send(port(), "DELETE", "/api/v1/mitigations/" + mid, "", bearer(t)).status, 403);
  std::string admin = login(port(), "admin@acme.test");
  HttpResponse del = send(port(), "DELETE", "/api/v1/mitigations/" + mid, "", bearer(admin));
  EXPECT_EQ(del.status, 204);
  EXPECT_EQ(get(port(), "/api/v1/mitigations/" + mid, bearer(t)).status, 404);
  EXPECT_EQ(send(port(), "DELETE", "/api/v1/risks/" + id, "", bearer(admin)).status, 204);
  HttpResponse gone = get(port(), "/api/v1/risks/" + id, bearer(t));
  EXPECT_EQ(gone.status, 404);
  EXPECT_GT(sim_version(gone), v0 + 3);
}

TEST_F(Data, CreateValidatesInput) {
  std::string t = login(port(), "analyst@acme.test");
  HttpResponse r = send(port(), "POST", "/api/v1/risks", R"({"impact":9})", bearer(t));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(parse_json(r.body).at("error").as_string(), "validation_failed");
  EXPECT_EQ(send(port(), "POST", "/api/v1/risks", "[1,2]", bearer(t)).status, 400);
  HttpResponse ok = send(port(), "POST", "/api/v1/risks",
                         R"({"title":"Fresh","impact":2,"probability":3,"tags":["x"]})", bearer(t));
  ASSERT_EQ(ok.status, 201);
  EXPECT_EQ(parse_json(ok.body).at("score").as_int64(), 6);
  HttpResponse asset =
      send(port(), "POST", "/api/v1/assets", R"({"name":"New host","criticality":"HIGH"})", bearer(t));
  ASSERT_EQ(asset.status, 201) << asset.body;
  EXPECT_EQ(parse_json(asset.body).at("risks").as_array().size(), 0u);
}

TEST_F(Data, ListParametersAndShapes) {
  std::string t = login(port(), "viewer@acme.test");
  HttpResponse page = get(port(), "/api/v1/risks", bearer(t));
  ASSERT_EQ(page.status, 200);
  json::object o = parse_json(page.body).as_object();
  EXPECT_EQ(o.at("items").as_array().size(), 20u);  // default limit
  EXPECT_EQ(o.at("total").as_int64(), 300);
  EXPECT_GT(page.body.size(), 40'000u);  // ~2.5-4 KB per risk with embeds
  EXPECT_TRUE(page.header("etag").empty());
  EXPECT_TRUE(page.header("cache-control").empty());

  EXPECT_EQ(parse_json(get(port(), "/api/v1/risks?limit=500", bearer(t)).body).at("items").as_array().size(),
            20u);
  json::array p2 =
      parse_json(get(port(), "/api/v1/risks?limit=5&page=2", bearer(t)).body).at("items").as_array();
  json::array p1 = parse_json(get(port(), "/api/v1/risks?limit=10", bearer(t)).body).at("items").as_array();
  ASSERT_EQ(p2.size(), 5u);
  EXPECT_EQ(p2[0].at("id"), p1[5].at("id"));

  json::array crit = parse_json(get(port(), "/api/v1/risks?severity=critical&limit=200", bearer(t)).body)
                         .at("items")
                         .as_array();
  ASSERT_FALSE(crit.empty());
  for (auto& r : crit) EXPECT_EQ(r.at("criticality").as_string(), "CRITICAL");
  json::array open = parse_json(get(port(), "/api/v1/risks?status=OPEN,DRAFT&limit=200", bearer(t)).body)
                         .at("items")
                         .as_array();
  for (auto& r : open)
    EXPECT_TRUE(r.at("status").as_string() == "OPEN" || r.at("status").as_string() == "DRAFT");
  json::array sorted =
      parse_json(get(port(), "/api/v1/risks?sort=-score&limit=50", bearer(t)).body).at("items").as_array();
  for (std::size_t i = 1; i < sorted.size(); ++i)
    EXPECT_GE(sorted[i - 1].at("score").as_int64(), sorted[i].at("score").as_int64());
  json::array found = parse_json(get(port(), "/api/v1/risks?search=vpn%20gateway&limit=200", bearer(t)).body)
                          .at("items")
                          .as_array();
  ASSERT_FALSE(found.empty());
  for (auto& r : found)
    EXPECT_NE(std::string(r.at("title").as_string()).find("VPN gateway"), std::string::npos);

  EXPECT_TRUE(parse_json(get(port(), "/api/v1/stats/risk-matrix", bearer(t)).body).is_array());
  EXPECT_TRUE(parse_json(get(port(), "/api/v1/stats/trends", bearer(t)).body).is_array());
  EXPECT_EQ(parse_json(get(port(), "/api/v1/stats/risk-distribution", bearer(t)).body).as_array().size(), 4u);
  EXPECT_EQ(parse_json(get(port(), "/api/v1/stats", bearer(t)).body).at("total_risks").as_int64(), 300);
  EXPECT_TRUE(parse_json(get(port(), "/api/v1/assets", bearer(t)).body).is_array());
  EXPECT_EQ(parse_json(get(port(), "/api/v1/users/me", bearer(t)).body).at("role").as_string(), "viewer");
  EXPECT_TRUE(parse_json(get(port(), "/api/v1/mitigations", bearer(t)).body).as_object().contains("items"));
}

TEST_F(Data, SeedIsDeterministicAcrossResets) {
  std::string t = login(port(), "viewer@acme.test");
  HttpResponse first = get(port(), "/api/v1/risks?limit=50", bearer(t));
  ASSERT_EQ(
      send(port(), "POST", "/api/v1/risks", R"({"title":"temp"})", bearer(login(port(), "admin@acme.test")))
          .status,
      201);
  ASSERT_EQ(send(port(), "POST", "/__sim/reset", "").status, 200);
  HttpResponse again = get(port(), "/api/v1/risks?limit=50", bearer(t));
  EXPECT_EQ(first.body, again.body);
  EXPECT_EQ(sim_version(again), 0u);
}

TEST_F(Data, MarketplaceIsTheSameForEveryCaller) {
  HttpResponse a = get(port(), "/api/v1/marketplace/connectors", bearer(login(port(), "viewer@acme.test")));
  HttpResponse b = get(port(), "/api/v1/marketplace/connectors", bearer(login(port(), "admin@initech.test")));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body, b.body);
  EXPECT_TRUE(parse_json(a.body).as_object().contains("data"));
  EXPECT_EQ(get(port(), "/api/v1/marketplace/connectors").status, 401);
}

TEST_F(Data, RequestsAreCountedPerRouteAndResetClearsThem) {
  std::string t = login(port(), "viewer@acme.test");
  HttpResponse list = get(port(), "/api/v1/risks?limit=1", bearer(t));
  std::string id(parse_json(list.body).at("items").as_array()[0].at("id").as_string());
  for (int i = 0; i < 3; ++i) get(port(), "/api/v1/risks/" + id, bearer(t));
  get(port(), "/api/v1/nowhere", bearer(t));
  get(port(), "/__sim/stats");  // control routes are not counted
  json::value s = parse_json(get(port(), "/__sim/stats").body);
  const json::object& routes = s.at("routes").as_object();
  EXPECT_EQ(routes.at("GET /api/v1/risks/:id").as_int64(), 3);
  EXPECT_EQ(routes.at("GET /api/v1/risks").as_int64(), 1);
  EXPECT_EQ(routes.at("POST /api/v1/auth/login").as_int64(), 1);
  EXPECT_EQ(s.at("unmatched").as_int64(), 1);
  EXPECT_EQ(s.at("total").as_int64(), 6);

  ASSERT_EQ(send(port(), "POST", "/__sim/reset", "").status, 200);
  json::value z = parse_json(get(port(), "/__sim/stats").body);
  EXPECT_EQ(z.at("total").as_int64(), 0);
  EXPECT_TRUE(z.at("routes").as_object().empty());
}

TEST_F(Data, ExportStreamsTheRequestedSize) {
  std::string t = login(port(), "viewer@acme.test");
  HttpResponse r = http_call(port(), HttpRequest{"GET", "/api/v1/export/pdf?size=8MiB", "", bearer(t)});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body.size(), 8u * 1024 * 1024);
  EXPECT_EQ(r.body.rfind("%PDF-1.4", 0), 0u);
  EXPECT_EQ(r.header("content-type"), "application/pdf");
  EXPECT_EQ(r.header("content-disposition"), "attachment; filename=openrisk_report.pdf");
  EXPECT_EQ(get(port(), "/api/v1/export/pdf?size=lots", bearer(t)).status, 400);
  HttpResponse head = http_call(port(), HttpRequest{"HEAD", "/api/v1/export/pdf?size=1000", "", bearer(t)});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), "1000");
}

TEST_F(Data, SeedDirectoryListsUsers) {
  json::value seed = parse_json(get(port(), "/__sim/seed").body);
  EXPECT_EQ(seed.at("tenants").as_array().size(), 3u);
  EXPECT_GE(seed.at("users").as_array().size(), 13u);
  for (auto& u : seed.at("users").as_array())
    EXPECT_EQ(login_response(port(), std::string(u.at("email").as_string())).status, 200);
}

TEST(SimLifecycle, ExitsCleanlyOnSigterm) {
  SimProcess sim;
  EXPECT_EQ(get(sim.port(), "/api/v1/health").status, 200);
  EXPECT_EQ(sim.terminate(), 0) << sim.stderr_text();
}

TEST(SimLifecycle, RejectsUnknownFlags) {
  EXPECT_THROW(SimProcess({"--no-such-flag", "1"}), std::runtime_error);
}

}  // namespace
}  // namespace orc::sim::test
