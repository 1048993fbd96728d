// Redis Cluster routing (redis/cluster.hpp): slots as Redis computes them, redirections, the slot map, and a
// ClusterPool against a real cluster of three masters and three replicas: each key on its master, a moving
// slot followed (ASK, then MOVED), and a killed master's slots failing fast until its replica takes over.
#include "redis/cluster.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <set>

#include "cache/redis_storage.hpp"
#include "redis/redis_test_util.hpp"
#include "redis/topology_stats.hpp"
#include "support/redis_server.hpp"

namespace orc::redis {
namespace {

using namespace std::chrono_literals;
using test::run_on;
using test::run_until;

RedisValue integer(long long v) {
  RedisValue out;
  out.type = RedisValue::Type::integer;
  out.integer = v;
  return out;
}
RedisValue string(std::string s) {
  RedisValue out;
  out.type = RedisValue::Type::string;
  out.str = std::move(s);
  return out;
}
RedisValue array(std::vector<RedisValue> elements) {
  RedisValue out;
  out.type = RedisValue::Type::array;
  out.elements = std::move(elements);
  return out;
}

// The Redis Cluster specification's test vector, and its hash tag rules.
TEST(ClusterSlots, Crc16AndHashTagsAsTheSpecificationSays) {
  EXPECT_EQ(key_slot("123456789"), 0x31C3 % kClusterSlots);  // CRC16/XMODEM("123456789") = 0x31C3
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));  // an empty tag: the whole key (CLUSTER KEYSLOT below)
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));  // from the first '{' to the first '}' after it
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot(""), 0);
}

TEST(ClusterSlots, RedirectionsAreParsedAndAnythingElseIsNot) {
  auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->host, "127.0.0.1");
  EXPECT_EQ(moved->port, 6381);
  auto ask = parse_redirect("ASK 0 redis-b.internal:7000");
  ASSERT_TRUE(ask);
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->host, "redis-b.internal");
  auto v6 = parse_redirect("MOVED 16383 ::1:7001");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7001);
  for (const char* bad : {"ERR unknown command", "MOVED", "MOVED 3999", "MOVED 16384 h:1", "MOVED -1 h:1",
                          "MOVED x h:1", "MOVED 1 h", "MOVED 1 h:0", "MOVED 1 h:70000", "ASK 1 h:1x"})
    EXPECT_FALSE(parse_redirect(bad)) << bad;
}

TEST(ClusterSlots, TheMapOfClusterSlots) {
  // Two ranges; the second master does not know its address ("") and is the node asked.
  auto reply =
      array({array({integer(0), integer(5460), array({string("10.0.0.1"), integer(7000), string("id1")}),
                    array({string("10.0.0.4"), integer(7003), string("id4")})}),
             array({integer(5461), integer(16383), array({string(""), integer(7001), string("id2")})})});
  auto ranges = parse_cluster_slots(reply, "10.0.0.2");
  ASSERT_TRUE(ranges);
  ASSERT_EQ(ranges->size(), 2u);
  ASSERT_EQ((*ranges)[0].replicas.size(), 1u);
  EXPECT_EQ((*ranges)[0].replicas[0], (std::pair<std::string, std::uint16_t>{"10.0.0.4", 7003}));
  EXPECT_EQ((*ranges)[0].first, 0);
  EXPECT_EQ((*ranges)[0].last, 5460);
  EXPECT_EQ((*ranges)[0].host, "10.0.0.1");
  EXPECT_EQ((*ranges)[0].port, 7000);
  EXPECT_EQ((*ranges)[1].host, "10.0.0.2");
  EXPECT_EQ((*ranges)[1].port, 7001);

  // A NULL endpoint is the node asked too; "?" (unknown) cannot be reached: its range is left out.
  RedisValue null;
  auto unknown =
      parse_cluster_slots(array({array({integer(0), integer(99), array({null, integer(7000)})}),
                                 array({integer(100), integer(16383), array({string("?"), integer(7001)})})}),
                          "10.0.0.9");
  ASSERT_TRUE(unknown);
  ASSERT_EQ(unknown->size(), 1u);
  EXPECT_EQ((*unknown)[0].host, "10.0.0.9");
  EXPECT_EQ((*unknown)[0].last, 99);

  EXPECT_FALSE(parse_cluster_slots(array({}), "h")) << "no slot served";
  EXPECT_FALSE(parse_cluster_slots(string("x"), "h"));
  EXPECT_FALSE(
      parse_cluster_slots(array({array({integer(10), integer(5), array({string("h"), integer(1)})})}), "h"))
      << "a range that ends before it starts";
  EXPECT_FALSE(parse_cluster_slots(
      array({array({integer(0), integer(16384), array({string("h"), integer(1)})})}), "h"))
      << "past the last slot";
  EXPECT_FALSE(
      parse_cluster_slots(array({array({integer(0), integer(1), array({string("h"), integer(0)})})}), "h"))
      << "port 0";
}

class ClusterPoolTest : public ::testing::Test {
 protected:
  ClusterPoolTest() : pool_(io_.get_executor(), options(), {{"127.0.0.1", cluster_.node(0).port()}}) {
    EXPECT_TRUE(run_until(io_, [&] { return pool_.up(); })) << "the cluster's masters did not come up";
  }
  static RedisOptions options() {
    RedisOptions o;
    o.command_timeout = 1s;
    o.breaker_cooldown = 100ms;
    return o;
  }
  RedisReply command(const std::string& key, std::vector<std::string> args) {
    auto r = run_on(io_, pool_.command(key, std::move(args)));
    return r ? *r : RedisReply{};
  }
  // A key that `master` serves: `stem` and the first number that puts it there.
  static std::string key_on(std::uint16_t master, const test::RedisCluster& c, const std::string& stem) {
    for (int i = 0; i < 1000; ++i) {  // (a third of the slots are each master's)
      auto k = stem + std::to_string(i);
      if (c.master_of_slot(key_slot(k)) == master) return k;
    }
    ADD_FAILURE() << "no key '" << stem << "N' on " << master;
    return stem;
  }
  std::string node_id(std::uint16_t port) {
    auto id = test::redis_bulk(port, {"CLUSTER", "MYID"});
    EXPECT_TRUE(id) << port;
    return id.value_or("");
  }

  test::RedisCluster cluster_;
  boost::asio::io_context io_;
  ClusterPool pool_;
};

// key_slot is Redis's own (CLUSTER KEYSLOT), and every key is written on its master: 300 keys, some with
// hash tags and bytes outside ASCII, from one seed.
TEST_F(ClusterPoolTest, EachKeyGoesToTheMasterOfItsSlot) {
  EXPECT_EQ(pool_.masters(), 3u);
  std::set<std::uint16_t> used;
  std::vector<std::string> keys{"foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{}", "}{", "{a"};
  for (int i = 0; i < 300; ++i) {
    std::string key = i % 3 == 0 ? "{tag" + std::to_string(i / 3) + "}:k" : "orc:e:" + std::to_string(i);
    if (i % 7 == 0) key += "\xc3\xa9\x01";
    keys.push_back(std::move(key));
  }
  for (const auto& key : keys) {
    auto slot = test::redis_command(cluster_.node(0).port(), {"CLUSTER", "KEYSLOT", key});
    ASSERT_TRUE(slot);
    EXPECT_EQ(*slot, ":" + std::to_string(key_slot(key))) << key;
    auto set = command(key, {"SET", key, "v"});
    ASSERT_TRUE(set.ok()) << key << ": " << set.value.str;
    const auto master = cluster_.master_of_slot(key_slot(key));
    used.insert(master);
    // Asked directly, the master has it (another node would answer MOVED).
    EXPECT_EQ(test::redis_command(master, {"EXISTS", key}), std::optional<std::string>(":1")) << key;
  }
  EXPECT_EQ(used.size(), 3u) << "the keys spread over every master";
}

// A slot moving from one master to another (what `redis-cli --cluster reshard` does): while it moves, a key
// not yet on the target is answered ASK by the source, and the pool asks the target (ASKING); once it has
// moved, the source answers MOVED and the pool follows it and learns the map again.
TEST_F(ClusterPoolTest, FollowsASlotThatMovesAskThenMoved) {
  const auto masters = cluster_.master_ports();
  ASSERT_EQ(masters.size(), 3u);
  const std::string old_key = "{moving}old", new_key = "{moving}new";  // a hash tag: one slot for both
  const int slot = key_slot(old_key);
  ASSERT_EQ(key_slot(new_key), slot);
  const std::uint16_t source = cluster_.master_of_slot(slot);
  const std::uint16_t target = masters[0] == source ? masters[1] : masters[0];
  ASSERT_TRUE(command(old_key, {"SET", old_key, "before"}).ok());

  const auto source_id = node_id(source), target_id = node_id(target);
  ASSERT_EQ(test::redis_command(target, {"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", source_id}),
            std::optional<std::string>("+OK"));
  ASSERT_EQ(test::redis_command(source, {"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", target_id}),
            std::optional<std::string>("+OK"));
  // A new key of the moving slot: the source says ASK; the pool writes it on the target.
  auto& stats = topology_stats();
  const auto asks = stats.cluster_ask.load(), moves = stats.cluster_moved.load();
  auto ask = command(new_key, {"SET", new_key, "during"});
  ASSERT_TRUE(ask.ok()) << ask.value.str;
  EXPECT_EQ(stats.cluster_ask.load(), asks + 1) << "counted for the metrics";
  EXPECT_EQ(stats.cluster_moved.load(), moves);
  // (The source does not have it: it sends there too.)
  EXPECT_EQ(test::redis_command(source, {"EXISTS", new_key}),
            "-ASK " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(target));
  // The old key still reads from the source.
  auto old_read = command(old_key, {"GET", old_key});
  ASSERT_TRUE(old_read.ok());
  EXPECT_EQ(old_read.value.str, "before");

  ASSERT_EQ(test::redis_command(
                source, {"MIGRATE", "127.0.0.1", std::to_string(target), "", "0", "5000", "KEYS", old_key}),
            std::optional<std::string>("+OK"));
  for (auto port : masters)
    ASSERT_EQ(test::redis_command(port, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", target_id}),
              std::optional<std::string>("+OK"));
  const auto refreshes = pool_.refreshes();
  auto moved = command(old_key, {"GET", old_key});
  ASSERT_TRUE(moved.ok()) << moved.value.str;
  EXPECT_EQ(moved.value.str, "before");
  EXPECT_EQ(stats.cluster_moved.load(), moves + 1) << "counted for the metrics";
  auto both = command(new_key, {"GET", new_key});
  ASSERT_TRUE(both.ok()) << both.value.str;
  EXPECT_EQ(both.value.str, "during");
  // Sooner than the periodic refresh (kRefreshEvery): the MOVED marked the map stale.
  EXPECT_TRUE(run_until(
      io_, [&] { return pool_.refreshes() > refreshes; }, 1s))
      << "the map was not learnt again";
}

// A master dies: its slots fail at once (never a hang, never another master's answer) while the cluster has
// no master for them, the other masters' slots keep working, and once a replica has taken over the pool
// finds it. A purge that WAITed for the replica is not lost with the master.
TEST_F(ClusterPoolTest, AKilledMastersSlotsFailFastUntilItsReplicaTakesOver) {
  cache::RedisStorage store(pool_, "orc:", 60s, cache::PurgeReplication{1, 1000ms});
  const auto masters = cluster_.master_ports();
  const std::uint16_t victim = masters[0];
  const std::string doomed = key_on(victim, cluster_, "orc:e:doomed");
  // A tag whose generation (orc:g:<tag>) the victim holds too, so that only the replica can keep the purge.
  const std::vector<std::string> tags{key_on(victim, cluster_, "orc:g:risk").substr(6)};
  auto seen = run_on(io_, store.generations(tags));
  ASSERT_TRUE(seen && seen->ok());
  auto put = run_on(io_, store.put_if_current(doomed, "v", 60s, tags, seen->value));
  ASSERT_TRUE(put && put->ok() && put->value);
  ASSERT_TRUE(run_on(io_, store.read(doomed, tags))->value.blob) << "stored";
  ASSERT_EQ(*run_on(io_, store.purge(tags)), cache::StorageStatus::ok)
      << "the replica has the purge (WAIT 1)";

  cluster_.node(cluster_.index_of_port(victim)).stop();
  const std::string elsewhere = key_on(masters[1], cluster_, "orc:e:alive");
  auto failed = command(doomed, {"GET", doomed});
  EXPECT_TRUE(failed.status == RedisStatus::unavailable || failed.status == RedisStatus::timeout)
      << to_string(failed.status) << " " << failed.value.str;
  EXPECT_TRUE(command(elsewhere, {"SET", elsewhere, "v"}).ok()) << "the other masters still serve";
  EXPECT_TRUE(run_until(
      io_, [&] { return !pool_.up(); }, 5s))
      << "a master is down";

  ASSERT_TRUE(cluster_.wait_healthy(30s)) << "no replica took over";
  EXPECT_TRUE(run_until(
      io_, [&] { return pool_.up(); }, 30s))
      << "the pool did not find the new master";
  EXPECT_EQ(pool_.masters(), 3u);
  auto after = run_on(io_, store.read(doomed, tags));
  ASSERT_TRUE(after && after->ok()) << "the promoted replica answers";
  EXPECT_FALSE(after->value.blob.has_value()) << "the purge before the failover still outdates the entry";
}

}  // namespace
}  // namespace orc::redis
