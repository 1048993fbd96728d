// Unit tests for cache/pending_purges: what is owed, one replay at a time, and failures during a replay.
#include "cache/pending_purges.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace orc::cache {
namespace {

TEST(PendingPurges, OwesTheTagsOfAFailedPurgeUntilAReplaySettlesThem) {
  std::vector<std::size_t> sizes;
  PendingPurges owed([&](std::size_t n) { sizes.push_back(n); });
  EXPECT_TRUE(owed.empty());
  EXPECT_FALSE(owed.any({"risks:t1"}));

  owed.add({"risks:t1", "uri:/r/1"});
  EXPECT_EQ(owed.size(), 2u);
  EXPECT_TRUE(owed.any({"stats:t1", "risks:t1"}));
  EXPECT_FALSE(owed.any({"risks:t2"}));

  auto batch = owed.claim({});
  ASSERT_EQ(batch.tags.size(), 2u);
  owed.settle(batch);
  EXPECT_TRUE(owed.empty());
  EXPECT_FALSE(owed.any({"risks:t1"}));
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 0}));
}

// A failed replay is retried after kRetryWaitMs, not by the next request: a Redis that answers every purge
// with an error (maxmemory with noeviction) got one EVAL per request (a probe counted 330 a second).
TEST(PendingPurges, OneReplayAtATimeAndAReleasedClaimKeepsEverythingOwed) {
  using std::chrono::milliseconds;
  const PendingPurges::TimePoint t0{std::chrono::seconds(1)};
  const auto failed_at = t0 + milliseconds(10);
  PendingPurges owed;
  EXPECT_TRUE(owed.claim(t0).tags.empty()) << "nothing owed, nothing to claim";
  owed.add({"a"});
  auto first = owed.claim(t0);
  ASSERT_EQ(first.tags.size(), 1u);
  EXPECT_TRUE(owed.claim(t0).tags.empty()) << "a second replay while one runs";
  owed.release(failed_at);  // the replay's purge failed
  EXPECT_TRUE(owed.any({"a"}));
  EXPECT_TRUE(owed.claim(failed_at + PendingPurges::kRetryWait - milliseconds(1)).tags.empty())
      << "too soon after a failure";
  auto again = owed.claim(failed_at + PendingPurges::kRetryWait);
  EXPECT_EQ(again.tags, first.tags);
  owed.settle(again);
  EXPECT_TRUE(owed.empty());
  owed.add({"b"});
  EXPECT_EQ(owed.claim(failed_at + PendingPurges::kRetryWait).tags.size(), 1u)
      << "a success waits for nothing";
}

TEST(PendingPurges, AFailureDuringAReplayStaysOwed) {
  PendingPurges owed;
  owed.add({"a", "b"});
  auto batch = owed.claim({});
  owed.add({"b", "c"});  // another write's purge failed while the replay ran
  owed.settle(batch);
  EXPECT_FALSE(owed.any({"a"}));
  EXPECT_TRUE(owed.any({"b"})) << "its newer failure is not covered by the replay's purge";
  EXPECT_TRUE(owed.any({"c"}));
  EXPECT_EQ(owed.size(), 2u);
}

}  // namespace
}  // namespace orc::cache
