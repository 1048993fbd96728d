// Request coalescing across the worker threads of one process, sealed by purges (coalescer.hpp).
#include "cache/coalescer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace orc::cache {

namespace asio = boost::asio;

namespace {
constexpr std::size_t kNotStorableMax = 10000;
}  // namespace

struct Coalescer::Flight {
  std::string key;
  std::vector<std::string> tags;
  std::vector<std::function<void(SharedEntry, bool stored)>> waiters;
  bool open = true;       // in open_: new requests for the key join it
  bool answered = false;  // the leader has the whole response (Lead::answered())
  bool done = false;
};

Coalescer::Lead& Coalescer::Lead::operator=(Lead&& o) noexcept {
  if (this != &o) {
    abandon();
    c_ = std::exchange(o.c_, nullptr);
    flight_ = std::move(o.flight_);
  }
  return *this;
}

void Coalescer::Lead::answered() {
  if (!c_) return;
  std::lock_guard lock(c_->mutex_);
  flight_->answered = true;
}

void Coalescer::Lead::finish(SharedEntry answer, bool stored) {
  if (!c_) return;
  const bool not_storable = answer == nullptr;
  std::exchange(c_, nullptr)->complete(flight_, std::move(answer), stored && !not_storable, not_storable);
  flight_.reset();
}

bool Coalescer::Lead::sealed() const {
  if (!c_) return false;
  std::lock_guard lock(c_->mutex_);
  return !flight_->open;
}

void Coalescer::Lead::abandon() {
  if (!c_) return;
  std::exchange(c_, nullptr)->complete(flight_, nullptr, false, false);
  flight_.reset();
}

Coalescer::Coalescer(const util::Clock& clock, std::chrono::milliseconds not_storable_memory)
    : clock_(clock), not_storable_memory_(not_storable_memory) {}

std::shared_ptr<Coalescer::Flight> Coalescer::open_locked(const std::string& key,
                                                          const std::vector<std::string>& tags) {
  auto flight = std::make_shared<Flight>();
  flight->key = key;
  for (const auto& t : tags)
    if (std::find(flight->tags.begin(), flight->tags.end(), t) == flight->tags.end())
      flight->tags.push_back(t);
  open_.emplace(key, flight);
  for (const auto& t : flight->tags) by_tag_.emplace(t, flight);
  return flight;
}

void Coalescer::close_locked(const std::shared_ptr<Flight>& flight) {
  if (!flight->open) return;
  flight->open = false;
  if (auto it = open_.find(flight->key); it != open_.end() && it->second == flight) open_.erase(it);
  for (const auto& t : flight->tags) {
    auto [first, last] = by_tag_.equal_range(t);
    for (auto it = first; it != last; ++it)
      if (it->second == flight) {
        by_tag_.erase(it);
        break;
      }
  }
}

void Coalescer::complete(const std::shared_ptr<Flight>& flight, SharedEntry answer, bool stored,
                         bool remember_not_storable) {
  std::vector<std::function<void(SharedEntry, bool)>> waiters;
  {
    std::lock_guard lock(mutex_);
    if (flight->done) return;
    flight->done = true;
    waiters = std::move(flight->waiters);
    close_locked(flight);
    if (remember_not_storable) {
      if (not_storable_.size() >= kNotStorableMax) not_storable_.clear();  // bounded memory
      not_storable_[flight->key] = clock_.steady() + not_storable_memory_;
    } else {
      not_storable_.erase(flight->key);
    }
  }
  for (auto& w : waiters) w(answer, stored);
}

bool Coalescer::recently_not_storable(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = not_storable_.find(key);
  if (it == not_storable_.end()) return false;
  if (clock_.steady() >= it->second) {
    not_storable_.erase(it);
    return false;
  }
  return true;
}

std::optional<Coalescer::Lead> Coalescer::try_lead(const std::string& key,
                                                   const std::vector<std::string>& tags) {
  std::lock_guard lock(mutex_);
  if (open_.count(key)) return std::nullopt;
  return Lead(this, open_locked(key, tags));
}

void Coalescer::seal(const std::vector<std::string>& tags) {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Flight>> sealed;
  for (const auto& t : tags) {
    auto [first, last] = by_tag_.equal_range(t);
    for (auto it = first; it != last; ++it) sealed.push_back(it->second);
  }
  for (const auto& f : sealed) close_locked(f);
}

std::size_t Coalescer::open_flights() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}

asio::awaitable<Coalescer::Joined> Coalescer::join(const std::string& key,
                                                   const std::vector<std::string>& tags,
                                                   std::chrono::milliseconds wait) {
  auto ex = co_await asio::this_coro::executor;
  // The follower sleeps on a timer of its own executor; the leader wakes it by posting a cancel there. A
  // leader needs none of it.
  struct Wait {
    explicit Wait(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    SharedEntry answer;
    bool done = false;
    bool stored = false;
  };
  std::shared_ptr<Wait> w;
  bool answered = false;
  {
    std::lock_guard lock(mutex_);
    auto it = open_.find(key);
    if (it == open_.end()) {
      Joined leader;
      leader.lead = Lead(this, open_locked(key, tags));
      co_return leader;
    }
    answered = it->second->answered;
    w = std::make_shared<Wait>(ex);
    waiting_.fetch_add(1, std::memory_order_relaxed);
    it->second->waiters.push_back([w](SharedEntry r, bool stored) {
      asio::post(w->timer.get_executor(), [w, r = std::move(r), stored]() mutable {
        w->answer = std::move(r);
        w->stored = stored;
        w->done = true;
        w->timer.cancel();
      });
    });
  }
  w->timer.expires_after(wait);
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  Joined follower;
  follower.followed = true;
  if (w->done) {  // otherwise the bound passed: fetch on your own
    follower.answer = std::move(w->answer);
    follower.stored_when_joined = answered && w->stored;
  }
  co_return follower;
}

}  // namespace orc::cache
