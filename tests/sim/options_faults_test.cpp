// Unit: command-line parsing (sim_options) and fault rules (faults): parse, match, expire.
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "openrisk_sim/faults.hpp"
#include "openrisk_sim/sim_options.hpp"

namespace orc::sim {
namespace {

TEST(Options, DefaultsAndFlags) {
  auto r = parse_options({"--listen", "127.0.0.1:0", "--latency", "150ms", "--jitter", "20ms",
                          "--class-latency", "write=300ms/50ms", "--jwt-mode", "hs256", "--threads", "4"});
  ASSERT_TRUE(std::holds_alternative<SimOptions>(r));
  const SimOptions& o = std::get<SimOptions>(r);
  EXPECT_EQ(o.listen_port, 0);
  EXPECT_EQ(o.threads, 4);
  EXPECT_EQ(o.jwt_mode, JwtMode::hs256);
  EXPECT_EQ(o.access_ttl.count(), 86400);
  EXPECT_EQ(latency_for(o, RouteClass::read).base.count(), 150);
  EXPECT_EQ(latency_for(o, RouteClass::read).jitter.count(), 20);
  EXPECT_EQ(latency_for(o, RouteClass::write).base.count(), 300);
  EXPECT_EQ(latency_for(o, RouteClass::write).jitter.count(), 50);
  EXPECT_EQ(latency_for(o, RouteClass::sim).base.count(), 0);
  EXPECT_EQ(std::get<SimOptions>(parse_options({})).access_ttl.count(), 900);
}

TEST(Options, Errors) {
  EXPECT_TRUE(std::holds_alternative<ParseError>(parse_options({"--bogus", "1"})));
  EXPECT_TRUE(std::holds_alternative<ParseError>(parse_options({"--latency"})));
  EXPECT_TRUE(std::holds_alternative<ParseError>(parse_options({"--latency", "fast"})));
  EXPECT_TRUE(std::holds_alternative<ParseError>(parse_options({"--listen", "nohost"})));
  EXPECT_TRUE(std::holds_alternative<ParseError>(parse_options({"--class-latency", "sim=1s"})));
  EXPECT_TRUE(std::holds_alternative<HelpRequested>(parse_options({"--help"})));
}

TEST(FaultRules, ParseMatchAndExpire) {
  FaultTable t;
  auto rule =
      FaultTable::parse(boost::json::parse(R"({"route":"GET /api/v1/risks*","mode":"error","count":2})"));
  ASSERT_TRUE(std::holds_alternative<FaultRule>(rule));
  ASSERT_TRUE(t.add(std::get<FaultRule>(rule)));
  EXPECT_FALSE(t.take("GET /api/v1/stats"));
  EXPECT_TRUE(t.take("GET /api/v1/risks/:id"));
  EXPECT_TRUE(t.take("GET /api/v1/risks"));
  EXPECT_FALSE(t.take("GET /api/v1/risks"));  // used up
  EXPECT_TRUE(std::holds_alternative<std::string>(FaultTable::parse(boost::json::parse(R"({"route":"*"})"))));
  EXPECT_TRUE(std::holds_alternative<std::string>(
      FaultTable::parse(boost::json::parse(R"({"route":"*","mode":"error","status":200})"))));
  auto slow = FaultTable::parse(boost::json::parse(R"({"route":"*","mode":"slow","delay":"2s"})"));
  ASSERT_TRUE(std::holds_alternative<FaultRule>(slow));
  EXPECT_EQ(std::get<FaultRule>(slow).delay.count(), 2000);
}

TEST(LatencyDraw, JitterStaysInRange) {
  SimOptions o;
  o.latency = {std::chrono::milliseconds(100), std::chrono::milliseconds(20)};
  LatencyModel m(o);
  for (int i = 0; i < 1000; ++i) {
    auto d = m.draw(RouteClass::read).count();
    EXPECT_GE(d, 80);
    EXPECT_LE(d, 120);
  }
  EXPECT_EQ(m.draw(RouteClass::sim).count(), 0);
}

}  // namespace
}  // namespace orc::sim
