// Verify mode's bookkeeping (cache/verify.hpp) without a socket: the sampler with a scripted random source,
// the token bucket on a util::ManualClock, the concurrency cap, one verify in flight per key, the pause after
// a backend 5xx, the tags' last purge times, the body comparison and the kept mismatches.
#include "cache/verify.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace orc::cache {
namespace {

using namespace std::chrono_literals;

// A random source that returns the values it was given, then 0.
struct Script {
  std::shared_ptr<std::deque<double>> values = std::make_shared<std::deque<double>>();
  Verifier::Random source() const {
    return [v = values] {
      if (v->empty()) return 0.0;
      const double x = v->front();
      v->pop_front();
      return x;
    };
  }
};

config::VerifyConfig settings(double sample, double per_second = 1000, std::uint32_t concurrency = 100,
                              std::uint32_t keep = 50) {
  config::VerifyConfig c;
  c.sample = sample;
  c.max_per_second = per_second;
  c.concurrency = concurrency;
  c.keep = keep;
  return c;
}

class VerifierTest : public ::testing::Test {
 protected:
  std::shared_ptr<Verifier> make(const config::VerifyConfig& cfg) {
    auto v = std::make_shared<Verifier>(clock_, script_.source(), 3);
    v->configure(cfg);
    return v;
  }
  util::ManualClock clock_;
  Script script_;
};

TEST_F(VerifierTest, OffByDefaultAndWhenTheSampleIsZero) {
  auto v = std::make_shared<Verifier>(clock_, script_.source());
  EXPECT_FALSE(v->enabled()) << "cache.verify is off unless a sample is configured";
  auto d = v->sample("k");
  EXPECT_FALSE(d.ticket);
  EXPECT_FALSE(d.skipped);
  v->configure(settings(0.25));
  EXPECT_TRUE(v->enabled());
  v->configure(settings(0));
  EXPECT_FALSE(v->enabled());
}

TEST_F(VerifierTest, SamplesTheConfiguredFractionOfHits) {
  auto v = make(settings(0.25));
  *script_.values = {0.3, 0.25, 0.2, 0.0, 0.9999};
  std::vector<bool> chosen;
  for (int i = 0; i < 5; ++i) {
    auto d = v->sample("k" + std::to_string(i));
    EXPECT_FALSE(d.skipped);
    chosen.push_back(d.ticket.has_value());
  }
  EXPECT_EQ(chosen, (std::vector<bool>{false, false, true, true, false}))
      << "a draw below the sample is verified";
}

TEST_F(VerifierTest, TheRateLimitIsATokenBucketOnTheClock) {
  auto v = make(settings(1, 2));  // 2 per second, a burst of 2
  std::vector<Verifier::Ticket> held;
  for (int i = 0; i < 2; ++i) {
    auto d = v->sample("k" + std::to_string(i));
    ASSERT_TRUE(d.ticket) << i;
    held.push_back(std::move(*d.ticket));
  }
  held.clear();  // finished: the concurrency is free, the tokens are not
  auto third = v->sample("k2");
  EXPECT_FALSE(third.ticket);
  EXPECT_EQ(third.skipped, VerifySkip::rate_limit);
  clock_.advance(499ms);
  EXPECT_EQ(v->sample("k3").skipped, VerifySkip::rate_limit) << "half a token is not a token";
  clock_.advance(1ms);
  EXPECT_TRUE(v->sample("k4").ticket) << "500 ms at 2/s earn one token";
  clock_.advance(10s);
  EXPECT_TRUE(v->sample("k5").ticket);
  EXPECT_TRUE(v->sample("k6").ticket);
  EXPECT_EQ(v->sample("k7").skipped, VerifySkip::rate_limit)
      << "the bucket holds one second's worth, not ten";
}

TEST_F(VerifierTest, ConcurrencyIsCappedAndTicketsFreeTheirSlot) {
  auto v = make(settings(1, 1000, 2));
  auto a = v->sample("a");
  auto b = v->sample("b");
  ASSERT_TRUE(a.ticket && b.ticket);
  EXPECT_EQ(v->in_flight(), 2u);
  auto c = v->sample("c");
  EXPECT_FALSE(c.ticket);
  EXPECT_EQ(c.skipped, VerifySkip::concurrency);
  a.ticket.reset();
  EXPECT_EQ(v->in_flight(), 1u);
  EXPECT_TRUE(v->sample("c").ticket);
}

TEST_F(VerifierTest, OneVerifyInFlightPerKey) {
  auto v = make(settings(1));
  auto first = v->sample("k");
  ASSERT_TRUE(first.ticket);
  auto again = v->sample("k");
  EXPECT_FALSE(again.ticket);
  EXPECT_EQ(again.skipped, VerifySkip::in_flight);
  EXPECT_TRUE(v->sample("other").ticket);
  auto moved = std::move(*first.ticket);  // a moved ticket keeps the key until it is destroyed
  first.ticket.reset();
  EXPECT_EQ(v->sample("k").skipped, VerifySkip::in_flight);
  { auto gone = std::move(moved); }
  EXPECT_TRUE(v->sample("k").ticket);
}

TEST_F(VerifierTest, ABackend5xxOrFailurePausesVerifiesForAWhile) {
  auto v = make(settings(1));
  v->backend_answered(200);
  v->backend_answered(404);
  EXPECT_FALSE(v->degraded());
  v->backend_answered(503);
  EXPECT_TRUE(v->degraded());
  EXPECT_EQ(v->sample("k").skipped, VerifySkip::degraded);
  clock_.advance(Verifier::kDegradedFor - 1ms);
  v->backend_answered(200);  // a success does not end the pause early
  EXPECT_EQ(v->sample("k").skipped, VerifySkip::degraded);
  clock_.advance(1ms);
  EXPECT_TRUE(v->sample("k").ticket);
  v->backend_answered(0);  // no answer at all
  EXPECT_EQ(v->sample("k2").skipped, VerifySkip::degraded);
}

TEST_F(VerifierTest, ASkippedVerifySpendsNoToken) {
  auto v = make(settings(1, 1));  // one token
  auto held = v->sample("k");
  ASSERT_TRUE(held.ticket);
  clock_.advance(1s);
  EXPECT_EQ(v->sample("k").skipped, VerifySkip::in_flight);
  EXPECT_TRUE(v->sample("other").ticket) << "the in-flight refusal must not have spent the token";
}

TEST_F(VerifierTest, RemembersTheLastPurgeOfEachTagBounded) {
  auto v = make(settings(1));  // remembers 3 tags
  const auto t0 = clock_.now_ms();
  v->purged({"a", "b"});
  clock_.advance(5s);
  v->purged({"c"});
  v->purged({"a"});  // a is now the most recent
  auto times = v->purge_times({"a", "b", "c", "z"});
  ASSERT_EQ(times.size(), 4u);
  EXPECT_EQ(times[0].purged_at_ms, t0 + 5000);
  EXPECT_EQ(times[1].purged_at_ms, t0);
  EXPECT_EQ(times[2].purged_at_ms, t0 + 5000);
  EXPECT_FALSE(times[3].purged_at_ms) << "never purged";
  v->purged({"d"});  // over the bound: the least recently purged (b) is forgotten
  times = v->purge_times({"a", "b", "c", "d"});
  EXPECT_TRUE(times[0].purged_at_ms);
  EXPECT_FALSE(times[1].purged_at_ms);
  EXPECT_TRUE(times[2].purged_at_ms);
  EXPECT_TRUE(times[3].purged_at_ms);

  EXPECT_TRUE(v->purged_since({"x", "d"}, t0 + 5000)) << "a purge at the same millisecond counts";
  EXPECT_FALSE(v->purged_since({"x", "d"}, t0 + 5001));
  EXPECT_FALSE(v->purged_since({"x"}, 0));
}

TEST_F(VerifierTest, KeepsTheLatestMismatchesNewestFirst) {
  auto v = make(settings(1, 1000, 100, 2));
  for (int i = 0; i < 3; ++i) v->record(Mismatch{"r" + std::to_string(i), "k", i, 0, 200, 200, {}});
  auto kept = v->mismatches();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].rule, "r2");
  EXPECT_EQ(kept[1].rule, "r1");
  v->configure(settings(1, 1000, 100, 1));
  ASSERT_EQ(v->mismatches().size(), 1u) << "a smaller keep trims at once";
  EXPECT_EQ(v->mismatches()[0].rule, "r2");
  v->configure(settings(1, 1000, 100, 0));
  v->record(Mismatch{"r3", "k", 3, 0, 200, 200, {}});
  EXPECT_TRUE(v->mismatches().empty());
}

TEST(VerifyCompare, BytesUnlessTheRuleIgnoresJsonMembers) {
  EXPECT_TRUE(same_body("abc", "abc", {}));
  EXPECT_FALSE(same_body("abc", "abd", {}));
  EXPECT_FALSE(same_body(R"({"a":1,"b":2})", R"({"b":2,"a":1})", {}))
      << "without verify_ignore the bytes are compared";
  EXPECT_TRUE(same_body(R"({"a":1,"b":2})", R"({ "b": 2, "a": 1 })", {"unused"}))
      << "with verify_ignore, JSON is compared as values";
}

TEST(VerifyCompare, IgnoredMembersAtAnyDepth) {
  const std::vector<std::string> ignore{"generated_at"};
  EXPECT_TRUE(same_body(
      R"({"generated_at":"t1","items":[{"id":1,"generated_at":"t1","x":{"generated_at":1}}]})",
      R"({"generated_at":"t2","items":[{"id":1,"generated_at":"t9","x":{"generated_at":2}}]})", ignore));
  EXPECT_FALSE(same_body(R"({"generated_at":"t1","items":[{"id":1}]})",
                         R"({"generated_at":"t2","items":[{"id":2}]})", ignore))
      << "a real difference next to an ignored member";
  EXPECT_FALSE(same_body(R"({"generated_at":"t1"})", R"({"generated_at":"t1","extra":true})", ignore));
  EXPECT_TRUE(same_body(R"([{"generated_at":1},{"generated_at":2}])", R"([{"generated_at":3},{}])", ignore))
      << "a missing ignored member is no difference";
  EXPECT_FALSE(same_body(R"([1,2])", R"([2,1])", ignore)) << "array order matters";
}

TEST(VerifyCompare, BodiesThatAreNotBothJsonAreComparedAsBytes) {
  const std::vector<std::string> ignore{"generated_at"};
  EXPECT_FALSE(same_body(R"({"generated_at":"t1"})", "<html>generated_at</html>", ignore));
  EXPECT_FALSE(same_body("not json generated_at=1", "not json generated_at=2", ignore));
  EXPECT_TRUE(same_body("not json", "not json", ignore));
  EXPECT_FALSE(same_body(R"({"generated_at":"t1"})", R"({"generated_at":"t2"} trailing)", ignore));
}

TEST(VerifyDescribe, NamesTheRuleStatusesAgeKeyAndEachTagsLastPurge) {
  Mismatch m{"risk-detail", "orc:e:abc", 0, 42, 200, 404, {{"risk:t:1", 1'700'000'000'250}, {"uri:/r", {}}}};
  EXPECT_EQ(
      describe(m),
      "rule 'risk-detail': the cached answer (status 200) differs from the backend's (status 404); entry "
      "age 42s, key orc:e:abc; tags: risk:t:1 (last purged here 2023-11-14T22:13:20.250Z), uri:/r (never "
      "seen purged here)");
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace orc::cache
