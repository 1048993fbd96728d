// Purges owed after a write (design.md section 5): the backend accepted a write but its purge failed (Redis
// down, slow, or this worker's breaker open). Until a later purge of those tags succeeds, reads whose tags
// include one of them neither hit nor fill: an entry from before the write must not be served or stored.
// One set per process, shared by the workers; the tags are replayed when a request finds the storage back.
#pragma once

#include <atomic>
#include <chrono>
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

  using TimePoint = std::chrono::steady_clock::time_point;
  // A replay that failed is not claimed again for this long: a Redis that answers every purge with an error
  // (maxmemory with noeviction, a read-only replica) would otherwise get one from each request.
  static constexpr std::chrono::milliseconds kRetryWait{100};

  // Claims the replay for one caller at a time: the owed tags, or an empty batch when nothing is owed,
  // another replay runs, or the last one failed less than kRetryWait before `now` (the steady clock: a wall
  // clock stepped back must not hold the replays). Every claim is followed by settle() (on success) or
  // release().
  Batch claim(TimePoint now);
  // The batch was purged: forgets its tags unless a purge of one of them failed again after the claim.
  void settle(const Batch& batch);
  // The replay failed (or was abandoned) at `now`.
  void release(TimePoint now);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t> owed_;  // tag -> sequence number of its latest failure
  std::uint64_t seq_ = 0;
  std::atomic<std::size_t> count_{0};
  bool replaying_ = false;
  TimePoint retry_at_{};  // no claim before this, after a failed replay
  std::function<void(std::size_t)> on_size_;
  void changed();  // with mutex_ held
};

}  // namespace orc::cache
