// Redis Cluster (issue 18, part 2), with real processes: three masters and three replicas (redis-server
// --cluster-enabled, joined by redis-cli --cluster create), each on a free loopback port. The daemon is
// given one seed node: it learns the slot map, caches across the masters, keeps its L1 in step through a
// purge published on any node, and follows a master's death under load without a failed client request
// (the cache fails open meanwhile), with hits back once the cluster is whole and never a pre-write answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cache_fixture.hpp"
#include "support/daemon_process.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

class CacheClusterTest : public CacheTest {
 protected:
  void SetUp() override {
    ASSERT_NO_THROW(start_sim());
    ASSERT_NO_THROW(cluster_ = std::make_unique<RedisCluster>());
    token_ = sim_login(sim_port(), "admin@acme.test");
    detail_ = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(0);
  }

  // The redis section names one seed node and no URL (a Cluster has database 0 only).
  std::string yaml() const {
    std::string out = config_yaml(kSimRules, false);
    const std::string cache = "cache: { key_secret: test-secret";
    out.replace(out.find(cache), cache.size(), cache + ", l1_budget: 8MiB");
    out += "redis: { key_prefix: \"orc-test:\", command_timeout: 200ms, cluster: [\"127.0.0.1:" +
           std::to_string(cluster_->node(1).port()) + "\"] }\n";
    return out;
  }

  // The master holding most keys: the test's entries and generations are on it, or some of them are.
  std::uint16_t busiest_master() const {
    std::uint16_t best = 0;
    long long most = -1;
    for (auto port : cluster_->master_ports()) {
      auto size = redis_command(port, {"DBSIZE"});
      const long long n = size && size->size() > 1 ? std::stoll(size->substr(1)) : 0;
      if (n > most) most = n, best = port;
    }
    return best;
  }

  std::unique_ptr<RedisCluster> cluster_;
  std::string token_;
  std::string detail_;
};

// Entries and generations spread over the masters; a write through one instance purges what another
// cached, its L1 included (the purge is published on the generation's master and reaches the listener
// subscribed on another node).
TEST_F(CacheClusterTest, CachesAcrossTheMastersAndPurgesEveryInstance) {
  const std::string config = yaml();
  DaemonProcess* a = start_proxy(config);
  ASSERT_NE(a, nullptr);
  DaemonProcess* b = start_proxy(config);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(
      a->wait_for_log("redis cluster: the masters are 127\\.0\\.0\\.1:[0-9]+, 127\\.0\\.0\\.1:[0-9]+, "
                      "127\\.0\\.0\\.1:[0-9]+"))
      << a->stderr_text();
  EXPECT_TRUE(
      poll_until([&] { return metric_of(*b, "openrisk_cache_l1_up").value_or(-1) == 1; }, deadline_in(10s)));
  // The map's masters, and the maps learnt; no redirection yet (nothing moved), no Sentinel series.
  EXPECT_EQ(metric_of(*a, "openrisk_cache_redis_cluster_masters"), 3.0);
  EXPECT_GE(metric_of(*a, "openrisk_cache_redis_cluster_map_refreshes_total{outcome=\"ok\"}").value_or(0),
            1.0);
  EXPECT_EQ(metric_of(*a, "openrisk_cache_redis_cluster_redirects_total{kind=\"moved\"}"), 0.0);
  EXPECT_EQ(metric_of(*a, "openrisk_cache_redis_sentinel_failovers_total"), std::nullopt);

  const std::string list = "/api/v1/risks?limit=4";
  for (const auto& target : {detail_, list}) {
    ASSERT_EQ(x_cache(get(target, token_, 1)), "MISS") << target;
    EXPECT_EQ(x_cache(get(target, token_, 1)), "HIT") << target;
    EXPECT_EQ(x_cache(get(target, token_, 0)), "HIT") << target << ": the other instance shares the cluster";
  }
  std::size_t holding = 0;
  for (auto port : cluster_->master_ports()) {
    auto size = redis_command(port, {"DBSIZE"});
    if (size && *size != ":0") ++holding;
  }
  EXPECT_GE(holding, 2u) << "the keys lie on more than one master";

  HttpResponse write = through(0, "PATCH", detail_, bearer(token_), R"({"title":"written-on-a"})");
  ASSERT_EQ(write.status, 200) << write.describe();
  // Instance B's L1 hears of it through the cluster bus, within the pub/sub delay (docs/caching.md).
  for (const auto& target : {detail_, list}) {
    HttpResponse read;
    EXPECT_TRUE(poll_until(
        [&] {
          read = get(target, token_, 1);
          return read.body.find("written-on-a") != std::string::npos;
        },
        deadline_in(5s)))
        << target << "\n"
        << read.describe();
    EXPECT_NE(x_cache(read), "HIT") << target << ": refilled after the purge\n" << read.describe();
  }
}

// A master dies under load (SIGKILL). No client request fails: its slots fail open until the cluster
// promotes its replica. A write made meanwhile is never followed by its pre-write answer; when the dead
// node comes back (as the new master's replica, which the purges wait for) hits return and writes purge.
TEST_F(CacheClusterTest, FollowsTheFailoverWhenAMasterDies) {
  DaemonProcess* proxy = start_proxy(yaml());
  ASSERT_NE(proxy, nullptr);
  ASSERT_EQ(x_cache(get(detail_, token_)), "MISS");
  HttpResponse hit = get(detail_, token_);
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();

  const std::uint16_t victim = busiest_master();
  RedisServer& dead = cluster_->node(cluster_->index_of_port(victim));
  check_failover(
      *proxy, token_, detail_, [&] { dead.stop(); },
      [&] {
        ASSERT_TRUE(cluster_->wait_healthy(30s)) << "no replica took over";
        const auto masters = cluster_->master_ports();
        EXPECT_EQ(std::count(masters.begin(), masters.end(), victim), 0);
        // The daemon logs its map's masters when they change, in name order.
        std::vector<std::string> names;
        for (auto port : masters) names.push_back("127\\.0\\.0\\.1:" + std::to_string(port));
        std::sort(names.begin(), names.end());
        std::string now_masters;
        for (const auto& n : names) now_masters += (now_masters.empty() ? "" : ", ") + n;
        EXPECT_TRUE(proxy->wait_for_log("redis cluster: the masters are " + now_masters, deadline_in(30s)))
            << proxy->stderr_text();
        ASSERT_NO_THROW(dead.start());  // back as a replica of the promoted one, which the purges wait for
        EXPECT_TRUE(cluster_->wait_healthy(30s));
      });
}

}  // namespace
}  // namespace orc::test
