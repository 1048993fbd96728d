// The in-process storage backend.
#include "cache/memory_storage.hpp"

#include <algorithm>

namespace orc::cache {

MemoryStorage::MemoryStorage(std::size_t max_bytes, Clock clock)
    : max_bytes_(max_bytes),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

void MemoryStorage::erase_locked(EntryMap::iterator it) {
  for (const auto& tag : it->second.tags) {
    auto t = tag_members_.find(tag);
    if (t == tag_members_.end()) continue;
    t->second.erase(it->first);
    if (t->second.empty()) tag_members_.erase(t);  // tag sets never outlive their entries
  }
  bytes_ -= cost(it->first, it->second.blob);
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

std::optional<std::string> MemoryStorage::get_now(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (clock_() >= it->second.expires) {
    erase_locked(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);  // a hit makes it the most recently used
  return it->second.blob;
}

Generations MemoryStorage::generations_now(const std::vector<std::string>& tags) {
  std::lock_guard lock(mutex_);
  Generations out;
  out.reserve(tags.size());
  for (const auto& tag : tags) {
    auto it = generations_.find(tag);
    out.push_back(it == generations_.end() ? 0 : it->second);
  }
  return out;
}

bool MemoryStorage::put_if_current_now(const std::string& key, std::string blob,
                                       std::chrono::milliseconds ttl, const std::vector<std::string>& tags,
                                       const Generations& seen) {
  std::lock_guard lock(mutex_);
  if (seen.size() != tags.size()) return false;
  for (std::size_t i = 0; i < tags.size(); ++i) {
    auto it = generations_.find(tags[i]);
    if ((it == generations_.end() ? 0 : it->second) != seen[i]) return false;  // a purge intervened
  }
  if (ttl <= std::chrono::milliseconds::zero()) return false;
  const std::size_t need = cost(key, blob);
  if (need > max_bytes_) return false;

  if (auto old = entries_.find(key); old != entries_.end()) erase_locked(old);
  const TimePoint now = clock_();
  // Expired entries drift to the cold end too, so the least recently used go first; no full sweep.
  while (bytes_ + need > max_bytes_ && !lru_.empty()) erase_locked(entries_.find(lru_.back()));

  lru_.push_front(key);
  Entry e{std::move(blob), now + ttl, {}, lru_.begin()};
  e.tags.reserve(tags.size());
  for (const auto& tag : tags) {
    if (std::find(e.tags.begin(), e.tags.end(), tag) != e.tags.end()) continue;
    e.tags.push_back(tag);
    tag_members_[tag].insert(key);
  }
  entries_.emplace(key, std::move(e));
  bytes_ += need;
  return true;
}

std::uint64_t MemoryStorage::purge_now(const std::vector<std::string>& tags,
                                       const std::vector<std::string>& keys) {
  std::lock_guard lock(mutex_);
  const TimePoint now = clock_();
  std::uint64_t deleted = 0;
  auto drop = [&](const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    if (now < it->second.expires) ++deleted;  // an expired entry was already gone, as in Redis
    erase_locked(it);
  };
  for (const auto& tag : tags) {
    ++generations_[tag];
    auto t = tag_members_.find(tag);
    if (t == tag_members_.end()) continue;
    const std::vector<std::string> members(t->second.begin(), t->second.end());  // erase_locked edits the set
    for (const auto& key : members) drop(key);
  }
  for (const auto& key : keys) drop(key);
  return deleted;
}

std::size_t MemoryStorage::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::size_t MemoryStorage::entries() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

boost::asio::awaitable<StorageResult<std::optional<std::string>>> MemoryStorage::get(const std::string& key) {
  co_return StorageResult<std::optional<std::string>>{StorageStatus::ok, get_now(key)};
}

boost::asio::awaitable<StorageResult<Generations>> MemoryStorage::generations(
    const std::vector<std::string>& tags) {
  co_return StorageResult<Generations>{StorageStatus::ok, generations_now(tags)};
}

boost::asio::awaitable<StorageResult<bool>> MemoryStorage::put_if_current(
    const std::string& key, std::string blob, std::chrono::milliseconds ttl,
    const std::vector<std::string>& tags, const Generations& seen) {
  if (seen.size() != tags.size()) co_return StorageResult<bool>{StorageStatus::error, false};
  co_return StorageResult<bool>{StorageStatus::ok, put_if_current_now(key, std::move(blob), ttl, tags, seen)};
}

boost::asio::awaitable<StorageResult<std::uint64_t>> MemoryStorage::purge(
    const std::vector<std::string>& tags, const std::vector<std::string>& keys) {
  co_return StorageResult<std::uint64_t>{StorageStatus::ok, purge_now(tags, keys)};
}

}  // namespace orc::cache
