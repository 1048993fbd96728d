// Request coalescing across the worker threads of one process.
#include "http/coalescer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace orc::http {

namespace asio = boost::asio;

namespace {
constexpr auto kNotStorableMemory = std::chrono::seconds(10);
constexpr std::size_t kNotStorableMax = 10000;
}  // namespace

void Coalescer::Lead::finish(SharedEntry result) {
  if (!c_) return;
  c_->complete(key_, std::move(result), true);
  c_ = nullptr;
}

void Coalescer::Lead::abandon() {
  if (!c_) return;
  c_->complete(key_, nullptr, false);
  c_ = nullptr;
}

void Coalescer::complete(const std::string& key, SharedEntry result, bool remember_not_storable) {
  std::vector<std::function<void(SharedEntry)>> waiters;
  {
    std::lock_guard lock(mutex_);
    auto it = flights_.find(key);
    if (it != flights_.end()) {
      waiters = std::move(it->second->waiters);
      flights_.erase(it);
    }
    if (!result && remember_not_storable) {
      if (not_storable_.size() >= kNotStorableMax) not_storable_.clear();  // bounded memory
      not_storable_[key] = std::chrono::steady_clock::now() + kNotStorableMemory;
    } else {
      not_storable_.erase(key);
    }
  }
  for (auto& w : waiters) w(result);
}

bool Coalescer::recently_not_storable(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = not_storable_.find(key);
  if (it == not_storable_.end()) return false;
  if (std::chrono::steady_clock::now() >= it->second) {
    not_storable_.erase(it);
    return false;
  }
  return true;
}

asio::awaitable<Coalescer::Lead> Coalescer::lead_or_follow(const std::string& key,
                                                           std::chrono::milliseconds wait,
                                                           SharedEntry& result, bool& followed) {
  followed = false;
  result = nullptr;
  auto ex = co_await asio::this_coro::executor;
  // The follower sleeps on a timer of its own executor; the leader wakes it by posting a cancel there.
  auto timer = std::make_shared<asio::steady_timer>(ex);
  auto slot = std::make_shared<SharedEntry>();
  auto done = std::make_shared<bool>(false);
  {
    std::lock_guard lock(mutex_);
    auto it = flights_.find(key);
    if (it == flights_.end()) {
      flights_.emplace(key, std::make_shared<Flight>());
      co_return Lead(this, key);
    }
    it->second->waiters.push_back([timer, slot, done](SharedEntry r) {
      asio::post(timer->get_executor(), [timer, slot, done, r = std::move(r)]() mutable {
        *slot = std::move(r);
        *done = true;
        timer->cancel();
      });
    });
  }
  followed = true;
  timer->expires_after(wait);
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  if (*done) result = *slot;  // otherwise the wait ran out: fetch on our own
  co_return Lead();
}

}  // namespace orc::http
