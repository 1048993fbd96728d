// The in-process L1 in front of Redis.
#include "cache/l1_cache.hpp"

#include <algorithm>

namespace orc::cache {
namespace {

std::size_t cost_of(const std::string& key, const CacheEntry& e, const std::vector<std::string>& tags) {
  std::size_t n = 256 + key.size() + e.body.size() + e.material.size() + e.etag.size();
  for (const auto& [k, v] : e.headers) n += 32 + k.size() + v.size();
  for (const auto& v : e.vary_names) n += 32 + v.size();
  for (const auto& t : tags) n += 64 + t.size();
  return n;
}

}  // namespace

L1Cache::L1Cache(std::size_t max_bytes, std::chrono::milliseconds max_age, SizeHook on_size)
    : max_bytes_(max_bytes), max_age_(max_age), on_size_(std::move(on_size)) {}

void L1Cache::erase_locked(Map::iterator it) {
  for (const auto& tag : it->second.tags) {
    auto t = tag_members_.find(tag);
    if (t == tag_members_.end()) continue;
    t->second.erase(it->first);
    if (t->second.empty()) tag_members_.erase(t);
  }
  bytes_ -= it->second.cost;
  lru_.erase(it->second.lru);
  items_.erase(it);
}

void L1Cache::clear_locked() {
  items_.clear();
  lru_.clear();
  tag_members_.clear();
  bytes_ = 0;
  changed_locked();
}

L1Cache::Entry L1Cache::get(const std::string& key, std::int64_t now_ms, bool* refresh) {
  if (refresh) *refresh = false;
  if (!enabled()) return nullptr;
  std::lock_guard lock(mutex_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  auto& item = it->second;
  if (now_ms >= item.expires_ms) {
    erase_locked(it);
    changed_locked();
    return nullptr;
  }
  if (now_ms >= item.refresh_ms && now_ms >= item.refresh_claimed_ms + kRefreshClaim) {
    item.refresh_claimed_ms = now_ms;  // this caller asks Redis; the others keep the entry meanwhile
    if (refresh) *refresh = true;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, item.lru);
  return item.entry;
}

void L1Cache::erase(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (auto it = items_.find(key); it != items_.end()) {
    erase_locked(it);
    changed_locked();
  }
}

bool L1Cache::insert(const std::string& key, Entry entry, const std::vector<std::string>& tags,
                     std::uint64_t epoch_seen, std::int64_t now_ms) {
  if (!entry || max_bytes_ == 0) return false;
  const std::int64_t last_use = std::max({entry->fresh_until_ms, entry->swr_until_ms, entry->sie_until_ms});
  if (last_use <= now_ms) return false;
  const std::size_t cost = cost_of(key, *entry, tags);
  if (cost > max_bytes_) return false;

  std::lock_guard lock(mutex_);
  // The checks run under the lock that invalidate() and disable() take: no purge can slip in between.
  if (!enabled_.load(std::memory_order_relaxed) || epoch_seen < floor_) return false;
  for (const auto& tag : tags)
    if (auto p = purged_at_.find(tag); p != purged_at_.end() && p->second > epoch_seen) return false;
  if (auto old = items_.find(key); old != items_.end()) erase_locked(old);
  while (bytes_ + cost > max_bytes_ && !lru_.empty()) erase_locked(items_.find(lru_.back()));

  lru_.push_front(key);
  Item item{std::move(entry), last_use, now_ms + max_age_.count(), now_ms - kRefreshClaim, cost, {},
            lru_.begin()};
  item.tags.reserve(tags.size());
  for (const auto& tag : tags) {
    if (std::find(item.tags.begin(), item.tags.end(), tag) != item.tags.end()) continue;
    item.tags.push_back(tag);
    tag_members_[tag].insert(key);
  }
  items_.emplace(key, std::move(item));
  bytes_ += cost;
  changed_locked();
  return true;
}

void L1Cache::invalidate(const std::vector<std::string>& tags) {
  std::lock_guard lock(mutex_);
  const auto now = epoch_.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (purged_at_.size() + tags.size() > kPurgedTagsMax) {
    purged_at_.clear();  // bounded memory: every read from before now is refused instead
    floor_ = now;
  }
  for (const auto& tag : tags) {
    purged_at_[tag] = now;
    auto t = tag_members_.find(tag);
    if (t == tag_members_.end()) continue;
    auto keys = std::move(t->second);  // erase_locked() edits tag_members_
    tag_members_.erase(t);
    for (const auto& k : keys)
      if (auto it = items_.find(k); it != items_.end()) erase_locked(it);
  }
  changed_locked();
}

void L1Cache::enable() {
  std::lock_guard lock(mutex_);
  floor_ = epoch_.fetch_add(1, std::memory_order_acq_rel) + 1;
  purged_at_.clear();
  clear_locked();
  subscription_.fetch_add(1, std::memory_order_acq_rel);
  enabled_.store(max_bytes_ > 0, std::memory_order_release);
}

void L1Cache::disable() {
  std::lock_guard lock(mutex_);
  enabled_.store(false, std::memory_order_release);
  subscription_.fetch_add(1, std::memory_order_acq_rel);
  floor_ = epoch_.fetch_add(1, std::memory_order_acq_rel) + 1;
  purged_at_.clear();
  clear_locked();
}

std::size_t L1Cache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::size_t L1Cache::entries() const {
  std::lock_guard lock(mutex_);
  return items_.size();
}

}  // namespace orc::cache
