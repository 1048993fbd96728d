// Redis behind Sentinel (issue 18, part 3), with real processes: a master, its replica and three sentinels
// (redis-server --sentinel), each on a free loopback port. The daemon is given only the sentinels: it finds
// the master through them, follows a failover under load without a failed client request (the cache fails
// open meanwhile), serves hits again from the promoted replica, and never a pre-write answer across it.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "cache_fixture.hpp"
#include "support/daemon_process.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kMaster = "orc-master";

class CacheSentinelTest : public CacheTest {
 protected:
  void SetUp() override {
    ASSERT_NO_THROW(start_sim());
    ASSERT_NO_THROW(start_redis());  // the master (redis_)
    // Two replicas: after a failover the new master still has one, which every purge waits for
    // (redis.sentinel.wait_replicas: 1). The sentinels prefer replica_ (the lower replica-priority), but
    // pass over a replica whose last report they find too old (a slow sanitizer build): either may win.
    const std::string master_port = std::to_string(redis_->port());
    ASSERT_NO_THROW(replica_ = std::make_unique<RedisServer>(std::vector<std::string>{
                        "--replicaof", "127.0.0.1", master_port, "--replica-priority", "10"}));
    ASSERT_NO_THROW(spare_ = std::make_unique<RedisServer>(std::vector<std::string>{
                        "--replicaof", "127.0.0.1", master_port, "--replica-priority", "50"}));
    for (int i = 0; i < 3; ++i)
      ASSERT_NO_THROW(sentinels_.push_back(RedisServer::sentinel(kMaster, redis_->port(), 2, 500ms)));
    token_ = sim_login(sim_port(), "admin@acme.test");
    detail_ = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(0);
  }

  // The daemon's configuration: the redis section names no server, only the sentinels.
  std::string yaml() const {
    std::string out = config_yaml(kSimRules, true);
    const std::string url = "\"" + redis_->url() + "/0\"";
    std::string nodes;
    for (const auto& s : sentinels_)
      nodes += (nodes.empty() ? "" : ", ") + ("127.0.0.1:" + std::to_string(s->port()));
    out.replace(out.find(url), url.size(),
                "\"redis://127.0.0.1:1/0\", sentinel: { master: " + std::string(kMaster) + ", nodes: [" +
                    nodes + "] }");
    return out;
  }

  void follows(const std::function<void()>& failover);

  std::unique_ptr<RedisServer> replica_, spare_;
  std::vector<std::unique_ptr<RedisServer>> sentinels_;
  std::string token_;
  std::string detail_;
};

// Starts the daemon, primes an entry, then runs `failover` under load (check_failover) until the daemon
// names a replica as the master (the one the sentinels chose).
void CacheSentinelTest::follows(const std::function<void()>& failover) {
  const std::string config = yaml();
  ASSERT_NE(config.find("sentinel: { master: orc-master"), std::string::npos) << config;
  DaemonProcess* proxy = start_proxy(config);
  ASSERT_NE(proxy, nullptr);
  EXPECT_TRUE(proxy->wait_for_log(
      "redis sentinel 127\\.0\\.0\\.1:[0-9]+: master 'orc-master' is at 127\\.0\\.0\\.1:" +
      std::to_string(redis_->port())))
      << proxy->stderr_text();
  ASSERT_EQ(x_cache(get(detail_, token_)), "MISS");
  HttpResponse hit = get(detail_, token_);
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();
  // The first address the sentinels give is not a failover; the Cluster's series are not exported.
  EXPECT_EQ(metric_of(*proxy, "openrisk_cache_redis_sentinel_failovers_total"), 0.0);
  EXPECT_EQ(metric_of(*proxy, "openrisk_cache_redis_cluster_masters"), std::nullopt);

  check_failover(*proxy, token_, detail_, failover, [&] {
    EXPECT_TRUE(proxy->wait_for_log("master 'orc-master' failed over to 127\\.0\\.0\\.1:(" +
                                        std::to_string(replica_->port()) + "|" +
                                        std::to_string(spare_->port()) + ")",
                                    deadline_in(60s)))
        << proxy->stderr_text();
    EXPECT_GE(metric_of(*proxy, "openrisk_cache_redis_sentinel_failovers_total").value_or(0), 1.0);
  });
}

// The master dies (SIGKILL): the sentinels promote the replica once it is down for 500 ms.
TEST_F(CacheSentinelTest, FollowsTheFailoverWhenTheMasterDies) {
  follows([&] { redis_->stop(); });
}

// An operator's failover: the master lives on as a replica of the new one. Connections made to it before
// drop and connect to the new master; none reads from the former one.
TEST_F(CacheSentinelTest, FollowsAFailoverTheOperatorAsksFor) {
  follows([&] {
    auto ok = redis_command(sentinels_.front()->port(), {"SENTINEL", "FAILOVER", kMaster});
    ASSERT_TRUE(ok.has_value());
    ASSERT_EQ(*ok, "+OK");
  });
  // The sentinels turn the former master into a replica (ROLE answers 5 elements then, a master's 3).
  EXPECT_TRUE(
      poll_until([&] { return redis_command(redis_->port(), {"ROLE"}) == std::optional<std::string>("*5"); },
                 deadline_in(60s)));
  // Reads and writes go to the new master only: a write purges there, and the next read is not a hit.
  HttpResponse write =
      through(0, "PATCH", detail_, bearer(token_), R"({"title":"after-the-former-master-replicates"})");
  ASSERT_EQ(write.status, 200) << write.describe();
  HttpResponse read = get(detail_, token_);
  EXPECT_NE(x_cache(read), "HIT") << read.describe();
  EXPECT_NE(read.body.find("after-the-former-master-replicates"), std::string::npos) << read.describe();
}

}  // namespace
}  // namespace orc::test
