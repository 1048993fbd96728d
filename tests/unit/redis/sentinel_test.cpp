// The Sentinel pieces that need no server: the `+switch-master` payload, the master's address as a source
// that connections read, and the reconnect backoff the watcher shares with the purge listener (the watcher
// and the failovers run against real sentinels in integration/cache_sentinel_test.cpp).
#include "redis/sentinel.hpp"

#include <gtest/gtest.h>

namespace orc::redis {
namespace {

TEST(Sentinel, SwitchMasterNamesTheNewAddressOfItsMasterOnly) {
  auto moved = parse_switch_master("orc-master 10.0.0.1 6379 10.0.0.2 6380", "orc-master");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->host, "10.0.0.2");
  EXPECT_EQ(moved->port, 6380);
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

}  // namespace
}  // namespace orc::redis
