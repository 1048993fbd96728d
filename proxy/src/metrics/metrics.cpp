// The daemon's Prometheus metrics.
#include "metrics/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef ORC_VERSION
#define ORC_VERSION "dev"
#endif

namespace orc::metrics {

namespace {

// The fields of /proc/self/stat, numbered as proc(5) does (1-based; fields 1 and 2, the pid and the command,
// are left empty: the command may hold blanks and parentheses). Empty when the file cannot be read.
std::vector<std::string> self_stat() {
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) return {};
  std::istringstream in(line.substr(line.rfind(')') + 1));
  std::vector<std::string> f{"", "", ""};
  for (std::string v; in >> v;) f.push_back(v);
  return f;
}

constexpr std::string_view kResultNames[kResults] = {"hit",  "miss",  "stale", "bypass",
                                                     "pass", "purge", "error", "rejected"};
constexpr std::string_view kMethodNames[kMethods] = {"GET",   "HEAD",   "POST",    "PUT",
                                                     "PATCH", "DELETE", "OPTIONS", "other"};
constexpr std::string_view kClassNames[6] = {"1xx", "2xx", "3xx", "4xx", "5xx", "error"};
constexpr std::string_view kOpNames[kStorageOps] = {"get", "generations", "fill", "purge"};
constexpr std::string_view kOutcomeNames[kStorageOutcomes] = {"ok", "unavailable", "timeout", "error"};

// Resolves a lazily created handle: the first caller adds it under the lock, later ones read the pointer.
template <typename T, typename Make>
T& resolve(std::atomic<T*>& slot, std::mutex& mutex, Make&& make) {
  if (T* p = slot.load(std::memory_order_acquire)) return *p;
  std::lock_guard lock(mutex);
  if (T* p = slot.load(std::memory_order_relaxed)) return *p;
  T* p = &make();
  slot.store(p, std::memory_order_release);
  return *p;
}

std::mutex g_add_mutex;  // guards Family::Add of lazily created handles

}  // namespace

std::string_view to_string(Result r) {
  return kResultNames[static_cast<std::size_t>(r)];
}

Result result_of(std::string_view cache, std::string_view outcome) {
  if (outcome == "rejected") return Result::rejected;
  if (outcome == "upstream_error") return Result::error;
  if (cache == "hit") return Result::hit;
  if (cache == "miss") return Result::miss;
  if (cache == "stale") return Result::stale;
  if (cache == "bypass") return Result::bypass;
  if (cache == "purge") return Result::purge;
  return Result::pass;
}

std::size_t method_index(std::string_view method) {
  for (std::size_t i = 0; i + 1 < kMethods; ++i)
    if (kMethodNames[i] == method) return i;
  return kMethods - 1;
}

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

void RuleMetrics::request(std::size_t method, Result r, double seconds) {
  auto ri = static_cast<std::size_t>(r);
  resolve(requests_[method][ri], g_add_mutex, [&]() -> prometheus::Counter& {
    return m_.requests_->Add({{"rule", rule_},
                              {"method", std::string(kMethodNames[method])},
                              {"result", std::string(kResultNames[ri])}});
  }).Increment();
  resolve(durations_[ri], g_add_mutex, [&]() -> prometheus::Histogram& {
    return m_.durations_->Add({{"rule", rule_}, {"result", std::string(kResultNames[ri])}},
                              latency_buckets());
  }).Observe(seconds);
}

void RuleMetrics::upstream(unsigned status, double seconds) {
  std::size_t ci = (status >= 100 && status < 600) ? status / 100 - 1 : 5;
  resolve(upstream_[ci], g_add_mutex, [&]() -> prometheus::Counter& {
    return m_.upstream_->Add({{"rule", rule_}, {"code_class", std::string(kClassNames[ci])}});
  }).Increment();
  resolve(upstream_duration_, g_add_mutex, [&]() -> prometheus::Histogram& {
    return m_.upstream_duration_->Add({{"rule", rule_}}, latency_buckets());
  }).Observe(seconds);
}

void RuleMetrics::invalidation() {
  invalidations().Increment();
}

void RuleMetrics::purge_skipped() {
  resolve(purges_skipped_, g_add_mutex, [&]() -> prometheus::Counter& {
    return m_.purges_skipped_->Add({{"rule", rule_}});
  }).Increment();
}

void RuleMetrics::purge_fallbacks(std::size_t n) {
  resolve(purge_fallbacks_, g_add_mutex, [&]() -> prometheus::Counter& {
    return m_.purge_fallbacks_->Add({{"rule", rule_}});
  }).Increment(static_cast<double>(n));
}

void RuleMetrics::coalesced() {
  coalesced_counter().Increment();
}

prometheus::Counter& RuleMetrics::invalidations() {
  return resolve(invalidations_, g_add_mutex, [&]() -> prometheus::Counter& {
    return m_.invalidations_->Add({{"rule", rule_}});
  });
}

prometheus::Counter& RuleMetrics::coalesced_counter() {
  return resolve(coalesced_, g_add_mutex, [&]() -> prometheus::Counter& {
    return m_.coalesced_->Add({{"rule", rule_}});
  });
}

void RuleMetrics::bypass(std::size_t index, std::string_view reason) {
  if (index >= kBypassReasons) return;
  resolve(bypasses_[index], g_add_mutex, [&]() -> prometheus::Counter& {
    return m_.bypasses_->Add({{"rule", rule_}, {"reason", std::string(reason)}});
  }).Increment();
}

void RuleMetrics::verify(std::size_t index, std::string_view result) {
  if (index >= kVerifyResults) return;
  resolve(verifies_[index], g_add_mutex, [&]() -> prometheus::Counter& {
    return m_.verifies_->Add({{"rule", rule_}, {"result", std::string(result)}});
  }).Increment();
}

void RuleMetrics::init(bool cache_rule, bool invalidate_rule, bool answer_tags) {
  if (cache_rule) coalesced_counter();
  if (invalidate_rule) invalidations();
  if (answer_tags) purge_fallbacks(0);
}

Metrics& Metrics::get() {
  static Metrics m;
  return m;
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  const std::string p = "openrisk_cache_";
  requests_ = &prometheus::BuildCounter()
                   .Name(p + "requests_total")
                   .Help("Requests by rule, method and result.")
                   .Register(r);
  durations_ = &prometheus::BuildHistogram()
                    .Name(p + "request_duration_seconds")
                    .Help("Time from the request head to the end of the response, by rule and result.")
                    .Register(r);
  upstream_ = &prometheus::BuildCounter()
                   .Name(p + "upstream_requests_total")
                   .Help("Requests sent to the backend, by rule and status class (error: no response).")
                   .Register(r);
  upstream_duration_ = &prometheus::BuildHistogram()
                            .Name(p + "upstream_duration_seconds")
                            .Help("Time spent with the backend per request, by rule.")
                            .Register(r);
  invalidations_ = &prometheus::BuildCounter()
                        .Name(p + "invalidations_total")
                        .Help("Writes accepted by the backend whose tags were purged, by rule.")
                        .Register(r);
  purges_skipped_ =
      &prometheus::BuildCounter()
           .Name(p + "purges_skipped_total")
           .Help(
               "Conditional tags of writes (unless_body_only) left unpurged because the request "
               "body named only their fields, by rule.")
           .Register(r);
  purge_fallbacks_ =
      &prometheus::BuildCounter()
           .Name(p + "purge_fallbacks_total")
           .Help(
               "Tags of writes rendered from the backend's answer ({answer.field}) that were purged as their "
               "fallback because the answer did not give the field, by rule.")
           .Register(r);
  coalesced_ = &prometheus::BuildCounter()
                    .Name(p + "coalesced_requests_total")
                    .Help("Requests served by another request's backend fetch (coalesced misses), by rule.")
                    .Register(r);
  bypasses_ =
      &prometheus::BuildCounter()
           .Name(p + "bypasses_total")
           .Help(
               "Requests of a cache rule that bypassed the cache (forwarded, never stored), by rule and "
               "reason (the Cache-Status detail).")
           .Register(r);
  verifies_ =
      &prometheus::BuildCounter()
           .Name(p + "verify_total")
           .Help(
               "Fresh hits fetched again from the backend and compared with the entry served (cache.verify), "
               "by rule and result (match, mismatch, error).")
           .Register(r);
  verify_skipped_ =
      &prometheus::BuildCounter()
           .Name(p + "verify_skipped_total")
           .Help(
               "Hits sampled for a verify that did not run, or ran without a verdict, by reason "
               "(degraded, in_flight, concurrency, rate_limit, purged).")
           .Register(r);
  auto& commands = prometheus::BuildCounter()
                       .Name(p + "redis_commands_total")
                       .Help("Cache storage operations by command and outcome.")
                       .Register(r);
  auto& storage_duration = prometheus::BuildHistogram()
                               .Name(p + "redis_duration_seconds")
                               .Help("Cache storage operation latency by command.")
                               .Register(r);
  for (std::size_t op = 0; op < kStorageOps; ++op) {
    for (std::size_t o = 0; o < kStorageOutcomes; ++o)
      storage_commands_[op][o] =
          &commands.Add({{"command", std::string(kOpNames[op])}, {"outcome", std::string(kOutcomeNames[o])}});
    storage_duration_[op] =
        &storage_duration.Add({{"command", std::string(kOpNames[op])}}, latency_buckets());
  }
  redis_up_ =
      &prometheus::BuildGauge()
           .Name(p + "redis_up")
           .Help("1 when the cache storage answers, 0 while it is unreachable (the cache fails open).")
           .Register(r)
           .Add({});
  purges_owed_ = &prometheus::BuildGauge()
                      .Name(p + "purges_owed_tags")
                      .Help(
                          "Tags whose purge failed after an accepted write and is not replayed yet; reads of "
                          "them bypass the cache meanwhile.")
                      .Register(r)
                      .Add({});
  l1_up_ = &prometheus::BuildGauge()
                .Name(p + "l1_up")
                .Help(
                    "1 while the in-process L1 serves hits (its purge listener is subscribed), 0 while it is "
                    "off or not configured.")
                .Register(r)
                .Add({});
  l1_bytes_ = &prometheus::BuildGauge()
                   .Name(p + "l1_bytes")
                   .Help("Bytes held by the in-process L1 (bodies, headers, keys), against cache.l1_budget.")
                   .Register(r)
                   .Add({});
  l1_entries_ = &prometheus::BuildGauge()
                     .Name(p + "l1_entries")
                     .Help("Entries held by the in-process L1.")
                     .Register(r)
                     .Add({});
  l1_hits_ = &prometheus::BuildCounter()
                  .Name(p + "l1_hits_total")
                  .Help("Cache lookups answered by the in-process L1, without a Redis round trip.")
                  .Register(r)
                  .Add({});
  accept_pauses_ =
      &prometheus::BuildCounter()
           .Name(p + "accept_pauses_total")
           .Help(
               "Times the listener paused accepting because the process ran out of file descriptors "
               "or memory.")
           .Register(r)
           .Add({});
  connections_refused_ =
      &prometheus::BuildCounter()
           .Name(p + "connections_refused_total")
           .Help("Client connections closed at once because limits.max_connections were open.")
           .Register(r)
           .Add({});
  access_log_dropped_ = &prometheus::BuildCounter()
                             .Name(p + "access_log_dropped_total")
                             .Help(
                                 "Log lines (access lines, and the others while the daemon runs) dropped "
                                 "because the log's buffer was full (stderr could not keep up).")
                             .Register(r)
                             .Add({});
  storage_info_ = &prometheus::BuildGauge()
                       .Name(p + "storage_info")
                       .Help("The cache storage backend in use.")
                       .Register(r);
  invalidated_tags_ =
      &prometheus::BuildCounter()
           .Name(p + "invalidated_tags_total")
           .Help("Tags given a new generation by purges: every entry under them was outdated.")
           .Register(r)
           .Add({});
  stored_bytes_ = &prometheus::BuildCounter()
                       .Name(p + "stored_bytes_total")
                       .Help("Response body bytes stored in the cache.")
                       .Register(r)
                       .Add({});
  auto& served = prometheus::BuildCounter()
                     .Name(p + "served_bytes_total")
                     .Help("Response body bytes sent to clients, by result.")
                     .Register(r);
  for (std::size_t i = 0; i < kResults; ++i)
    served_bytes_[i] = &served.Add({{"result", std::string(kResultNames[i])}});
  inflight_ = &prometheus::BuildGauge()
                   .Name(p + "inflight_requests")
                   .Help("Requests being served.")
                   .Register(r)
                   .Add({});
  open_connections_ = &prometheus::BuildGauge()
                           .Name(p + "open_connections")
                           .Help("Open client connections.")
                           .Register(r)
                           .Add({});
  auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
  };
  process_rss_ = gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  process_vsize_ = gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
  process_open_fds_ = gauge("process_open_fds", "Number of open file descriptors.");
  process_max_fds_ = gauge("process_max_fds", "Maximum number of open file descriptors (RLIMIT_NOFILE).");
  process_start_ =
      gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.");
  // Known once: the start tick (field 22 of /proc/self/stat) after the boot time (btime of /proc/stat).
  if (const auto f = self_stat(); f.size() > 22) try {
      std::ifstream boot("/proc/stat");
      for (std::string key; boot >> key;)
        if (key == "btime") {
          double btime = 0;
          boot >> btime;
          process_start_->Set(btime + std::stod(f[22]) / static_cast<double>(::sysconf(_SC_CLK_TCK)));
          break;
        }
    } catch (const std::exception&) {
    }
  process_cpu_ = &prometheus::BuildCounter()
                      .Name("process_cpu_seconds_total")
                      .Help("Total user and system CPU time spent in seconds.")
                      .Register(r)
                      .Add({});
  auto& reloads = prometheus::BuildCounter()
                      .Name(p + "config_reloads_total")
                      .Help("Configuration reloads by outcome.")
                      .Register(r);
  reloads_[0] = &reloads.Add({{"outcome", "ok"}});
  reloads_[1] = &reloads.Add({{"outcome", "error"}});
  last_reload_ = &prometheus::BuildGauge()
                      .Name(p + "config_last_reload_success_timestamp_seconds")
                      .Help("When the running configuration was loaded (start or last successful reload).")
                      .Register(r)
                      .Add({});
  prometheus::BuildGauge()
      .Name(p + "build_info")
      .Help("The running version.")
      .Register(r)
      .Add({{"version", ORC_VERSION}})
      .Set(1);
  last_reload_->SetToCurrentTime();
}

RuleMetrics& Metrics::rule(std::string_view name) {
  std::lock_guard lock(rules_mutex_);
  auto it = rules_.find(std::string(name));
  if (it != rules_.end()) return *it->second;
  auto [ins, ok] = rules_.emplace(std::string(name),
                                  std::unique_ptr<RuleMetrics>(new RuleMetrics(*this, std::string(name))));
  return *ins->second;
}

void Metrics::raise_to(prometheus::Counter& c, double total) {
  if (total > c.Value()) c.Increment(total - c.Value());
}

void Metrics::enable_redis_topology(bool cluster, bool sentinel) {
  const std::string p = "openrisk_cache_";
  auto& r = *registry_;
  if (cluster && !cluster_moved_) {
    auto& redirects = prometheus::BuildCounter()
                          .Name(p + "redis_cluster_redirects_total")
                          .Help(
                              "Redis Cluster redirections followed, by kind: moved (the slot has another "
                              "master now), ask (the slot is being moved).")
                          .Register(r);
    cluster_moved_ = &redirects.Add({{"kind", "moved"}});
    cluster_ask_ = &redirects.Add({{"kind", "ask"}});
    auto& maps =
        prometheus::BuildCounter()
            .Name(p + "redis_cluster_map_refreshes_total")
            .Help(
                "Redis Cluster slot maps asked for (CLUSTER SLOTS), by outcome: ok (a map was learnt), "
                "failed (the connected nodes gave no usable map).")
            .Register(r);
    cluster_maps_ = &maps.Add({{"outcome", "ok"}});
    cluster_maps_failed_ = &maps.Add({{"outcome", "failed"}});
    cluster_masters_ = &prometheus::BuildGauge()
                            .Name(p + "redis_cluster_masters")
                            .Help("Masters in the Redis Cluster slot map learnt last (0 until one is).")
                            .Register(r)
                            .Add({});
  }
  if (sentinel && !sentinel_failovers_)
    sentinel_failovers_ = &prometheus::BuildCounter()
                               .Name(p + "redis_sentinel_failovers_total")
                               .Help("Times the sentinels named a new address for the Redis master.")
                               .Register(r)
                               .Add({});
}

void Metrics::set_redis_topology(const RedisTopology& totals) {
  if (cluster_moved_) {
    raise_to(*cluster_moved_, totals.moved);
    raise_to(*cluster_ask_, totals.ask);
    raise_to(*cluster_maps_, totals.maps);
    raise_to(*cluster_maps_failed_, totals.maps_failed);
    cluster_masters_->Set(static_cast<double>(totals.masters));
  }
  if (sentinel_failovers_) raise_to(*sentinel_failovers_, totals.failovers);
}

void Metrics::update_process() {
  // /proc/self/stat (proc(5)): utime is field 14, stime 15, vsize 23, rss 24.
  const auto f = self_stat();
  if (f.size() > 24) try {
      const double cpu = (std::stod(f[14]) + std::stod(f[15])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
      raise_to(*process_cpu_, cpu);
      process_vsize_->Set(std::stod(f[23]));
      process_rss_->Set(std::stod(f[24]) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
    } catch (const std::exception&) {  // (a field that is not a number: left as it was)
    }
  std::error_code ec;
  std::size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++fds;
  process_open_fds_->Set(static_cast<double>(fds));
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) process_max_fds_->Set(static_cast<double>(limit.rlim_cur));
}

void Metrics::storage_op(StorageOp op, std::size_t outcome, double seconds) {
  auto i = static_cast<std::size_t>(op);
  storage_commands_[i][outcome < kStorageOutcomes ? outcome : kStorageOutcomes - 1]->Increment();
  storage_duration_[i]->Observe(seconds);
}

void Metrics::verify_skipped(std::size_t index, std::string_view reason) {
  if (index >= kVerifySkipReasons) return;
  resolve(verify_skips_[index], g_add_mutex, [&]() -> prometheus::Counter& {
    return verify_skipped_->Add({{"reason", std::string(reason)}});
  }).Increment();
}

void Metrics::reload(bool ok) {
  reloads_[ok ? 0 : 1]->Increment();
  if (ok) last_reload_->SetToCurrentTime();
}

void Metrics::set_storage(std::string_view backend) {
  storage_info_->Add({{"backend", std::string(backend)}}).Set(1);
}

std::string Metrics::render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace orc::metrics
