// The coalescer: one fetch per key, followers served the leader's answer, sealing by purges
// (read-after-write), refreshes that never wait, and the memory of keys found not storable, in simulated
// time.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "cache/coalescer.hpp"

namespace orc::cache {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

SharedEntry answer_entry(std::string body) {
  auto e = std::make_shared<CacheEntry>();
  e->status = 200;
  e->body = std::move(body);
  return e;
}

class CoalescerTest : public ::testing::Test {
 protected:
  // Starts a join on the context and runs what is ready: a leader's join completes at once, a follower's
  // waits for the leader (or for `wait`).
  std::shared_ptr<std::optional<Coalescer::Joined>> join(const std::string& key,
                                                         std::vector<std::string> tags,
                                                         std::chrono::milliseconds wait = 1h) {
    auto out = std::make_shared<std::optional<Coalescer::Joined>>();
    asio::co_spawn(
        ctx_,
        [this, out, key, tags = std::move(tags), wait]() -> asio::awaitable<void> {
          *out = co_await coalescer_.join(key, tags, wait);
        },
        asio::detached);
    ctx_.poll();
    return out;
  }

  util::ManualClock clock_;
  Coalescer coalescer_{clock_, 10s};
  asio::io_context ctx_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(ctx_);
};

TEST_F(CoalescerTest, FollowersAreServedTheLeadersAnswer) {
  auto a = join("k", {"t"});
  ASSERT_TRUE(a->has_value());
  ASSERT_TRUE((*a)->lead);
  EXPECT_FALSE((*a)->followed);
  auto b = join("k", {"t"});
  auto c = join("k", {"t"});
  EXPECT_FALSE(b->has_value()) << "a follower returned before the leader finished";
  EXPECT_EQ(coalescer_.open_flights(), 1u);

  auto answer = answer_entry("one fetch");
  (*a)->lead.finish(answer);
  ctx_.poll();
  for (auto* f : {&b, &c}) {
    ASSERT_TRUE((*f)->has_value());
    EXPECT_TRUE((**f)->followed);
    EXPECT_FALSE((**f)->lead);
    EXPECT_EQ((**f)->answer, answer);
  }
  EXPECT_EQ(coalescer_.open_flights(), 0u);
  EXPECT_TRUE(join("k", {"t"})->value().lead) << "a finished flight is closed: the next request leads";
}

// A request that joins once the leader has the whole response (answered()) waited only for the store: told
// so when the answer was stored, so that it is served as a hit. One that joined before waited for the
// backend; and an answer refused by the storage is nobody's hit.
TEST_F(CoalescerTest, FollowersThatJoinWhileTheAnswerIsStoredAreToldItWasStored) {
  auto a = join("k", {"t"});
  ASSERT_TRUE(a->has_value() && (*a)->lead);
  auto before = join("k", {"t"});
  (*a)->lead.answered();
  auto after = join("k", {"t"});
  auto answer = answer_entry("stored");
  (*a)->lead.finish(answer, true);
  ctx_.poll();
  ASSERT_TRUE(before->has_value() && after->has_value());
  EXPECT_EQ((*before)->answer, answer);
  EXPECT_FALSE((*before)->stored_when_joined) << "it joined while the backend was still asked";
  EXPECT_EQ((*after)->answer, answer);
  EXPECT_TRUE((*after)->stored_when_joined);

  auto c = join("k2", {"t"});
  ASSERT_TRUE(c->has_value() && (*c)->lead);
  (*c)->lead.answered();
  auto refused = join("k2", {"t"});
  (*c)->lead.finish(answer_entry("refused"));  // not stored (refused after a purge this process heard)
  ctx_.poll();
  ASSERT_TRUE(refused->has_value());
  ASSERT_TRUE((*refused)->answer);
  EXPECT_FALSE((*refused)->stored_when_joined) << "an answer the storage refused was served as stored";
}

TEST_F(CoalescerTest, KeysDoNotShareFlights) {
  auto a = join("k1", {"t"});
  auto b = join("k2", {"t"});
  ASSERT_TRUE(a->has_value() && b->has_value());
  EXPECT_TRUE((*a)->lead);
  EXPECT_TRUE((*b)->lead);
}

TEST_F(CoalescerTest, APurgeSealsTheFlightOnlyForRequestsAfterIt) {
  auto a = join("k", {"risk:1", "risks"});
  auto before = join("k", {"risk:1", "risks"});
  ASSERT_FALSE(before->has_value());
  EXPECT_FALSE((*a)->lead.sealed());

  coalescer_.seal({"risks"});  // a write's purge, applied while the fetch is in flight
  EXPECT_TRUE((*a)->lead.sealed());
  auto after = join("k", {"risk:1", "risks"});
  ASSERT_TRUE(after->has_value()) << "a request after the purge waited for the fetch from before it";
  EXPECT_TRUE((*after)->lead) << "it leads a flight of its own";
  EXPECT_FALSE((*after)->lead.sealed());

  auto pre_write = answer_entry("pre-write");
  (*a)->lead.finish(pre_write);
  ctx_.poll();
  ASSERT_TRUE(before->has_value());
  EXPECT_EQ((*before)->answer, pre_write) << "a follower that joined before the purge overlapped the write";

  // The new flight is not closed by the old one ending: a request now follows it.
  auto later = join("k", {"risk:1", "risks"});
  EXPECT_FALSE(later->has_value());
  auto post_write = answer_entry("post-write");
  (*after)->lead.finish(post_write);
  ctx_.poll();
  ASSERT_TRUE(later->has_value());
  EXPECT_EQ((*later)->answer, post_write);
}

TEST_F(CoalescerTest, APurgeOfOtherTagsLeavesTheFlightOpen) {
  auto a = join("k", {"risk:1"});
  coalescer_.seal({"risk:2", "assets"});
  EXPECT_FALSE((*a)->lead.sealed());
  auto b = join("k", {"risk:1"});
  EXPECT_FALSE(b->has_value()) << "it should follow the unsealed flight";
  (*a)->lead.finish(answer_entry("x"));
  ctx_.poll();
  ASSERT_TRUE(b->has_value());
  EXPECT_TRUE((*b)->answer);
}

TEST_F(CoalescerTest, ARefreshLeadsOnlyWhenNoFlightIsOpenAndNeverWaits) {
  auto refresh = coalescer_.try_lead("k", {"t"});
  ASSERT_TRUE(refresh.has_value());
  EXPECT_FALSE(coalescer_.try_lead("k", {"t"}).has_value()) << "a second refresh of the same key";
  // A miss meanwhile follows the refresh's flight and is served its answer.
  auto miss = join("k", {"t"});
  EXPECT_FALSE(miss->has_value());
  auto answer = answer_entry("refreshed");
  refresh->finish(answer);
  ctx_.poll();
  ASSERT_TRUE(miss->has_value());
  EXPECT_EQ((*miss)->answer, answer);
  EXPECT_TRUE(coalescer_.try_lead("k", {"t"}).has_value());
}

TEST_F(CoalescerTest, NotStorableReleasesFollowersAndIsRememberedForAWhile) {
  auto a = join("k", {"t"});
  auto b = join("k", {"t"});
  (*a)->lead.finish(nullptr);
  ctx_.poll();
  ASSERT_TRUE(b->has_value());
  EXPECT_FALSE((*b)->answer) << "no answer: the follower fetches on its own";
  EXPECT_TRUE(coalescer_.recently_not_storable("k"));
  EXPECT_FALSE(coalescer_.recently_not_storable("other"));
  clock_.advance(9999ms);
  EXPECT_TRUE(coalescer_.recently_not_storable("k"));
  clock_.advance(1ms);
  EXPECT_FALSE(coalescer_.recently_not_storable("k")) << "remembered past its memory";
}

TEST_F(CoalescerTest, AbandonedOrDroppedLeadsReleaseFollowersWithoutMarkingTheKey) {
  auto a = join("k", {"t"});
  auto b = join("k", {"t"});
  (*a)->lead.abandon();
  ctx_.poll();
  ASSERT_TRUE(b->has_value());
  EXPECT_FALSE((*b)->answer);
  EXPECT_FALSE(coalescer_.recently_not_storable("k"));

  auto c = join("k", {"t"});
  auto d = join("k", {"t"});
  (*c)->lead = Coalescer::Lead();  // a leader's frame unwinding (an error, a cancellation)
  ctx_.poll();
  ASSERT_TRUE(d->has_value());
  EXPECT_FALSE((*d)->answer);
  EXPECT_EQ(coalescer_.open_flights(), 0u);
}

TEST_F(CoalescerTest, AFollowerStopsWaitingAfterItsBound) {
  auto a = join("k", {"t"});
  auto b = join("k", {"t"}, 1ms);
  while (!b->has_value()) ctx_.run_one();  // the bound is an Asio timer (real time)
  EXPECT_TRUE((*b)->followed);
  EXPECT_FALSE((*b)->answer);
  // The leader finishing later changes nothing for the follower that gave up, and ends the flight.
  (*a)->lead.finish(answer_entry("late"));
  ctx_.poll();
  EXPECT_FALSE((*b)->answer);
  EXPECT_EQ(coalescer_.open_flights(), 0u);
}

TEST_F(CoalescerTest, FlightsOnSeveralThreadsShareOneAnswer) {
  auto a = join("k", {"t"});
  asio::io_context other;
  std::optional<Coalescer::Joined> b;
  const std::vector<std::string> tags = {"t"};
  asio::co_spawn(
      other, [&]() -> asio::awaitable<void> { b = co_await coalescer_.join("k", tags, 1h); }, asio::detached);
  other.poll();  // registered as a follower on the other context
  ASSERT_FALSE(b.has_value());
  auto answer = answer_entry("shared");
  std::thread leader([&] { (*a)->lead.finish(answer); });
  leader.join();
  other.run();  // the leader posted the answer to the follower's context
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->answer, answer);
}

}  // namespace
}  // namespace orc::cache
