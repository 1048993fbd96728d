// Blocking hiredis for the redis/ threads that only wait (see sync_client.hpp).
#include "redis/sync_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

#include "util/thread_name.hpp"

namespace orc::redis::sync {
namespace {

using Clock = std::chrono::steady_clock;

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

}  // namespace

Reply command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(
      static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data())));
}

std::string_view str(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view{};
}

bool is_push(const redisReply* r, std::string_view kind, std::size_t min_elements) {
  return r && r->type == REDIS_REPLY_ARRAY && r->elements >= min_elements && r->elements > 0 &&
         str(r->element[0]) == kind;
}

Context connect(const RedisEndpoint& at, std::chrono::milliseconds timeout, Connected& outcome) {
  outcome = Connected::failed;
  Context c(at.unix_path.empty() ? redisConnectWithTimeout(at.host.c_str(), at.port, to_timeval(timeout))
                                 : redisConnectUnixWithTimeout(at.unix_path.c_str(), to_timeval(timeout)));
  if (!c || c->err) return nullptr;
  redisSetTimeout(c.get(), to_timeval(timeout));
  if (!at.password.empty()) {
    auto r = at.user.empty() ? command(c.get(), {"AUTH", at.password})
                             : command(c.get(), {"AUTH", at.user, at.password});
    if (!r) return nullptr;
    if (r->type == REDIS_REPLY_ERROR) {
      outcome = Connected::auth_refused;
      return nullptr;
    }
  }
  outcome = Connected::ok;
  return c;
}

Waker::Waker() {
  if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category());
}

Waker::~Waker() {
  ::close(fds_[0]);
  ::close(fds_[1]);
}

void Waker::stop() {
  stopping_ = true;
  char b = 1;
  [[maybe_unused]] auto n = ::write(fds_[1], &b, 1);
}

void Waker::reset() {
  char buf[64];
  while (::read(fds_[0], buf, sizeof buf) > 0) {
  }
  stopping_ = false;
}

bool Waker::pause(std::chrono::milliseconds d) const {
  pollfd p{fds_[0], POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(d.count()));
  return stopping();
}

bool listen(redisContext* c, const std::string& channel, const std::function<void()>& subscribed,
            const std::function<bool(std::string_view payload)>& on_message,
            std::chrono::milliseconds ping_interval, std::chrono::milliseconds pong_timeout,
            const Waker& waker) {
  auto sub = command(c, {"SUBSCRIBE", channel});
  if (!is_push(sub.get(), "subscribe", 3)) return waker.stopping();
  if (subscribed) subscribed();

  auto next_ping = Clock::now() + ping_interval;
  constexpr auto kNone = Clock::time_point::max();
  auto pong_due = kNone;  // when the PING sent must have been answered
  while (!waker.stopping()) {
    // Replies hiredis already read come first.
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return waker.stopping();
      if (!raw) break;
      Reply r(static_cast<redisReply*>(raw));
      if (is_push(r.get(), "message", 3)) {
        if (!on_message(str(r->element[2]))) return false;
      } else if (is_push(r.get(), "pong", 1)) {
        pong_due = kNone;
      }
    }
    auto now = Clock::now();
    if (pong_due != kNone && now >= pong_due) return false;  // the server stopped answering
    if (pong_due == kNone && now >= next_ping) {
      const char* argv[] = {"PING"};
      redisAppendCommandArgv(c, 1, argv, nullptr);
      int done = 0;
      while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK) return waker.stopping();
      pong_due = now + pong_timeout;
      next_ping = now + ping_interval;
    }
    auto until = std::min(pong_due, next_ping);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    pollfd fds[2] = {{c->fd, POLLIN, 0}, {waker.fd(), POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(std::max<std::int64_t>(wait, 0) + 1));
    if (fds[1].revents) break;
    if (fds[0].revents && redisBufferRead(c) != REDIS_OK) return waker.stopping();
  }
  return true;
}

void WaitingThread::start(std::string name, std::function<void()> body) {
  if (thread_.joinable()) return;
  waker_.reset();
  thread_ = std::thread([name = std::move(name), body = std::move(body)] {
    util::name_this_thread(name);
    body();
  });
}

void WaitingThread::stop() {
  if (!thread_.joinable()) return;
  waker_.stop();
  thread_.join();
}

}  // namespace orc::redis::sync
