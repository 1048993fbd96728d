// The in-process storage backend.
#include "cache/memory_storage.hpp"

namespace orc::cache {

MemoryStorage::MemoryStorage(std::size_t max_bytes, Clock clock, std::chrono::milliseconds max_fill)
    : max_bytes_(max_bytes),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })),
      max_fill_(max_fill) {}

void MemoryStorage::erase_locked(EntryMap::iterator it) {
  bytes_ -= cost(it->first, it->second.sealed);
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

Generations MemoryStorage::generations_locked(const std::vector<std::string>& tags, TimePoint now) const {
  Generations out;
  out.read_at = now;
  out.tokens.reserve(tags.size());
  for (const auto& tag : tags) {
    auto it = generations_.find(tag);
    const bool live = it != generations_.end() && now < it->second.expires;
    out.tokens.push_back(live ? it->second.token : std::string());
  }
  sealed::choose_new_tokens(out, tags);
  return out;
}

void MemoryStorage::keep_generation_locked(const std::string& tag, std::string token, TimePoint at_least,
                                           TimePoint expires, TimePoint now) {
  while (!generation_expiry_.empty() && generation_expiry_.top().first <= now) {
    auto it = generations_.find(generation_expiry_.top().second);
    if (it != generations_.end() && it->second.expires <= now) generations_.erase(it);
    generation_expiry_.pop();
  }
  auto& g = generations_[tag];
  if (g.token != token || g.expires <= now) {  // a new generation (an expired one counts as none)
    g.token = std::move(token);
    g.expires = expires;
  } else if (g.expires < at_least) {
    g.expires = expires;
  } else {
    return;
  }
  generation_expiry_.emplace(expires, tag);
}

Storage::Snapshot MemoryStorage::read_now(const std::string& key, const std::vector<std::string>& tags) {
  std::lock_guard lock(mutex_);
  const TimePoint now = clock_();
  Snapshot out;
  out.generations = generations_locked(tags, now);
  auto it = entries_.find(key);
  if (it == entries_.end()) return out;
  if (now >= it->second.expires) {
    erase_locked(it);
    return out;
  }
  out.blob = sealed::unseal(it->second.sealed, out.generations);
  // A hit makes it the most recently used; an outdated entry drifts to the cold end and goes first.
  if (out.blob) lru_.splice(lru_.begin(), lru_, it->second.lru);
  return out;
}

Generations MemoryStorage::generations_now(const std::vector<std::string>& tags) {
  std::lock_guard lock(mutex_);
  return generations_locked(tags, clock_());
}

bool MemoryStorage::put_if_current_now(const std::string& key, std::string blob,
                                       std::chrono::milliseconds ttl, const std::vector<std::string>& tags,
                                       const Generations& seen) {
  std::lock_guard lock(mutex_);
  const TimePoint now = clock_();
  if (seen.tokens.size() != tags.size() || sealed::put_refused(seen, now, ttl, max_fill_)) return false;
  for (std::size_t i = 0; i < tags.size(); ++i) {  // a purge intervened, or another fill gave a first one
    auto it = generations_.find(tags[i]);
    const std::string_view current =
        it != generations_.end() && now < it->second.expires ? std::string_view(it->second.token) : "";
    if (!sealed::still_current(current, seen.tokens[i], i < seen.new_tokens.size() ? seen.new_tokens[i] : ""))
      return false;
  }
  auto tokens = sealed::with_new_tokens(seen);
  auto value = sealed::seal(std::move(blob), tokens);
  const std::size_t need = cost(key, value);
  if (need > max_bytes_) return false;

  // Every generation lives at least as long as the entry (extended to twice its TTL when shorter, as the fill
  // script does); a tag without one gets the token sealed.
  for (std::size_t i = 0; i < tags.size(); ++i)
    keep_generation_locked(tags[i], tokens[i], now + ttl, now + sealed::kGenerationReach * ttl, now);
  if (auto old = entries_.find(key); old != entries_.end()) erase_locked(old);
  // Expired and outdated entries drift to the cold end too, so they go first; no full sweep.
  while (bytes_ + need > max_bytes_ && !lru_.empty()) erase_locked(entries_.find(lru_.back()));

  lru_.push_front(key);
  entries_.emplace(key, Entry{std::move(value), now + ttl, lru_.begin()});
  bytes_ += need;
  return true;
}

void MemoryStorage::purge_now(const std::vector<std::string>& tags) {
  std::lock_guard lock(mutex_);
  const TimePoint now = clock_();
  for (const auto& tag : tags)
    keep_generation_locked(tag, sealed::new_generation(), now + max_fill_, now + max_fill_, now);
}

std::size_t MemoryStorage::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::size_t MemoryStorage::entries() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::size_t MemoryStorage::generation_count() const {
  std::lock_guard lock(mutex_);
  return generations_.size();
}

boost::asio::awaitable<StorageResult<Storage::Snapshot>> MemoryStorage::read(
    const std::string& key, const std::vector<std::string>& tags) {
  co_return StorageResult<Snapshot>{StorageStatus::ok, read_now(key, tags)};
}

boost::asio::awaitable<StorageResult<Generations>> MemoryStorage::generations(
    const std::vector<std::string>& tags) {
  co_return StorageResult<Generations>{StorageStatus::ok, generations_now(tags)};
}

boost::asio::awaitable<StorageResult<bool>> MemoryStorage::put_if_current(
    const std::string& key, std::string blob, std::chrono::milliseconds ttl,
    const std::vector<std::string>& tags, const Generations& seen) {
  if (seen.tokens.size() != tags.size()) co_return StorageResult<bool>{StorageStatus::error, false};
  co_return StorageResult<bool>{StorageStatus::ok, put_if_current_now(key, std::move(blob), ttl, tags, seen)};
}

boost::asio::awaitable<StorageStatus> MemoryStorage::purge(const std::vector<std::string>& tags) {
  purge_now(tags);
  co_return StorageStatus::ok;
}

}  // namespace orc::cache
