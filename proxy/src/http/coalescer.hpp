// Request coalescing: one upstream fetch per cache key per process at a time. Followers wait for the
// leader's result; a result that was not storable releases them to fetch on their own, and the key is
// remembered as not storable for a short while so later requests do not queue behind it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/cache_entry.hpp"

namespace orc::http {

using SharedEntry = std::shared_ptr<const cache::CacheEntry>;

class Coalescer {
 public:
  class Lead {
   public:
    Lead() = default;
    Lead(Coalescer* c, std::string key) : c_(c), key_(std::move(key)) {}
    Lead(Lead&& o) noexcept : c_(std::exchange(o.c_, nullptr)), key_(std::move(o.key_)) {}
    Lead& operator=(Lead&& o) noexcept {
      if (this != &o) {
        abandon();
        c_ = std::exchange(o.c_, nullptr);
        key_ = std::move(o.key_);
      }
      return *this;
    }
    ~Lead() { abandon(); }  // an abandoned fetch (error, early return) says nothing about storability
    // Hands the result to every follower (null: not storable; they fetch on their own, and the key is
    // remembered as not storable for a while).
    void finish(SharedEntry result);
    // Releases the followers to fetch on their own without marking the key: the response was storable but
    // was not stored (a write purged a tag meanwhile, or the storage failed).
    void abandon();
    explicit operator bool() const { return c_ != nullptr; }

   private:
    Coalescer* c_ = nullptr;
    std::string key_;
  };

  // Leads the fetch for `key` (a Lead is returned), or waits for the current leader (up to `wait`) and
  // returns its result through `followed` (null result: fetch yourself). `followed` is set to true when this
  // request waited for another.
  boost::asio::awaitable<Lead> lead_or_follow(const std::string& key, std::chrono::milliseconds wait,
                                              SharedEntry& result, bool& followed);

  // Whether the key was recently found not storable (then nobody queues for it).
  bool recently_not_storable(const std::string& key);

 private:
  struct Flight {
    std::vector<std::function<void(SharedEntry)>> waiters;
  };
  void complete(const std::string& key, SharedEntry result, bool remember_not_storable);

  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> not_storable_;
};

}  // namespace orc::http
