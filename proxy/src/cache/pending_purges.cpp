#include "cache/pending_purges.hpp"

namespace orc::cache {

void PendingPurges::add(const std::vector<std::string>& tags) {
  std::lock_guard lock(mutex_);
  ++seq_;
  for (const auto& t : tags) owed_[t] = seq_;
  changed();
}

bool PendingPurges::any(const std::vector<std::string>& tags) const {
  if (empty()) return false;
  std::lock_guard lock(mutex_);
  for (const auto& t : tags)
    if (owed_.count(t)) return true;
  return false;
}

PendingPurges::Batch PendingPurges::claim(TimePoint now) {
  std::lock_guard lock(mutex_);
  Batch b;
  if (replaying_ || owed_.empty() || now < retry_at_) return b;
  replaying_ = true;
  b.seq = seq_;
  b.tags.reserve(owed_.size());
  for (const auto& [tag, seq] : owed_) b.tags.push_back(tag);
  return b;
}

void PendingPurges::settle(const Batch& batch) {
  std::lock_guard lock(mutex_);
  for (const auto& t : batch.tags) {
    auto it = owed_.find(t);
    if (it != owed_.end() && it->second <= batch.seq) owed_.erase(it);
  }
  changed();
  replaying_ = false;
}

void PendingPurges::changed() {
  count_.store(owed_.size(), std::memory_order_release);
  if (on_size_) on_size_(owed_.size());
}

void PendingPurges::release(TimePoint now) {
  std::lock_guard lock(mutex_);
  replaying_ = false;
  retry_at_ = now + kRetryWait;
}

}  // namespace orc::cache
