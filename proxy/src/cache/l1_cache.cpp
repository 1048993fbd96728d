// The in-process L1 in front of Redis.
#include "cache/l1_cache.hpp"

#include <algorithm>

namespace orc::cache {
namespace {

std::size_t cost_of(const std::string& key, const CacheEntry& e, const std::vector<std::string>& tags) {
  std::size_t n = 256 + key.size() + e.body.size() + e.material.size() + e.etag.size();
  n += e.headers.bytes() + 32 * e.headers.size();  // the fields' one buffer and their offsets, with slack
  for (const auto& v : e.vary_names) n += 32 + v.size();
  for (const auto& t : tags) n += 64 + t.size();
  return n;
}

}  // namespace

L1Cache::L1Cache(std::size_t max_bytes, std::chrono::milliseconds max_age, SizeHook on_size)
    : max_bytes_(max_bytes), max_age_(max_age), on_size_(std::move(on_size)) {}

void L1Cache::erase_locked(Lru::iterator node, const Tag* keep) {
  for (auto& m : node->members) {
    Tag* tag = m.tag;
    if (m.prev != nullptr)
      m.prev->next = m.next;
    else
      tag->head = m.next;
    if (m.next != nullptr) m.next->prev = m.prev;
    if (--tag->size == 0 && tag != keep) tags_.erase(tags_.find(*tag->name));
  }
  bytes_ -= node->cost;
  items_.erase(std::string_view(node->key));
  lru_.erase(node);
}

void L1Cache::clear_locked() {
  items_.clear();
  tags_.clear();
  lru_.clear();
  bytes_ = 0;
  changed_locked();
}

L1Cache::Entry L1Cache::get(const std::string& key, std::int64_t now_ms, bool* refresh) {
  if (refresh) *refresh = false;
  if (!enabled()) return nullptr;
  std::lock_guard lock(mutex_);
  auto it = items_.find(std::string_view(key));
  if (it == items_.end()) return nullptr;
  Node& node = *it->second;
  if (now_ms >= node.expires_ms) {
    erase_locked(node.self);
    changed_locked();
    return nullptr;
  }
  if (now_ms >= node.refresh_ms && now_ms >= node.refresh_claimed_ms + kRefreshClaim) {
    node.refresh_claimed_ms = now_ms;  // this caller asks Redis; the others keep the entry meanwhile
    if (refresh) *refresh = true;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, node.self);
  return node.entry;
}

void L1Cache::erase(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (auto it = items_.find(std::string_view(key)); it != items_.end()) {
    erase_locked(it->second->self);
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
  if (auto old = items_.find(std::string_view(key)); old != items_.end()) erase_locked(old->second->self);
  while (bytes_ + cost > max_bytes_ && !lru_.empty()) erase_locked(std::prev(lru_.end()));

  Node& node = lru_.emplace_front(
      Node{key, std::move(entry), last_use, now_ms + max_age_.count(), now_ms - kRefreshClaim, cost, {}, {}});
  node.self = lru_.begin();
  node.members.reserve(tags.size());  // no reallocation below: the tag lists point into it
  for (const auto& name : tags) {
    auto [t, added] = tags_.try_emplace(name);
    Tag* tag = &t->second;
    if (added) tag->name = &t->first;
    if (std::any_of(node.members.begin(), node.members.end(), [&](const Member& m) { return m.tag == tag; }))
      continue;
    Member& m = node.members.emplace_back(Member{tag, &node, nullptr, tag->head});
    if (tag->head != nullptr) tag->head->prev = &m;
    tag->head = &m;
    ++tag->size;
  }
  items_.emplace(std::string_view(node.key), &node);
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
  for (const auto& name : tags) {
    purged_at_[name] = now;
    auto t = tags_.find(name);
    if (t == tags_.end()) continue;
    const Tag* tag = &t->second;
    while (tag->head != nullptr) erase_locked(tag->head->node->self, tag);
    tags_.erase(t);
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
