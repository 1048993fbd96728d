// Purges owed after a write (design.md section 5): the backend accepted a write but its purge failed (Redis
// down, slow, or this worker's breaker open). Until a later purge of those tags succeeds, reads whose tags
// include one of them neither hit nor fill: an entry from before the write must not be served or stored.
// One set per process, shared by the workers; the tags are replayed when a request finds the storage back.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace orc::cache {

class PendingPurges {
 public:
  // `on_size` is called with the number of owed tags after every change, under the lock (so calls are in
  // order): the metric.
  explicit PendingPurges(std::function<void(std::size_t)> on_size = {}) : on_size_(std::move(on_size)) {}

  struct Batch {
    std::vector<std::string> tags;
    std::uint64_t seq = 0;  // the newest failure included
  };

  // A purge of `tags` failed.
  void add(const std::vector<std::string>& tags);
  // Whether one of `tags` is owed. Lock-free when nothing is owed (the common case).
  bool any(const std::vector<std::string>& tags) const;
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }
  std::size_t size() const { return count_.load(std::memory_order_acquire); }

  // Claims the replay for one caller at a time: the owed tags, or an empty batch when nothing is owed or
  // another replay runs. Every claim is followed by settle() (on success) or release().
  Batch claim();
  // The batch was purged: forgets its tags unless a purge of one of them failed again after the claim.
  void settle(const Batch& batch);
  void release();

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t> owed_;  // tag -> sequence number of its latest failure
  std::uint64_t seq_ = 0;
  std::atomic<std::size_t> count_{0};
  bool replaying_ = false;
  std::function<void(std::size_t)> on_size_;
  void changed();  // with mutex_ held
};

}  // namespace orc::cache
