#include "redis/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace orc::redis {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  CircuitBreaker::Clock fn() {
    return [this] { return now; };
  }
};

TEST(RedisCircuitBreaker, OpensAfterConsecutiveFailuresOnly) {
  FakeClock clock;
  CircuitBreaker b(3, 1s, 10s, clock.fn());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.allow());
    b.record(false);
  }
  ASSERT_TRUE(b.allow());
  b.record(true);  // a success resets the count
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.allow());
    b.record(false);
  }
  EXPECT_EQ(b.state(), CircuitBreaker::State::closed);
  ASSERT_TRUE(b.allow());
  b.record(false);
  EXPECT_EQ(b.state(), CircuitBreaker::State::open);
  EXPECT_EQ(b.opens(), 1u);
  EXPECT_FALSE(b.allow());
}

TEST(RedisCircuitBreaker, LetsOneProbeThroughAfterTheCooldown) {
  FakeClock clock;
  CircuitBreaker b(1, 1s, 10s, clock.fn());
  ASSERT_TRUE(b.allow());
  b.record(false);
  clock.now += 999ms;
  EXPECT_FALSE(b.allow());
  clock.now += 1ms;
  EXPECT_EQ(b.state(), CircuitBreaker::State::half_open);
  EXPECT_TRUE(b.allow());   // the probe
  EXPECT_FALSE(b.allow());  // nobody else while it is in flight
  b.record(true);
  EXPECT_EQ(b.state(), CircuitBreaker::State::closed);
  EXPECT_TRUE(b.allow());
}

TEST(RedisCircuitBreaker, FailedProbesDoubleTheCooldownUpToTheMaximum) {
  FakeClock clock;
  CircuitBreaker b(1, 1s, 3s, clock.fn());
  ASSERT_TRUE(b.allow());
  b.record(false);  // open for 1 s
  for (auto expected : {2s, 3s, 3s}) {
    clock.now += 10s;
    ASSERT_TRUE(b.allow());
    b.record(false);  // probe failed: open for `expected`
    clock.now += expected - 1ms;
    EXPECT_FALSE(b.allow());
    clock.now += 1ms;
    EXPECT_EQ(b.state(), CircuitBreaker::State::half_open);
  }
  ASSERT_TRUE(b.allow());
  b.record(true);
  ASSERT_TRUE(b.allow());
  b.record(false);  // after a success the cool-down starts small again
  clock.now += 1s;
  EXPECT_TRUE(b.allow());
}

// Redis down: the probe finds no connection to send on. The cool-down stays where it was, so once a
// connection is back the next probe is at most one short cool-down away (it was 10 s after a long outage).
TEST(RedisCircuitBreaker, AProbeWithoutAConnectionDoesNotLengthenTheCooldown) {
  FakeClock clock;
  CircuitBreaker b(2, 1s, 10s, clock.fn());
  ASSERT_TRUE(b.allow());
  b.record_no_connection();
  EXPECT_EQ(b.state(), CircuitBreaker::State::closed) << "closed, it counts as a failure";
  ASSERT_TRUE(b.allow());
  b.record_no_connection();
  ASSERT_EQ(b.state(), CircuitBreaker::State::open);
  for (int i = 0; i < 5; ++i) {
    clock.now += 1s;
    ASSERT_TRUE(b.allow()) << "probe " << i;
    b.record_no_connection();
    EXPECT_EQ(b.opens(), 2u + i);
  }
  clock.now += 999ms;
  EXPECT_FALSE(b.allow());
  clock.now += 1ms;
  ASSERT_TRUE(b.allow());
  b.record(false);  // a connection, and no answer in time: that doubles it
  clock.now += 1s;
  EXPECT_FALSE(b.allow());
  clock.now += 1s;
  EXPECT_TRUE(b.allow());
}

TEST(RedisCircuitBreaker, FailuresReportedWhileOpenAreIgnored) {
  FakeClock clock;
  CircuitBreaker b(2, 1s, 10s, clock.fn());
  ASSERT_TRUE(b.allow());
  ASSERT_TRUE(b.allow());
  ASSERT_TRUE(b.allow());
  b.record(false);
  b.record(false);  // opens
  b.record(false);  // sent before it opened
  EXPECT_EQ(b.opens(), 1u);
  clock.now += 1s;
  EXPECT_TRUE(b.allow());
}

}  // namespace
}  // namespace orc::redis
