// The Sentinel pieces that need no server: the `+switch-master` payload and the master's address as a
// source that connections read (the watcher and the failovers run against real sentinels in
// integration/cache_sentinel_test.cpp).
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
