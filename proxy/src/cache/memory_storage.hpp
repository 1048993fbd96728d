// The `memory` storage backend: an in-process LRU bounded by bytes (blob + key sizes), tags as sets of keys
// plus generation counters. One instance is shared by every worker thread (a mutex guards it); its
// awaitables complete at once. Expiry reads an injectable clock so tests need not sleep.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "cache/storage.hpp"

namespace orc::cache {

class MemoryStorage final : public Storage {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Clock = std::function<TimePoint()>;

  // `max_bytes`: the budget for blobs plus keys; the least recently used entries go first when a put
  // would exceed it. An entry larger than the whole budget is not stored.
  explicit MemoryStorage(std::size_t max_bytes, Clock clock = {});

  std::string_view name() const override { return "memory"; }
  boost::asio::awaitable<StorageResult<std::optional<std::string>>> get(const std::string& key) override;
  boost::asio::awaitable<StorageResult<Generations>> generations(
      const std::vector<std::string>& tags) override;
  boost::asio::awaitable<StorageResult<bool>> put_if_current(const std::string& key, std::string blob,
                                                             std::chrono::milliseconds ttl,
                                                             const std::vector<std::string>& tags,
                                                             const Generations& seen) override;
  boost::asio::awaitable<StorageResult<std::uint64_t>> purge(const std::vector<std::string>& tags,
                                                             const std::vector<std::string>& keys) override;

  // Synchronous forms of the above (the awaitables call these): handy for callers off any executor.
  std::optional<std::string> get_now(const std::string& key);
  Generations generations_now(const std::vector<std::string>& tags);
  bool put_if_current_now(const std::string& key, std::string blob, std::chrono::milliseconds ttl,
                          const std::vector<std::string>& tags, const Generations& seen);
  std::uint64_t purge_now(const std::vector<std::string>& tags, const std::vector<std::string>& keys);

  std::size_t bytes() const;    // blobs + keys held now (expired entries count until they are dropped)
  std::size_t entries() const;  // entries held now
  std::size_t max_bytes() const { return max_bytes_; }

 private:
  struct Entry {
    std::string blob;
    TimePoint expires;
    std::vector<std::string> tags;
    std::list<std::string>::iterator lru;  // position in lru_
  };
  using EntryMap = std::unordered_map<std::string, Entry>;

  void erase_locked(EntryMap::iterator it);
  static std::size_t cost(const std::string& key, const std::string& blob) {
    return key.size() + blob.size();
  }

  const std::size_t max_bytes_;
  Clock clock_;
  mutable std::mutex mutex_;
  EntryMap entries_;
  std::list<std::string> lru_;  // front: most recently used
  std::unordered_map<std::string, std::unordered_set<std::string>> tag_members_;
  std::unordered_map<std::string, std::uint64_t> generations_;  // tags never purged are absent (0)
  std::size_t bytes_ = 0;
};

}  // namespace orc::cache
