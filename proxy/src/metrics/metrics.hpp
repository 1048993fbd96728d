// The daemon's Prometheus metrics (design.md section 7), a thin layer over prometheus-cpp's core registry.
// Labels are bounded (rule names of the rulebook, closed enums). Labelled handles are resolved once: the
// first use of a (rule, method, result) combination adds it (Family::Add locks and allocates), later uses
// read a cached pointer. Rendering happens only at scrape time.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace orc::metrics {

enum class Result { hit, miss, stale, bypass, pass, purge, error, rejected };
inline constexpr std::size_t kResults = 8;
std::string_view to_string(Result r);
// The cache / outcome fields of a request, mapped to the metric's result label.
Result result_of(std::string_view cache, std::string_view outcome);

inline constexpr std::size_t kMethods = 8;  // GET HEAD POST PUT PATCH DELETE OPTIONS other
std::size_t method_index(std::string_view method);

enum class StorageOp { get, generations, fill, purge };
inline constexpr std::size_t kStorageOps = 4;
inline constexpr std::size_t kStorageOutcomes = 4;  // ok unavailable timeout error

class Metrics;

// Everything labelled by one rule name.
class RuleMetrics {
 public:
  void request(std::size_t method, Result r, double seconds);
  void upstream(unsigned status_or_zero, double seconds);  // 0: no response (connect failure, timeout)
  void invalidation();
  // A conditional tag of a write (`unless_body_only`) left unpurged: the body named only its fields.
  void purge_skipped();
  // Tags of a write rendered from its answer (`{answer.field}`) that were purged as their fallback: the
  // answer did not give the field.
  void purge_fallbacks(std::size_t n);
  void coalesced();
  // A request of a cache rule that bypassed the cache: `reason` is cache::Bypass's name, `index` its value
  // (below kBypassReasons).
  void bypass(std::size_t index, std::string_view reason);
  static constexpr std::size_t kBypassReasons = 32;
  // A verify of a hit of this rule ended (cache/verify.hpp): `result` is cache::VerifyResult's name, `index`
  // its value (below kVerifyResults).
  void verify(std::size_t index, std::string_view result);
  static constexpr std::size_t kVerifyResults = 3;
  // Creates the rule's event counters at 0, so a rule that has not purged or coalesced yet still has a
  // series (rates read 0 instead of "no data"). `answer_tags`: the rule has tags from the answer (fallbacks).
  void init(bool cache_rule, bool invalidate_rule, bool answer_tags = false);

 private:
  friend class Metrics;
  prometheus::Counter& invalidations();
  prometheus::Counter& coalesced_counter();
  RuleMetrics(Metrics& m, std::string rule) : m_(m), rule_(std::move(rule)) {}
  Metrics& m_;
  std::string rule_;
  std::array<std::array<std::atomic<prometheus::Counter*>, kResults>, kMethods> requests_{};
  std::array<std::atomic<prometheus::Histogram*>, kResults> durations_{};
  std::array<std::atomic<prometheus::Counter*>, 6> upstream_{};  // 1xx..5xx, error
  std::atomic<prometheus::Histogram*> upstream_duration_{nullptr};
  std::atomic<prometheus::Counter*> invalidations_{nullptr};
  std::atomic<prometheus::Counter*> purges_skipped_{nullptr};
  std::atomic<prometheus::Counter*> purge_fallbacks_{nullptr};
  std::atomic<prometheus::Counter*> coalesced_{nullptr};
  std::array<std::atomic<prometheus::Counter*>, kBypassReasons> bypasses_{};
  std::array<std::atomic<prometheus::Counter*>, kVerifyResults> verifies_{};
};

class Metrics {
 public:
  // The process-wide instance (one registry per process, like the process itself).
  static Metrics& get();

  // Per-rule handles, created on first use and kept for the life of the process (rule names are bounded
  // by the rulebooks loaded).
  RuleMetrics& rule(std::string_view name);

  void storage_op(StorageOp op, std::size_t outcome, double seconds);  // outcome: index of StorageStatus
  void invalidated_tags(std::uint64_t n) { invalidated_tags_->Increment(static_cast<double>(n)); }
  void stored_bytes(std::uint64_t n) { stored_bytes_->Increment(static_cast<double>(n)); }
  void served_bytes(Result r, std::uint64_t n) {
    served_bytes_[static_cast<std::size_t>(r)]->Increment(static_cast<double>(n));
  }
  prometheus::Gauge& inflight() { return *inflight_; }
  prometheus::Gauge& open_connections() { return *open_connections_; }
  void reload(bool ok);
  void set_storage(std::string_view backend);  // storage_info{backend} = 1
  void set_redis_up(bool up) { redis_up_->Set(up ? 1 : 0); }
  // Tags whose purge failed after an accepted write and has not been replayed (cache/pending_purges.hpp).
  void set_purges_owed(std::size_t tags) { purges_owed_->Set(static_cast<double>(tags)); }
  // The in-process L1 (cache/l1_cache.hpp): on or off, its size, and the hits it served without Redis.
  void set_l1_up(bool up) { l1_up_->Set(up ? 1 : 0); }
  void set_l1_size(std::size_t bytes, std::size_t entries) {
    l1_bytes_->Set(static_cast<double>(bytes));
    l1_entries_->Set(static_cast<double>(entries));
  }
  void l1_hit() { l1_hits_->Increment(); }
  // The listener stopped accepting for a while because accept() failed for want of a resource (EMFILE,
  // ENFILE, ENOBUFS, ENOMEM).
  void accept_paused() { accept_pauses_->Increment(); }
  // A connection closed at once because limits.max_connections were open.
  void connection_refused() { connections_refused_->Increment(); }
  // The access log's queue overflowed `total` lines since the start (log/logging.hpp): raises the counter to
  // that total (the log keeps the count; the counter follows it at each scrape).
  void set_access_log_dropped(std::uint64_t total) { raise_to(*access_log_dropped_, total); }
  // Redis Cluster's and Sentinel's events (redis/topology_stats.hpp), totals since the start. The series
  // exist only for the topology in use (enable_redis_topology, at start: a single Redis exports none).
  struct RedisTopology {
    std::uint64_t moved = 0, ask = 0, maps = 0, maps_failed = 0, masters = 0, failovers = 0;
  };
  void enable_redis_topology(bool cluster, bool sentinel);
  // The process_* series every Prometheus client exports (resident and virtual memory, open and maximum
  // file descriptors, CPU seconds, start time), read from /proc at each scrape.
  void update_process();
  void set_redis_topology(const RedisTopology& totals);
  // A sampled hit that was not verified, or a verify without a verdict: `reason` is cache::VerifySkip's name,
  // `index` its value (below kVerifySkipReasons).
  void verify_skipped(std::size_t index, std::string_view reason);
  static constexpr std::size_t kVerifySkipReasons = 8;

  // The exposition text (text format 0.0.4).
  std::string render() const;

 private:
  friend class RuleMetrics;
  Metrics();
  // Raises a counter that follows a total kept elsewhere to that total (never lowers it).
  static void raise_to(prometheus::Counter& c, double total);
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* durations_;
  prometheus::Family<prometheus::Counter>* upstream_;
  prometheus::Family<prometheus::Histogram>* upstream_duration_;
  prometheus::Family<prometheus::Counter>* invalidations_;
  prometheus::Family<prometheus::Counter>* purges_skipped_;
  prometheus::Family<prometheus::Counter>* purge_fallbacks_;
  prometheus::Family<prometheus::Counter>* coalesced_;
  prometheus::Family<prometheus::Counter>* bypasses_;
  prometheus::Family<prometheus::Counter>* verifies_;
  prometheus::Family<prometheus::Counter>* verify_skipped_;
  std::array<std::atomic<prometheus::Counter*>, kVerifySkipReasons> verify_skips_{};
  std::array<std::array<prometheus::Counter*, kStorageOutcomes>, kStorageOps> storage_commands_{};
  std::array<prometheus::Histogram*, kStorageOps> storage_duration_{};
  prometheus::Counter* invalidated_tags_;
  prometheus::Counter* stored_bytes_;
  std::array<prometheus::Counter*, kResults> served_bytes_{};
  prometheus::Gauge* inflight_;
  prometheus::Gauge* open_connections_;
  prometheus::Gauge* redis_up_;
  prometheus::Gauge* purges_owed_;
  prometheus::Gauge* l1_up_;
  prometheus::Gauge* l1_bytes_;
  prometheus::Gauge* l1_entries_;
  prometheus::Counter* l1_hits_;
  prometheus::Counter* accept_pauses_;
  prometheus::Counter* connections_refused_;
  prometheus::Counter* access_log_dropped_;
  prometheus::Family<prometheus::Gauge>* storage_info_;
  prometheus::Gauge* process_rss_;
  prometheus::Gauge* process_vsize_;
  prometheus::Gauge* process_open_fds_;
  prometheus::Gauge* process_max_fds_;
  prometheus::Gauge* process_start_;
  prometheus::Counter* process_cpu_;
  // Null until enable_redis_topology() creates them.
  prometheus::Counter* cluster_moved_ = nullptr;
  prometheus::Counter* cluster_ask_ = nullptr;
  prometheus::Counter* cluster_maps_ = nullptr;
  prometheus::Counter* cluster_maps_failed_ = nullptr;
  prometheus::Gauge* cluster_masters_ = nullptr;
  prometheus::Counter* sentinel_failovers_ = nullptr;
  std::array<prometheus::Counter*, 2> reloads_{};
  prometheus::Gauge* last_reload_;

  std::mutex rules_mutex_;
  std::unordered_map<std::string, std::unique_ptr<RuleMetrics>> rules_;
};

// Latency buckets: sub-millisecond for hits, a boundary at each SLO (10 ms hits, 1 s misses).
const prometheus::Histogram::BucketBoundaries& latency_buckets();

}  // namespace orc::metrics
