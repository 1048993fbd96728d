// Request coalescing: one backend fetch per cache key per process at a time (a flight). Followers wait for
// the leader's answer and are served it, whether or not it could be stored.
//
// Read-after-write: a purge of one of a flight's tags seals the flight. A sealed flight takes no new
// followers: a request arriving after the purge (the writer's own next read included) leads a new flight,
// so it never gets an answer fetched before the write. The followers that joined before the purge are still
// served the leader's answer: their reads overlapped the write, so either state is a correct answer.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/cache_entry.hpp"
#include "util/clock.hpp"

namespace orc::cache {

using SharedEntry = std::shared_ptr<const CacheEntry>;

class Coalescer {
 public:
  struct Flight;

  // Leadership of one flight. Ends with finish() or abandon(); the destructor abandons, so every path of a
  // leader (errors, cancellation) releases its followers.
  class Lead {
   public:
    Lead() = default;
    Lead(Coalescer* c, std::shared_ptr<Flight> f) : c_(c), flight_(std::move(f)) {}
    Lead(Lead&& o) noexcept : c_(std::exchange(o.c_, nullptr)), flight_(std::move(o.flight_)) {}
    Lead& operator=(Lead&& o) noexcept;
    ~Lead() { abandon(); }
    // The leader has the whole response; only its store is left. Requests that join from now on did not wait
    // for the backend: when the answer is stored they are told so (Joined::stored_when_joined).
    void answered();
    // The answer, for every follower: served to them (stored or not; `stored`: it is in the cache). Null: the
    // response is not storable; they fetch on their own and the key is remembered as not storable for a
    // while.
    void finish(SharedEntry answer, bool stored = false);
    // No answer (the backend failed, the relay broke): followers fetch on their own; the key is not marked.
    void abandon();
    // Whether a purge of one of the flight's tags was applied since it started: its answer may predate a
    // write, so it must not be stored; its followers (who joined before the purge) may still be served it.
    bool sealed() const;
    explicit operator bool() const { return c_ != nullptr; }

   private:
    Coalescer* c_ = nullptr;
    std::shared_ptr<Flight> flight_;
  };

  struct Joined {
    Lead lead;              // set when this request leads the flight
    bool followed = false;  // this request waited for another's flight
    SharedEntry answer;     // a follower's answer (null: fetch on your own)
    // The follower joined after the leader had the whole response (Lead::answered()) and the answer was
    // stored: it is served an entry of the cache without having waited for the backend, as a hit is.
    bool stored_when_joined = false;
  };

  // `not_storable_memory`: how long a key found not storable stops requests from queueing behind it.
  explicit Coalescer(const util::Clock& clock,
                     std::chrono::milliseconds not_storable_memory = std::chrono::seconds(10));

  // Leads the flight of `key` (whose entries carry `tags`), or waits for the open flight's answer, at most
  // `wait` (a bound only: every leader ends its flight).
  boost::asio::awaitable<Joined> join(const std::string& key, const std::vector<std::string>& tags,
                                      std::chrono::milliseconds wait);
  // Leads only when no open flight holds `key` (a background refresh): never waits, never registers a waiter.
  std::optional<Lead> try_lead(const std::string& key, const std::vector<std::string>& tags);
  // A purge of `tags` was applied (here or, through the purge listener, by another instance): the open
  // flights carrying one of them are sealed.
  void seal(const std::vector<std::string>& tags);
  // Whether the key was recently found not storable (then nobody queues for it).
  bool recently_not_storable(const std::string& key);

  std::size_t open_flights() const;
  // The requests waiting for another's flight now.
  std::size_t waiting() const { return waiting_.load(std::memory_order_relaxed); }

 private:
  void complete(const std::shared_ptr<Flight>& flight, SharedEntry answer, bool stored,
                bool remember_not_storable);
  std::shared_ptr<Flight> open_locked(const std::string& key, const std::vector<std::string>& tags);
  void close_locked(const std::shared_ptr<Flight>& flight);

  const util::Clock& clock_;
  const std::chrono::milliseconds not_storable_memory_;
  mutable std::mutex mutex_;
  std::atomic<std::size_t> waiting_{0};
  std::unordered_map<std::string, std::shared_ptr<Flight>> open_;         // by key; sealed ones are out
  std::unordered_multimap<std::string, std::shared_ptr<Flight>> by_tag_;  // the open flights' tags
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> not_storable_;
};

}  // namespace orc::cache
