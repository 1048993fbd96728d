// Verify mode (cache.verify): the cache measures its own staleness. A sampled share of fresh hits is fetched
// again from the backend once the client has its answer, with the client's request (so its credential), and
// the answer is compared with the entry that was served: status and body, minus the JSON members the rule
// ignores. A difference is a write the rulebook does not purge for (or a background writer), and the tags'
// last purge times point at the missing edge. This file is the bookkeeping, without I/O: the sampler, the
// limits (a token bucket on the injected clock, a cap on verifies in flight, one per key, none while the
// backend fails), the last purge time of each tag, the comparison and the latest mismatches. One Verifier per
// process, shared by the workers; cache/flow.cpp does the fetch.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/rule_config.hpp"
#include "util/clock.hpp"

namespace orc::cache {

// The verdict of one verify: the label `result` of openrisk_cache_verify_total.
enum class VerifyResult { match, mismatch, error };
inline constexpr std::size_t kVerifyResults = 3;
std::string_view to_string(VerifyResult r);

// Why a sampled hit was not verified (or a verify gave no verdict): the label `reason` of
// openrisk_cache_verify_skipped_total.
enum class VerifySkip {
  degraded,     // the backend answered 5xx or failed within Verifier::kDegradedFor
  in_flight,    // a verify of the same key is under way
  concurrency,  // cache.verify.concurrency verifies are under way
  rate_limit,   // cache.verify.max_per_second used up
  purged,       // a purge of one of the entry's tags ran while it was verified: no verdict either way
};
inline constexpr std::size_t kVerifySkips = 5;
std::string_view to_string(VerifySkip s);

// Whether two bodies say the same thing: equal bytes, or, when `ignore` is not empty and both parse as JSON,
// equal values once the object members named in `ignore` are dropped at any depth (member order and white
// space do not matter then). A body that is not JSON is compared byte for byte.
bool same_body(std::string_view a, std::string_view b, const std::vector<std::string>& ignore);

// Milliseconds since the Unix epoch as RFC 3339 UTC: "2026-12-03T10:15:30.250Z".
std::string rfc3339(std::int64_t ms);

// One tag of a mismatched entry and when this instance last purged it (empty: not since it started, or
// forgotten).
struct TagPurge {
  std::string tag;
  std::optional<std::int64_t> purged_at_ms;
};

// A verify whose answer differed from the entry that was served.
struct Mismatch {
  std::string rule;
  std::string key;             // the storage key: a digest of the key material, never the material
  std::int64_t at_ms = 0;      // when the verify found it (wall clock)
  std::uint64_t age_s = 0;     // the entry's age when it was served
  unsigned cached_status = 0;  // the entry's
  unsigned backend_status = 0;
  std::vector<TagPurge> tags;
};
// The mismatch as one log line's text: the rule, the statuses, the age, the key and each tag with its last
// purge by this instance.
std::string describe(const Mismatch& m);

class Verifier : public std::enable_shared_from_this<Verifier> {
 public:
  using Random = std::function<double()>;  // uniform in [0, 1)
  // How long a 5xx or a failure of the backend pauses the verifies: a verify then could only count an error
  // and would add load to a backend in trouble.
  static constexpr std::chrono::milliseconds kDegradedFor{10'000};
  static constexpr std::size_t kPurgeTimesMax = 16384;

  // Made with std::make_shared (a Ticket keeps its verifier alive). `random`: the sampler's source, called
  // without a lock from every worker (a per-thread generator when empty). `purge_times_max`: the tags whose
  // last purge is remembered.
  explicit Verifier(const util::Clock& clock, Random random = {},
                    std::size_t purge_times_max = kPurgeTimesMax);

  // The settings of cache.verify (at start and at every reload); verifies under way finish.
  void configure(const config::VerifyConfig& cfg);
  // Whether any hit may be sampled (cache.verify.sample > 0). Lock-free: asked on every fresh hit.
  bool enabled() const { return sample_.load(std::memory_order_relaxed) > 0; }

  // The right to run one verify: its key stays in flight and it counts against the concurrency until the
  // ticket is destroyed.
  class Ticket {
   public:
    Ticket(std::shared_ptr<Verifier> v, std::string key) : v_(std::move(v)), key_(std::move(key)) {}
    Ticket(Ticket&& o) noexcept = default;
    Ticket& operator=(Ticket&&) = delete;
    Ticket(const Ticket&) = delete;
    ~Ticket();

   private:
    std::shared_ptr<Verifier> v_;
    std::string key_;
  };
  struct Decision {
    std::optional<Ticket> ticket;       // verify now
    std::optional<VerifySkip> skipped;  // sampled, but a limit said no
  };
  // After a fresh hit of `key` (a rule that does not opt out): neither set when the sampler passes it over,
  // a ticket when it is to be verified, `skipped` when it was sampled and a limit refused it (checked in the
  // order of VerifySkip; the rate limit last, so a refused verify spends no token).
  Decision sample(const std::string& key);

  // A backend answer of any request (`status`), or 0 when the backend gave none (refused, reset, timed out).
  // A 5xx or a failure pauses the verifies for kDegradedFor. Lock-free.
  void backend_answered(unsigned status);
  bool degraded() const;

  // This instance purged `tags` now (cache/flow.cpp calls it before and after the storage's purge).
  void purged(const std::vector<std::string>& tags);
  // Whether one of `tags` was purged by this instance at or after `since_ms`.
  bool purged_since(const std::vector<std::string>& tags, std::int64_t since_ms) const;
  std::vector<TagPurge> purge_times(const std::vector<std::string>& tags) const;

  // Keeps a mismatch for GET /admin/verify (the latest cache.verify.keep).
  void record(Mismatch m);
  std::vector<Mismatch> mismatches() const;  // the newest first

  std::size_t in_flight() const;

 private:
  void release(const std::string& key);
  // The token bucket (with mutex_ held): refill() adds what the time since the last call earned, up to one
  // second's worth; take_token() spends one when there is one.
  void refill();
  bool take_token();

  const util::Clock& clock_;
  Random random_;
  std::atomic<double> sample_{0};
  std::atomic<std::int64_t> degraded_until_ms_{0};  // steady clock, in ms

  mutable std::mutex mutex_;
  static constexpr std::int64_t kMicro = 1'000'000;
  double rate_ = 10;                         // tokens per second
  std::int64_t micro_tokens_ = 10 * kMicro;  // millionths of a token
  std::chrono::steady_clock::time_point refilled_;
  std::uint32_t concurrency_ = 2;
  std::size_t keep_ = 50;
  std::unordered_set<std::string> in_flight_;
  std::deque<Mismatch> mismatches_;  // the oldest first

  // Last purge per tag, the least recently purged at the front of `purge_order_`.
  mutable std::mutex purges_mutex_;
  std::size_t purge_times_max_;
  std::list<std::string> purge_order_;
  struct Purge {
    std::int64_t at_ms;
    std::list<std::string>::iterator order;
  };
  std::unordered_map<std::string, Purge> purge_times_;
};

}  // namespace orc::cache
