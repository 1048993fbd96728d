// Verify mode's bookkeeping: see verify.hpp.
#include "cache/verify.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>

namespace orc::cache {

namespace json = boost::json;

namespace {

constexpr std::string_view kResultNames[kVerifyResults] = {"match", "mismatch", "error"};
constexpr std::string_view kSkipNames[kVerifySkips] = {"degraded", "in_flight", "concurrency", "rate_limit",
                                                       "purged"};

std::int64_t steady_ms(const util::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.steady().time_since_epoch()).count();
}

double per_thread_random() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

void drop_members(json::value& v, const std::vector<std::string>& names) {
  if (auto* o = v.if_object()) {
    for (const auto& n : names) o->erase(n);
    for (auto& member : *o) drop_members(member.value(), names);
  } else if (auto* a = v.if_array()) {
    for (auto& item : *a) drop_members(item, names);
  }
}

}  // namespace

std::string_view to_string(VerifyResult r) {
  return kResultNames[static_cast<std::size_t>(r)];
}

std::string_view to_string(VerifySkip s) {
  return kSkipNames[static_cast<std::size_t>(s)];
}

bool same_body(std::string_view a, std::string_view b, const std::vector<std::string>& ignore) {
  if (a == b) return true;
  if (ignore.empty()) return false;
  boost::system::error_code ea, eb;
  auto va = json::parse(a, ea);
  if (ea) return false;
  auto vb = json::parse(b, eb);
  if (eb) return false;
  drop_members(va, ignore);
  drop_members(vb, ignore);
  return va == vb;
}

std::string rfc3339(std::int64_t ms) {
  const std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(buf, n) + frac;
}

std::string describe(const Mismatch& m) {
  std::string out = "rule '" + m.rule + "': the cached answer (status " + std::to_string(m.cached_status) +
                    ") differs from the backend's (status " + std::to_string(m.backend_status) +
                    "); entry age " + std::to_string(m.age_s) + "s, key " + m.key + "; tags:";
  if (m.tags.empty()) out += " none";
  for (std::size_t i = 0; i < m.tags.size(); ++i) {
    const auto& t = m.tags[i];
    out += (i ? ", " : " ") + t.tag +
           (t.purged_at_ms ? " (last purged here " + rfc3339(*t.purged_at_ms) + ")"
                           : " (never seen purged here)");
  }
  return out;
}

Verifier::Ticket::~Ticket() {
  if (v_) v_->release(key_);
}

Verifier::Verifier(const util::Clock& clock, Random random, std::size_t purge_times_max)
    : clock_(clock),
      random_(random ? std::move(random) : Random(per_thread_random)),
      refilled_(clock.steady()),
      purge_times_max_(std::max<std::size_t>(1, purge_times_max)) {}

void Verifier::configure(const config::VerifyConfig& cfg) {
  std::lock_guard lock(mutex_);
  sample_.store(std::clamp(cfg.sample, 0.0, 1.0), std::memory_order_relaxed);
  refill();  // the tokens earned at the old rate
  rate_ = cfg.max_per_second;
  micro_tokens_ = std::min(micro_tokens_, static_cast<std::int64_t>(std::max(1.0, rate_) * kMicro));
  concurrency_ = cfg.concurrency;
  keep_ = cfg.keep;
  while (mismatches_.size() > keep_) mismatches_.pop_front();
}

void Verifier::refill() {
  // In millionths of a token, so that whole tokens stay whole (500 ms at 2/s earn exactly one).
  const auto now = clock_.steady();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - refilled_).count();
  const auto burst =
      static_cast<std::int64_t>(std::max(1.0, rate_) * kMicro);  // one second's worth, at least 1
  const double earned =
      std::min(static_cast<double>(burst), static_cast<double>(std::max<std::int64_t>(0, us)) * rate_);
  micro_tokens_ = std::min(burst, micro_tokens_ + static_cast<std::int64_t>(std::llround(earned)));
  refilled_ = now;
}

bool Verifier::take_token() {
  refill();
  if (micro_tokens_ < kMicro) return false;
  micro_tokens_ -= kMicro;
  return true;
}

Verifier::Decision Verifier::sample(const std::string& key) {
  Decision d;
  const double fraction = sample_.load(std::memory_order_relaxed);
  if (fraction <= 0 || random_() >= fraction) return d;
  if (degraded()) {
    d.skipped = VerifySkip::degraded;
    return d;
  }
  std::lock_guard lock(mutex_);
  if (in_flight_.contains(key)) {
    d.skipped = VerifySkip::in_flight;
  } else if (in_flight_.size() >= concurrency_) {
    d.skipped = VerifySkip::concurrency;
  } else if (!take_token()) {
    d.skipped = VerifySkip::rate_limit;
  } else {
    in_flight_.insert(key);
    d.ticket.emplace(shared_from_this(), key);
  }
  return d;
}

void Verifier::release(const std::string& key) {
  std::lock_guard lock(mutex_);
  in_flight_.erase(key);
}

std::size_t Verifier::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_.size();
}

void Verifier::backend_answered(unsigned status) {
  if (status != 0 && status < 500) return;
  degraded_until_ms_.store(steady_ms(clock_) + kDegradedFor.count(), std::memory_order_relaxed);
}

bool Verifier::degraded() const {
  return steady_ms(clock_) < degraded_until_ms_.load(std::memory_order_relaxed);
}

void Verifier::purged(const std::vector<std::string>& tags) {
  const auto now = clock_.now_ms();
  std::lock_guard lock(purges_mutex_);
  for (const auto& tag : tags) {
    auto it = purge_times_.find(tag);
    if (it != purge_times_.end()) {
      it->second.at_ms = now;
      purge_order_.splice(purge_order_.end(), purge_order_, it->second.order);
      continue;
    }
    if (purge_times_.size() >= purge_times_max_) {
      purge_times_.erase(purge_order_.front());
      purge_order_.pop_front();
    }
    purge_order_.push_back(tag);
    purge_times_.emplace(tag, Purge{now, std::prev(purge_order_.end())});
  }
}

bool Verifier::purged_since(const std::vector<std::string>& tags, std::int64_t since_ms) const {
  std::lock_guard lock(purges_mutex_);
  return std::any_of(tags.begin(), tags.end(), [&](const std::string& tag) {
    auto it = purge_times_.find(tag);
    return it != purge_times_.end() && it->second.at_ms >= since_ms;
  });
}

std::vector<TagPurge> Verifier::purge_times(const std::vector<std::string>& tags) const {
  std::vector<TagPurge> out;
  std::lock_guard lock(purges_mutex_);
  for (const auto& tag : tags) {
    auto it = purge_times_.find(tag);
    out.push_back({tag, it == purge_times_.end() ? std::nullopt : std::optional(it->second.at_ms)});
  }
  return out;
}

void Verifier::record(Mismatch m) {
  std::lock_guard lock(mutex_);
  if (keep_ == 0) return;
  mismatches_.push_back(std::move(m));
  while (mismatches_.size() > keep_) mismatches_.pop_front();
}

std::vector<Mismatch> Verifier::mismatches() const {
  std::lock_guard lock(mutex_);
  return {mismatches_.rbegin(), mismatches_.rend()};
}

}  // namespace orc::cache
