// The `memory` storage backend: an in-process LRU bounded by bytes (sealed blob + key sizes), with the layout
// of storage.hpp: tags are generations that expire, entries are sealed with them. One instance is shared by
// every worker thread (a mutex guards it); its awaitables complete at once. Expiry reads an injectable clock
// so tests need not sleep.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <vector>

#include "cache/storage.hpp"

namespace orc::cache {

class MemoryStorage final : public Storage {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Clock = std::function<TimePoint()>;

  // `max_bytes`: the budget for sealed blobs plus keys; the least recently used entries go first when a put
  // would exceed it. An entry larger than the whole budget is not stored.
  explicit MemoryStorage(std::size_t max_bytes, Clock clock = {},
                         std::chrono::milliseconds max_fill = kDefaultMaxFill);

  std::string_view name() const override { return "memory"; }
  boost::asio::awaitable<StorageResult<Snapshot>> read(const std::string& key,
                                                       const std::vector<std::string>& tags) override;
  boost::asio::awaitable<StorageResult<Generations>> generations(
      const std::vector<std::string>& tags) override;
  boost::asio::awaitable<StorageResult<bool>> put_if_current(const std::string& key, std::string blob,
                                                             std::chrono::milliseconds ttl,
                                                             const std::vector<std::string>& tags,
                                                             const Generations& seen) override;
  boost::asio::awaitable<StorageStatus> purge(const std::vector<std::string>& tags) override;

  // Synchronous forms of the above (the awaitables call these): handy for callers off any executor.
  Snapshot read_now(const std::string& key, const std::vector<std::string>& tags);
  Generations generations_now(const std::vector<std::string>& tags);
  bool put_if_current_now(const std::string& key, std::string blob, std::chrono::milliseconds ttl,
                          const std::vector<std::string>& tags, const Generations& seen);
  void purge_now(const std::vector<std::string>& tags);

  std::size_t bytes() const;             // sealed blobs + keys held now (expired entries count until dropped)
  std::size_t entries() const;           // entries held now
  std::size_t generation_count() const;  // tags with a generation held now (expired ones count until dropped)
  std::size_t max_bytes() const { return max_bytes_; }

 private:
  struct Entry {
    std::string sealed;
    TimePoint expires;
    std::list<std::string>::iterator lru;  // position in lru_
  };
  using EntryMap = std::unordered_map<std::string, Entry>;
  struct Generation {
    std::string token;
    TimePoint expires;
  };

  void erase_locked(EntryMap::iterator it);
  Generations generations_locked(const std::vector<std::string>& tags, TimePoint now) const;
  // Gives `tag` the generation `token` until `expires`, or, when the tag has that one already and it ends
  // before `at_least`, extends it to `expires`; drops the expired generations.
  void keep_generation_locked(const std::string& tag, std::string token, TimePoint at_least,
                              TimePoint expires, TimePoint now);
  static std::size_t cost(const std::string& key, const std::string& sealed) {
    return key.size() + sealed.size();
  }

  const std::size_t max_bytes_;
  Clock clock_;
  const std::chrono::milliseconds max_fill_;
  mutable std::mutex mutex_;
  EntryMap entries_;
  std::list<std::string> lru_;  // front: most recently used
  std::unordered_map<std::string, Generation> generations_;
  // (expiry, tag), soonest first: a pair whose tag's generation was extended since is skipped when it
  // comes up. One pair per generation set or extended within its lifetime.
  using Expiry = std::pair<TimePoint, std::string>;
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> generation_expiry_;
  std::size_t bytes_ = 0;
};

}  // namespace orc::cache
