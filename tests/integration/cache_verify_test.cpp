// Black-box test of verify mode (cache.verify, issue 15 item 4) against the real simulator: a write that goes
// straight to the backend, around the proxy, leaves a stale entry; the next sampled hit finds it. With the
// in-process storage and with Redis.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>

#include "cache_fixture.hpp"
#include "support/raw_client.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

class CacheVerifyTest : public CacheStorageTest {};

TEST_P(CacheVerifyTest, AWriteAroundTheProxyIsFoundByTheNextSampledHit) {
  ASSERT_NO_THROW(start_sim());
  if (use_redis()) {
    ASSERT_NO_THROW(start_redis());
  }
  std::string yaml =
      config_yaml(kSimRules, use_redis()) + "admin: { listen: 127.0.0.1:0, token: verify-admin-token }\n";
  const std::string cache_line = "cache: { key_secret: test-secret";
  const auto at = yaml.find(cache_line);
  ASSERT_NE(at, std::string::npos) << yaml;
  // Every hit sampled; limits wide enough that only the per-key rule applies.
  yaml.replace(
      at, cache_line.size(),
      "cache: { verify: { sample: 1, max_per_second: 1000, concurrency: 16 }, key_secret: test-secret");
  DaemonProcess* proxy = start_proxy(yaml);
  ASSERT_NE(proxy, nullptr);
  auto admin = proxy->wait_for_log(R"(admin endpoints on 127\.0\.0\.1:(\d+))");
  ASSERT_TRUE(admin) << proxy->stderr_text();
  const auto admin_port = static_cast<std::uint16_t>(std::stoi(admin->groups[1]));
  auto verifies = [&](const std::string& result) {
    HttpResponse m = http(admin_port, "GET", "/metrics");
    EXPECT_EQ(m.status, 200) << m.describe();
    return metric_sample(m.body,
                         "openrisk_cache_verify_total{result=\"" + result + "\",rule=\"risk-detail\"}")
        .value_or(0);
  };

  const std::string token = sim_login(sim_port(), "admin@acme.test");
  const std::string risk = sim_sample_risks(sim_port(), 0).at(0);
  const std::string target = "/api/v1/risks/" + risk;
  const std::string route = "GET /api/v1/risks/:id";

  HttpResponse miss = get(target, token);
  ASSERT_EQ(miss.status, 200) << miss.describe();
  ASSERT_EQ(x_cache(miss), "MISS") << miss.describe();
  HttpResponse hit = get(target, token);
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();
  // The backend answers the verify as it answered the fill: it was sent with the client's token (without it
  // the simulator answers 401, a mismatch).
  ASSERT_TRUE(poll_until([&] { return verifies("match") == 1; }, deadline_in(10s)))
      << "the hit's verify never counted a match\n"
      << proxy->stderr_text();
  EXPECT_EQ(verifies("mismatch"), 0);
  EXPECT_EQ(sim_route_count(sim_port(), route), 2) << "the fill and one verify reached the backend";

  // A write the proxy does not see: straight to the simulator's port. The entry is now stale.
  HttpResponse write =
      http(sim_port(), "PATCH", target, bearer(token), R"({"title":"changed around the proxy"})");
  ASSERT_EQ(write.status, 200) << write.describe();
  HttpResponse stale = get(target, token);
  ASSERT_EQ(x_cache(stale), "HIT") << stale.describe();
  EXPECT_EQ(stale.body, miss.body) << "the entry was served as it was stored";
  ASSERT_TRUE(poll_until([&] { return verifies("mismatch") == 1; }, deadline_in(10s)))
      << "the stale hit's verify never counted a mismatch\n"
      << proxy->stderr_text();
  EXPECT_EQ(verifies("match"), 1);
  EXPECT_EQ(sim_route_count(sim_port(), route), 3);
  // The verifies are backend requests too: the rule's upstream metrics count them with the fill.
  EXPECT_EQ(metric_sample(http(admin_port, "GET", "/metrics").body,
                          R"(openrisk_cache_upstream_requests_total{code_class="2xx",rule="risk-detail"})"),
            3);
  auto line = proxy->wait_for_log(R"(verify: rule 'risk-detail': the cached answer .* tags: .*risk:)");
  ASSERT_TRUE(line) << proxy->stderr_text();
  EXPECT_EQ(line->line.find(token), std::string::npos) << "the log line holds the credential";

  // The admin API lists it: authenticated like every /admin/* endpoint.
  EXPECT_EQ(http(admin_port, "GET", "/admin/verify").status, 401);
  HttpResponse listing = http(admin_port, "GET", "/admin/verify", bearer("verify-admin-token"));
  ASSERT_EQ(listing.status, 200) << listing.describe();
  EXPECT_EQ(listing.body.find(token), std::string::npos) << "the listing holds the credential";
  boost::system::error_code ec;
  auto doc = json::parse(listing.body, ec);
  ASSERT_FALSE(ec) << listing.body;
  const auto& mismatches = doc.at("mismatches").as_array();
  ASSERT_EQ(mismatches.size(), 1u) << listing.body;
  const auto& m = mismatches[0].as_object();
  EXPECT_EQ(m.at("rule").as_string(), "risk-detail");
  EXPECT_EQ(m.at("cached_status").to_number<int>(), 200);
  EXPECT_EQ(m.at("backend_status").to_number<int>(), 200);
  const std::string key(m.at("key").as_string());
  EXPECT_NE(key.find(":e:"), std::string::npos) << key;
  EXPECT_EQ(key.find("rule="), std::string::npos) << "the storage key (a digest), never the key material";
  bool risk_tag = false;
  for (const auto& t : m.at("tags").as_array()) {
    const std::string tag(t.at("tag").as_string());
    if (tag.find(risk) != std::string::npos && tag.rfind("risk:", 0) == 0) {
      risk_tag = true;
      EXPECT_TRUE(t.at("last_purged").is_null()) << "no write through this instance purged it";
    }
  }
  EXPECT_TRUE(risk_tag) << listing.body;
}

INSTANTIATE_TEST_SUITE_P(Storage, CacheVerifyTest,
                         ::testing::Values(Storage::memory, Storage::redis, Storage::redis_cluster),
                         storage_name);

}  // namespace
}  // namespace orc::test
