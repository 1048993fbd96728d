// The purge listener's thread (see purge_listener.hpp).
#include "redis/purge_listener.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <memory>

namespace orc::redis {
namespace {

using Clock = std::chrono::steady_clock;

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

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

// An array reply whose first element is `kind` ("message", "pong", "subscribe").
bool is_push(const redisReply* r, std::string_view kind, std::size_t min_elements) {
  return r && r->type == REDIS_REPLY_ARRAY && r->elements >= min_elements && r->elements > 0 &&
         str(r->element[0]) == kind;
}

}  // namespace

std::string encode_purge_message(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) {
    out += std::to_string(t.size());
    out += ':';
    out += t;
  }
  return out;
}

std::optional<std::vector<std::string>> decode_purge_message(std::string_view payload) {
  std::vector<std::string> out;
  while (!payload.empty()) {
    std::size_t len = 0;
    auto [p, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), len);
    if (ec != std::errc() || p == payload.data() || p == payload.data() + payload.size() || *p != ':')
      return std::nullopt;
    payload.remove_prefix(static_cast<std::size_t>(p - payload.data()) + 1);
    if (len > payload.size()) return std::nullopt;
    out.emplace_back(payload.substr(0, len));
    payload.remove_prefix(len);
  }
  return out;
}

PurgeListener::PurgeListener(Options options, Hooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {}

PurgeListener::~PurgeListener() {
  stop();
}

void PurgeListener::start() {
  if (thread_.joinable()) return;
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category());
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void PurgeListener::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  char b = 1;
  [[maybe_unused]] auto n = ::write(wake_[1], &b, 1);
  thread_.join();
  ::close(wake_[0]);
  ::close(wake_[1]);
  wake_[0] = wake_[1] = -1;
}

bool PurgeListener::pause(std::chrono::milliseconds d) {
  pollfd p{wake_[0], POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(d.count()));
  return stopping_.load();
}

void PurgeListener::run() {
  auto backoff = std::chrono::milliseconds(50);
  while (!stopping_.load()) {
    auto t0 = Clock::now();
    if (session()) return;
    if (hooks_.lost) hooks_.lost();
    if (Clock::now() - t0 > std::chrono::seconds(10)) backoff = std::chrono::milliseconds(50);
    if (pause(backoff)) return;
    backoff = std::min(backoff * 2, options_.reconnect_max);
  }
}

bool PurgeListener::session() {
  const auto& ep = options_.endpoint;
  Context c(redisConnectWithTimeout(ep.host.c_str(), ep.port, to_timeval(options_.connect_timeout)));
  if (!c || c->err) return stopping_.load();
  redisSetTimeout(c.get(), to_timeval(options_.connect_timeout));
  if (!ep.password.empty()) {
    auto r = ep.user.empty() ? command(c.get(), {"AUTH", ep.password})
                             : command(c.get(), {"AUTH", ep.user, ep.password});
    if (!r || r->type == REDIS_REPLY_ERROR) {
      spdlog::warn("purge listener: Redis refused AUTH: the L1 stays off");
      return stopping_.load();
    }
  }
  auto sub = command(c.get(), {"SUBSCRIBE", options_.channel});
  if (!is_push(sub.get(), "subscribe", 3)) return stopping_.load();
  if (hooks_.subscribed) hooks_.subscribed();
  spdlog::info("purge listener: subscribed to '{}': the L1 is on", options_.channel);

  const auto pong_timeout = std::max(options_.connect_timeout, std::chrono::milliseconds(1000));
  auto next_ping = Clock::now() + options_.ping_interval;
  constexpr auto kNone = Clock::time_point::max();
  auto pong_due = kNone;  // when the PING sent must have been answered
  while (!stopping_.load()) {
    // Replies hiredis already read come first.
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c.get(), &raw) != REDIS_OK) return stopping_.load();
      if (!raw) break;
      Reply r(static_cast<redisReply*>(raw));
      if (is_push(r.get(), "message", 3)) {
        auto tags = decode_purge_message(str(r->element[2]));
        if (!tags) {
          spdlog::warn("purge listener: a malformed message on '{}': dropping the L1 to be safe",
                       options_.channel);
          return false;
        }
        if (hooks_.purged) hooks_.purged(std::move(*tags));
      } else if (is_push(r.get(), "pong", 1)) {
        pong_due = kNone;
      }
    }
    auto now = Clock::now();
    if (pong_due != kNone && now >= pong_due) return false;  // Redis stopped answering: purges may be lost
    if (pong_due == kNone && now >= next_ping) {
      const char* argv[] = {"PING"};
      redisAppendCommandArgv(c.get(), 1, argv, nullptr);
      int done = 0;
      while (!done)
        if (redisBufferWrite(c.get(), &done) != REDIS_OK) return stopping_.load();
      pong_due = now + pong_timeout;
      next_ping = now + options_.ping_interval;
    }
    auto until = std::min(pong_due, next_ping);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    pollfd fds[2] = {{c->fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(std::max<std::int64_t>(wait, 0) + 1));
    if (fds[1].revents) break;
    if (fds[0].revents && redisBufferRead(c.get()) != REDIS_OK) return stopping_.load();
  }
  return true;
}

}  // namespace orc::redis
