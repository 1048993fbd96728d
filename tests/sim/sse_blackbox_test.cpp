// Black-box: GET /api/v1/mitigations/events delivers one event per mitigation write, only to subscribers
// of the writer's tenant.
#include <chrono>

#include "sim_fixture.hpp"

namespace orc::sim::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class Sse : public SimSuite<Sse> {};

TEST_F(Sse, OneEventPerMitigationWriteInTheCallersTenant) {
  std::string a = login(port(), "admin@acme.test");
  std::string b = login(port(), "admin@globex.test");
  StreamReader events_a(port(), "/api/v1/mitigations/events?token=" + a);
  StreamReader events_b(port(), "/api/v1/mitigations/events?token=" + b);
  ASSERT_EQ(events_a.wait_head(seconds(10)), 200);
  ASSERT_EQ(events_b.wait_head(seconds(10)), 200);
  EXPECT_EQ(events_a.header("content-type"), "text/event-stream");
  EXPECT_EQ(events_a.header("cache-control"), "no-cache");
  ASSERT_TRUE(events_a.wait_for(": connected", seconds(10)));
  ASSERT_TRUE(events_b.wait_for(": connected", seconds(10)));

  std::string rid_a(parse_json(get(port(), "/api/v1/risks?limit=1", bearer(a)).body)
                        .at("items")
                        .as_array()[0]
                        .at("id")
                        .as_string());
  HttpResponse created =
      send(port(), "POST", "/api/v1/risks/" + rid_a + "/mitigations", R"({"title":"m1"})", bearer(a));
  ASSERT_EQ(created.status, 201);
  std::string mid(parse_json(created.body).at("id").as_string());
  ASSERT_EQ(send(port(), "PATCH", "/api/v1/mitigations/" + mid, R"({"priority":"HIGH"})", bearer(a)).status,
            200);
  ASSERT_EQ(send(port(), "DELETE", "/api/v1/mitigations/" + mid, "", bearer(a)).status, 204);

  auto c = events_a.wait_for("event: mitigation.created", seconds(10));
  ASSERT_TRUE(c);
  auto u = events_a.wait_for("event: mitigation.updated", seconds(10), *c);
  ASSERT_TRUE(u);
  auto d = events_a.wait_for("event: mitigation.deleted", seconds(10), *u);
  ASSERT_TRUE(d);
  EXPECT_NE(events_a.body().find(mid), std::string::npos);
  EXPECT_NE(events_a.body().find("\"version\":3"), std::string::npos);

  // Tenant B saw none of that: its first event is its own write, which came later.
  std::string rid_b(parse_json(get(port(), "/api/v1/risks?limit=1", bearer(b)).body)
                        .at("items")
                        .as_array()[0]
                        .at("id")
                        .as_string());
  HttpResponse other =
      send(port(), "POST", "/api/v1/risks/" + rid_b + "/mitigations", R"({"title":"m2"})", bearer(b));
  ASSERT_EQ(other.status, 201);
  auto first_b = events_b.wait_for("event: ", seconds(10));
  ASSERT_TRUE(first_b);
  std::string tail = events_b.body().substr(*first_b);
  EXPECT_EQ(tail.rfind("event: mitigation.created", 0), 0u);
  EXPECT_NE(tail.find(std::string(parse_json(other.body).at("id").as_string())), std::string::npos);
  EXPECT_EQ(events_b.body().find(mid), std::string::npos);
}

TEST_F(Sse, NeedsAToken) {
  EXPECT_EQ(get(port(), "/api/v1/mitigations/events").status, 401);
  EXPECT_EQ(get(port(), "/api/v1/mitigations/events?token=garbage").status, 401);
}

}  // namespace
}  // namespace orc::sim::test
