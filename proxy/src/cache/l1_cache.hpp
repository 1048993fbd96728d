// The L1: an in-process first level in front of Redis (design.md section 2, step 3). It keeps deserialised
// entries, shared by every worker thread, bounded by bytes (least recently used go first) and by age, so a
// hit needs no Redis round trip, no copy of the blob and no decoding.
//
// It must never serve what a purge removed from Redis:
// * every purge, this process's (after Redis confirmed it) and every other instance's (through the Redis
//   channel redis/purge_listener subscribes to), drops the entries of its tags, moves the epoch (a purge
//   sequence number) and records it as the last purge of each of its tags;
// * an insert carries the epoch read before the Redis read (or the fill) that produced the entry, and is
//   refused when one of its tags was purged since: that purge may have removed what the read saw. Purges of
//   other tags do not refuse it. (The record of purged tags is bounded: past kPurgedTagsMax tags it is
//   forgotten and every insert that read before then is refused, as after enable() and disable().)
// * while the purge listener is not subscribed (Redis down, restarted, unreachable), the L1 is off: empty,
//   every get misses, every insert is refused.
// The one window left is the delivery of another instance's purge message (about a millisecond on a local
// network): a read through this instance may still see the pre-write entry during it. docs/caching.md
// section "L1" says so; `cache.l1_budget: 0` turns the L1 off.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/cache_entry.hpp"

namespace orc::cache {

class L1Cache {
 public:
  using Entry = std::shared_ptr<const CacheEntry>;

  // `max_bytes`: the budget (bodies, headers and keys); `max_age`: how long an entry is kept at most, a bound
  // on staleness should a purge message ever be lost. Starts off: enable() once the purge listener is
  // subscribed. `on_size` (bytes, entries) is called under the lock after every change: the metrics.
  using SizeHook = std::function<void(std::size_t bytes, std::size_t entries)>;
  L1Cache(std::size_t max_bytes, std::chrono::milliseconds max_age, SizeHook on_size = {});

  // Read before the storage read (or the fill's generations read) whose result will be inserted.
  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

  // The entry under `key` (a full storage key, a Vary marker's or a variant's), or null. `now_ms`: wall
  // clock. An entry older than max_age is refreshed from Redis by one caller: that caller gets null and
  // `*refresh` set (it must insert what Redis holds now, or erase() the key when Redis has none), while the
  // others keep getting the entry for up to kRefreshClaim meanwhile (and again after a read that failed), so
  // the expiry of a hot entry sends one read a second to Redis, not a herd.
  Entry get(const std::string& key, std::int64_t now_ms, bool* refresh = nullptr);
  static constexpr std::int64_t kRefreshClaim = 1000;  // ms

  // Keeps `entry` under `key`, indexed under `tags`: served for max_age, then refreshed (get()), and never
  // past the end of its last stale window. Refused (false) when the L1 is off, when one of `tags` was purged
  // after `epoch_seen` (or the L1 was toggled, or its record of purged tags overflowed, since), or when the
  // entry is larger than the budget.
  bool insert(const std::string& key, Entry entry, const std::vector<std::string>& tags,
              std::uint64_t epoch_seen, std::int64_t now_ms);

  // A purge of `tags` reached Redis: their entries go, and fills in flight under them will not be inserted.
  void invalidate(const std::vector<std::string>& tags);
  // Drops one key (a refresh found nothing in Redis, or could not read it).
  void erase(const std::string& key);

  // On: the purge listener is subscribed (every purge from now on reaches this process). Off: empties the
  // L1 and refuses everything until the next enable(). Both move the epoch.
  void enable();
  void disable();
  bool enabled() const { return enabled_.load(std::memory_order_acquire); }
  // Moves on every enable() and disable(): the same value and enabled() at two times mean the listener was
  // subscribed throughout, so every purge in between reached this process.
  std::uint64_t subscription() const { return subscription_.load(std::memory_order_acquire); }

  std::size_t bytes() const;
  std::size_t entries() const;
  std::size_t max_bytes() const { return max_bytes_; }
  static constexpr std::size_t kPurgedTagsMax = 16384;

 private:
  struct Node;
  struct Tag;
  // An entry's place in one tag's list of entries: intrusive, so that indexing an entry under its tags and
  // dropping it again copy and hash no key.
  struct Member {
    Tag* tag;
    Node* node;
    Member* prev;
    Member* next;
  };
  struct Tag {
    const std::string* name = nullptr;  // the key of its element of tags_
    Member* head = nullptr;
    std::size_t size = 0;
  };
  using Lru = std::list<Node>;  // front: most recently used
  struct Node {
    std::string key;  // the one copy: items_ views it
    Entry entry;
    std::int64_t expires_ms;  // the end of its last stale window: gone then
    std::int64_t refresh_ms;  // stored + max_age: refreshed from Redis from then on
    std::int64_t refresh_claimed_ms;
    std::size_t cost;
    std::vector<Member> members;  // one per distinct tag; sized before linking, never resized after
    Lru::iterator self;
  };

  // Unlinks and frees `node`; a tag left without entries goes too, but for `keep` (the caller's to erase).
  void erase_locked(Lru::iterator node, const Tag* keep = nullptr);
  void clear_locked();
  void changed_locked() {
    if (on_size_) on_size_(bytes_, items_.size());
  }

  const std::size_t max_bytes_;
  const std::chrono::milliseconds max_age_;
  std::atomic<std::uint64_t> epoch_{0};
  // Under the mutex: the epoch of each tag's last purge, and the epoch before which every insert is refused.
  std::unordered_map<std::string, std::uint64_t> purged_at_;
  std::uint64_t floor_ = 0;
  std::atomic<bool> enabled_{false};
  std::atomic<std::uint64_t> subscription_{0};
  mutable std::mutex mutex_;
  Lru lru_;
  std::unordered_map<std::string_view, Node*> items_;
  std::unordered_map<std::string, Tag> tags_;  // only tags with entries
  std::size_t bytes_ = 0;
  SizeHook on_size_;
};

}  // namespace orc::cache
