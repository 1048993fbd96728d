// Black-box: added latency runs on timers (concurrent requests overlap), and every fault mode of
// POST /__sim/faults: error, hang, close, slow, with `count` and DELETE /__sim/faults.
#include <chrono>

#include "sim_fixture.hpp"

namespace orc::sim::test {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class Latency : public SimSuite<Latency> {
 public:
  // One thread on purpose: if the delay blocked a thread, 20 requests would take 20 x 300 ms.
  static std::vector<std::string> args() { return {"--latency", "300ms", "--threads", "1"}; }
};

TEST_F(Latency, ConcurrentRequestsFinishInAboutOneLatency) {
  std::string t = login(port(), "viewer@acme.test");
  std::vector<HttpRequest> reqs(20, HttpRequest{"GET", "/api/v1/stats", "", bearer(t), milliseconds(30000)});
  auto start = Clock::now();
  auto results = http_parallel(port(), reqs);
  auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  for (auto& r : results) EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_GE(elapsed.count(), 300);
  EXPECT_LT(elapsed.count(), 5 * 300)
      << "latency seems to block: 20 requests took " << elapsed.count() << " ms";
}

class Faults : public SimSuite<Faults> {
 protected:
  void add_fault(const std::string& rule) {
    HttpResponse r = send(port(), "POST", "/__sim/faults", rule);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  std::string first_risk(const std::string& token) {
    HttpResponse r = get(port(), "/api/v1/risks?limit=1", bearer(token));
    return std::string(parse_json(r.body).at("items").as_array()[0].at("id").as_string());
  }
};

TEST_F(Faults, ErrorModeReturns500WithoutApplyingTheWrite) {
  std::string t = login(port(), "admin@acme.test");
  std::string id = first_risk(t);
  add_fault(R"({"route":"PATCH /api/v1/risks/:id","mode":"error","count":1})");
  HttpResponse r = send(port(), "PATCH", "/api/v1/risks/" + id, R"({"title":"never"})", bearer(t));
  EXPECT_EQ(r.status, 500);
  json::value b = parse_json(r.body);
  EXPECT_EQ(b.at("error").as_bool(), true);
  EXPECT_TRUE(b.as_object().contains("reference"));
  EXPECT_NE(parse_json(get(port(), "/api/v1/risks/" + id, bearer(t)).body).at("title").as_string(), "never");
  // count:1 retired the rule.
  EXPECT_EQ(send(port(), "PATCH", "/api/v1/risks/" + id, R"({"title":"now"})", bearer(t)).status, 200);
  EXPECT_TRUE(parse_json(get(port(), "/__sim/faults").body).at("faults").as_array().empty());
}

TEST_F(Faults, ErrorModeWithStatusAndWildcard) {
  std::string t = login(port(), "viewer@acme.test");
  add_fault(R"({"route":"GET /api/v1/stats*","mode":"error","status":503})");
  EXPECT_EQ(get(port(), "/api/v1/stats", bearer(t)).status, 503);
  EXPECT_EQ(get(port(), "/api/v1/stats/trends", bearer(t)).status, 503);
  EXPECT_EQ(get(port(), "/api/v1/risks?limit=1", bearer(t)).status, 200);
  HttpResponse cleared = send(port(), "DELETE", "/__sim/faults", "");
  EXPECT_EQ(parse_json(cleared.body).at("cleared").as_int64(), 1);
  EXPECT_EQ(get(port(), "/api/v1/stats", bearer(t)).status, 200);
}

TEST_F(Faults, HangModeNeverAnswersButOthersAreServed) {
  std::string t = login(port(), "viewer@acme.test");
  add_fault(R"({"route":"GET /api/v1/stats","mode":"hang"})");
  HttpResponse hung =
      http_call(port(), HttpRequest{"GET", "/api/v1/stats", "", bearer(t), milliseconds(500)});
  EXPECT_TRUE(hung.timed_out) << hung.status << " " << hung.error;
  EXPECT_EQ(hung.status, 0);
  EXPECT_EQ(get(port(), "/api/v1/stats/risk-matrix", bearer(t)).status, 200);
  // A bounded hang ends by closing the connection, still without an answer.
  send(port(), "DELETE", "/__sim/faults", "");
  add_fault(R"({"route":"GET /api/v1/stats","mode":"hang","delay":"200ms"})");
  HttpResponse closed =
      http_call(port(), HttpRequest{"GET", "/api/v1/stats", "", bearer(t), milliseconds(10000)});
  EXPECT_EQ(closed.status, 0);
  EXPECT_FALSE(closed.timed_out) << closed.error;
  EXPECT_FALSE(closed.error.empty());
}

TEST_F(Faults, CloseModeCutsTheBody) {
  std::string t = login(port(), "viewer@acme.test");
  std::string id = first_risk(t);
  add_fault(R"({"route":"GET /api/v1/risks/:id","mode":"close","count":1})");
  HttpResponse cut = get(port(), "/api/v1/risks/" + id, bearer(t));
  EXPECT_EQ(cut.status, 200);
  EXPECT_TRUE(cut.truncated) << cut.error;
  ASSERT_FALSE(cut.header("content-length").empty());
  EXPECT_LT(cut.body.size(), std::stoul(cut.header("content-length")));
  EXPECT_EQ(get(port(), "/api/v1/risks/" + id, bearer(t)).status, 200);

  add_fault(R"({"route":"GET /api/v1/export/pdf","mode":"close","after_bytes":100000,"count":1})");
  HttpResponse pdf = get(port(), "/api/v1/export/pdf?size=1MiB", bearer(t));
  EXPECT_EQ(pdf.status, 200);
  EXPECT_TRUE(pdf.truncated);
  EXPECT_EQ(pdf.body.size(), 100000u);
}

TEST_F(Faults, SlowModeAddsDelayToChosenRouteOnly) {
  std::string t = login(port(), "viewer@acme.test");
  add_fault(R"({"route":"GET /api/v1/stats","mode":"slow","delay":"400ms"})");
  auto start = Clock::now();
  HttpResponse slow = get(port(), "/api/v1/stats", bearer(t));
  auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  EXPECT_EQ(slow.status, 200);
  EXPECT_GE(elapsed.count(), 400);
  EXPECT_EQ(
      http_call(port(), HttpRequest{"GET", "/api/v1/stats/trends", "", bearer(t), milliseconds(5000)}).status,
      200);
}

TEST_F(Faults, BadRulesAreRejected) {
  EXPECT_EQ(send(port(), "POST", "/__sim/faults", R"({"route":"*","mode":"explode"})").status, 400);
  EXPECT_EQ(send(port(), "POST", "/__sim/faults", R"({"mode":"error"})").status, 400);
  EXPECT_EQ(send(port(), "POST", "/__sim/faults", R"({"route":"*","mode":"slow"})").status, 400);
  EXPECT_EQ(send(port(), "POST", "/__sim/faults", "nope").status, 400);
  HttpResponse two = send(
      port(), "POST", "/__sim/faults",
      R"({"faults":[{"route":"GET /api/v1/stats","mode":"error"},{"route":"*","mode":"slow","delay":"1ms"}]})");
  EXPECT_EQ(two.status, 201);
  EXPECT_EQ(parse_json(two.body).at("faults").as_array().size(), 2u);
  // Reset clears faults too.
  send(port(), "POST", "/__sim/reset", "");
  EXPECT_TRUE(parse_json(get(port(), "/__sim/faults").body).at("faults").as_array().empty());
}

}  // namespace
}  // namespace orc::sim::test
