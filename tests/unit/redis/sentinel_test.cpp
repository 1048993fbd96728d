// The Sentinel pieces: the `+switch-master` payload, the master's address as a source that connections read,
// the reconnect backoff the watcher shares with the purge listener, and whose announcement the watcher takes
// (the failovers run against real sentinels in integration/cache_sentinel_test.cpp).
#include "redis/sentinel.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <thread>

#include "redis/redis_test_util.hpp"
#include "support/redis_server.hpp"

namespace orc::redis {
namespace {

TEST(Sentinel, SwitchMasterNamesTheNewAddressOfItsMasterOnly) {
  auto moved = parse_switch_master("orc-master 10.0.0.1 6379 10.0.0.2 6380", "orc-master");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->to, (MasterAddress{"10.0.0.2", 6380}));
  EXPECT_EQ(moved->from, (MasterAddress{"10.0.0.1", 6379}));
  EXPECT_FALSE(parse_switch_master("other 10.0.0.1 6379 10.0.0.2 6380", "orc-master")) << "another master";
  EXPECT_FALSE(parse_switch_master("orc-master-2 10.0.0.1 6379 10.0.0.2 6380", "orc-master"));
  for (const char* bad :
       {"", "orc-master", "orc-master 10.0.0.1 6379 10.0.0.2", "orc-master a 1 b 0", "orc-master a 1 b 65536",
        "orc-master a 1 b 63x", "orc-master a 1  6380", "orc-master a 1 b 6380 extra"})
    EXPECT_FALSE(parse_switch_master(bad, "orc-master")) << bad;
}

// The waits of the purge listener's and the Sentinel watcher's reconnects, from how long each session lasted.
TEST(ReconnectBackoff, DoublesWhileSessionsFailAndStartsOverAfterOneThatLasted) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  sync::ReconnectBackoff b(milliseconds(300));
  EXPECT_EQ(b.after(milliseconds(2)), milliseconds(50));
  EXPECT_EQ(b.after(milliseconds(2)), milliseconds(100));
  EXPECT_EQ(b.after(milliseconds(2)), milliseconds(200));
  EXPECT_EQ(b.after(milliseconds(2)), milliseconds(300)) << "capped at the maximum";
  EXPECT_EQ(b.after(seconds(9)), milliseconds(300)) << "a short session is the same outage";
  EXPECT_EQ(b.after(seconds(10)), milliseconds(50)) << "a session that lasted: a new outage starts over";
  EXPECT_EQ(b.after(milliseconds(2)), milliseconds(100));
  sync::ReconnectBackoff tiny(milliseconds(10));
  EXPECT_EQ(tiny.after(milliseconds(0)), milliseconds(10)) << "a maximum under 50 ms caps the first wait too";
  EXPECT_EQ(tiny.after(milliseconds(0)), milliseconds(10));
}

TEST(Sentinel, AMasterSourceCountsItsChanges) {
  MasterSource source;
  EXPECT_FALSE(source.current());
  EXPECT_EQ(source.version(), 0u);
  EXPECT_TRUE(source.set({"10.0.0.1", 6379}));
  EXPECT_EQ(source.version(), 1u);
  EXPECT_FALSE(source.set({"10.0.0.1", 6379})) << "the same address is no change";
  EXPECT_EQ(source.version(), 1u);
  EXPECT_TRUE(source.set({"10.0.0.2", 6379}));
  EXPECT_EQ(source.version(), 2u);
  EXPECT_EQ(source.current(), (MasterAddress{"10.0.0.2", 6379}));
}

// The sentinel that led a failover announces it last (once every replica follows the new master, or after
// `failover-timeout`): a scale-out probe saw the proxy purge the former master for 5 s after the other
// sentinels had announced the switch. The watcher listens to every sentinel and takes the first announcement
// of a move away from the master in use, here from the second node (a plain Redis, on which the test
// publishes what a sentinel would), while it asks and listens to the first (a real sentinel, which announces
// nothing).
TEST(SentinelWatcher, TakesTheFirstSwitchAnnouncedByAnySentinel) {
  test::RedisServer master;
  auto sentinel = test::RedisServer::sentinel("orc-master", master.port(), 1, std::chrono::seconds(30));
  test::RedisServer other;
  auto source = std::make_shared<MasterSource>();
  SentinelWatcher::Options options;
  options.master = "orc-master";
  options.nodes = {{"127.0.0.1", sentinel->port()}, {"127.0.0.1", other.port()}};
  SentinelWatcher watcher(options, source);
  ASSERT_TRUE(watcher.ask_once());
  ASSERT_EQ(source->current(), (MasterAddress{"127.0.0.1", master.port()}));
  watcher.start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto until = [&](const std::function<bool()>& done) {
    while (!done() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a poll of state, bounded by `deadline`
    return done();
  };
  // Subscribed once a message reaches one receiver (one that is about no master, which it ignores).
  ASSERT_TRUE(until([&] {
    return test::redis_command(other.port(), {"PUBLISH", "+switch-master", "hello"}) ==
           std::optional<std::string>(":1");
  }));
  // A sentinel late with an older failover (from an address no longer in use) is passed over; the move away
  // from the master in use is taken.
  const std::string stale = "orc-master 127.0.0.1 7002 127.0.0.1 7003";
  ASSERT_EQ(test::redis_command(other.port(), {"PUBLISH", "+switch-master", stale}), ":1");
  const std::string payload = "orc-master 127.0.0.1 " + std::to_string(master.port()) + " 127.0.0.1 7001";
  ASSERT_EQ(test::redis_command(other.port(), {"PUBLISH", "+switch-master", payload}), ":1");
  EXPECT_TRUE(until([&] { return source->current() == MasterAddress{"127.0.0.1", 7001}; }));
  EXPECT_EQ(source->version(), 2u) << "one move: the stale announcement was not taken";
  watcher.stop();
}

}  // namespace
}  // namespace orc::redis
