// What the redis/ threads that only wait share (the purge listener, the Sentinel watcher): hiredis's
// blocking API with every wait bounded, a subscription kept alive by PING, and a stop that wakes poll().
// Never used on a worker's event loop.
#pragma once

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "redis/redis_url.hpp"

namespace orc::redis::sync {

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// One command and its reply (null when the connection failed or timed out).
Reply command(redisContext* c, const std::vector<std::string>& args);

// A reply's string, status or error text; empty for other types.
std::string_view str(const redisReply* r);

// An array reply whose first element is `kind` ("message", "pong", "subscribe").
bool is_push(const redisReply* r, std::string_view kind, std::size_t min_elements);

enum class Connected { ok, failed, auth_refused };
// Connects to `at` (host:port, or its Unix socket), each wait bounded by `timeout`, and AUTHs when its
// password is set (with its user when that is set too). Its database is not selected: these threads
// subscribe or ask sentinels, and channels belong to no database.
Context connect(const RedisEndpoint& at, std::chrono::milliseconds timeout, Connected& outcome);

// A thread's stop: stop() wakes a pause() or a listen() at once.
class Waker {
 public:
  Waker();
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;
  void stop();
  void reset();  // before the thread starts again
  bool stopping() const { return stopping_.load(); }
  // Waits up to `d` or until stop(); true when stopping.
  bool pause(std::chrono::milliseconds d) const;
  int fd() const { return fds_[0]; }

 private:
  int fds_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
};

// A thread that only waits, with the Waker that ends it: start() runs `body` on a new thread (unless one
// runs), stop() wakes it and joins. The owner stops it in its own destructor, before `body`'s state goes.
class WaitingThread {
 public:
  WaitingThread() = default;
  ~WaitingThread() { stop(); }
  WaitingThread(const WaitingThread&) = delete;
  WaitingThread& operator=(const WaitingThread&) = delete;
  // `name`: the thread's name (util::name_this_thread).
  void start(std::string name, std::function<void()> body);
  // Wakes the thread without waiting for it (stop() joins): several threads wind down side by side.
  void request_stop() { waker_.stop(); }
  void stop();
  const Waker& waker() const { return waker_; }

 private:
  Waker waker_;
  std::thread thread_;
};

// How long such a thread waits before it connects again: 50 ms (or `max` when that is less), doubling up to
// `max` while the sessions keep failing, and back to the first wait after a session that lasted (a connection
// that worked for a while and then went is a new outage: its first retry should not wait as long as the last
// retry of an old one).
class ReconnectBackoff {
 public:
  static constexpr std::chrono::milliseconds kFirst{50};
  static constexpr std::chrono::seconds kLasting{10};  // a session this long resets the backoff

  explicit ReconnectBackoff(std::chrono::milliseconds max) : max_(max), next_(std::min(kFirst, max)) {}
  // The wait after a session (or a round of attempts) that lasted `lasted`.
  std::chrono::milliseconds after(std::chrono::steady_clock::duration lasted) {
    if (lasted >= kLasting) next_ = std::min(kFirst, max_);
    const auto wait = next_;
    next_ = std::min(next_ * 2, max_);
    return wait;
  }

 private:
  std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
};

// SUBSCRIBEs `c` to `channel`, calls `subscribed`, then hands each message's payload to `on_message` (false:
// end the session) and PINGs every `ping_interval`. Returns true when woken by `waker`, false when the
// connection failed, a PONG took longer than `pong_timeout`, or `on_message` refused a message.
bool listen(redisContext* c, const std::string& channel, const std::function<void()>& subscribed,
            const std::function<bool(std::string_view payload)>& on_message,
            std::chrono::milliseconds ping_interval, std::chrono::milliseconds pong_timeout,
            const Waker& waker);

}  // namespace orc::redis::sync
