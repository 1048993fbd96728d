// The Sentinel watcher's thread and the master's address (see sentinel.hpp).
#include "redis/sentinel.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "redis/topology_stats.hpp"

namespace orc::redis {
namespace {

std::optional<std::uint16_t> port_of(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::optional<MasterAddress> MasterSource::current() const {
  std::lock_guard lock(mutex_);
  return address_;
}

bool MasterSource::set(MasterAddress address) {
  std::lock_guard lock(mutex_);
  if (address_ == address) return false;
  address_ = std::move(address);
  version_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

std::optional<SwitchMaster> parse_switch_master(std::string_view payload, std::string_view master) {
  std::vector<std::string_view> words;
  while (!payload.empty()) {
    auto space = payload.find(' ');
    words.push_back(payload.substr(0, space));
    if (space == std::string_view::npos) break;
    payload.remove_prefix(space + 1);
  }
  if (words.size() != 5 || words[0] != master || words[3].empty()) return std::nullopt;
  auto port = port_of(words[4]);
  if (!port) return std::nullopt;
  return SwitchMaster{{std::string(words[1]), port_of(words[2]).value_or(0)}, {std::string(words[3]), *port}};
}

SentinelWatcher::SentinelWatcher(Options options, std::shared_ptr<MasterSource> source)
    : options_(std::move(options)), source_(std::move(source)) {}

SentinelWatcher::~SentinelWatcher() {
  stop();
}

void SentinelWatcher::start() {
  thread_.start("orc-sentinel", [this] { run(); });
  if (options_.nodes.size() < 2 || !followers_.empty()) return;
  for (const auto& node : options_.nodes) {
    auto& t = *followers_.emplace_back(std::make_unique<sync::WaitingThread>());
    t.start("orc-sent-sub", [this, &node, &t] { follow(node, t.waker()); });
  }
}

void SentinelWatcher::stop() {
  // Each may be in a connect bounded by connect_timeout: all are told first, then joined.
  thread_.request_stop();
  for (auto& t : followers_) t->request_stop();
  thread_.stop();
  for (auto& t : followers_) t->stop();
  followers_.clear();
}

std::optional<MasterAddress> SentinelWatcher::ask(redisContext* c) const {
  auto r = sync::command(c, {"SENTINEL", "get-master-addr-by-name", options_.master});
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return std::nullopt;  // nil: not monitored
  auto host = sync::str(r->element[0]);
  auto port = port_of(sync::str(r->element[1]));
  if (host.empty() || !port) return std::nullopt;
  return MasterAddress{std::string(host), *port};
}

void SentinelWatcher::take(const Node& node, const MasterAddress& a) {
  if (adopt(node, a)) last_warning_.clear();
}

bool SentinelWatcher::adopt(const Node& node, const MasterAddress& a) {
  const bool first = source_->version() == 0;
  if (!source_->set(a)) return false;
  if (first)
    spdlog::info("redis sentinel {}:{}: master '{}' is at {}:{}", node.first, node.second, options_.master,
                 a.host, a.port);
  else {
    spdlog::warn("redis sentinel {}:{}: master '{}' failed over to {}:{}", node.first, node.second,
                 options_.master, a.host, a.port);
    topology_stats().sentinel_failovers.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

void SentinelWatcher::warn_once(std::string message) {
  if (message == last_warning_) return;  // every round of a lasting problem would repeat it
  spdlog::warn("{}", message);
  last_warning_ = std::move(message);
}

sync::Context SentinelWatcher::connect_to(const Node& node, sync::Connected& outcome) const {
  RedisEndpoint at;
  at.host = node.first;
  at.port = node.second;
  at.password = options_.password;
  return sync::connect(at, options_.connect_timeout, outcome);
}

bool SentinelWatcher::ask_once() {
  for (const auto& node : options_.nodes) {
    sync::Connected outcome;
    auto c = connect_to(node, outcome);
    if (auto a = c ? ask(c.get()) : std::nullopt) {
      take(node, *a);
      return true;
    }
  }
  return false;
}

void SentinelWatcher::run() {
  using Clock = std::chrono::steady_clock;
  sync::ReconnectBackoff backoff(options_.reconnect_max);
  Clock::duration longest{};  // the longest session of this round
  for (std::size_t turn = 0; !thread_.waker().stopping(); ++turn) {
    const auto& node = options_.nodes[turn % options_.nodes.size()];
    const auto t0 = Clock::now();
    if (session(node)) return;
    longest = std::max(longest, Clock::now() - t0);
    // A round of sentinels ended: wait before the next one (briefly when one of them had worked a while).
    if ((turn + 1) % options_.nodes.size() == 0) {
      if (thread_.waker().pause(backoff.after(longest))) return;
      longest = {};
    }
  }
}

void SentinelWatcher::follow(const Node& node, const sync::Waker& waker) {
  using Clock = std::chrono::steady_clock;
  sync::ReconnectBackoff backoff(options_.reconnect_max);
  const auto pong_timeout = std::max(options_.connect_timeout, std::chrono::milliseconds(1000));
  while (!waker.stopping()) {
    const auto t0 = Clock::now();
    sync::Connected outcome;
    if (auto c = connect_to(node, outcome)) {
      const bool stopped = sync::listen(
          c.get(), "+switch-master", {},
          [&](std::string_view payload) {
            auto next = parse_switch_master(payload, options_.master);
            if (next && source_->current() == next->from) adopt(node, next->to);
            return true;
          },
          options_.ping_interval, pong_timeout, waker);
      if (stopped) return;
    }
    if (waker.pause(backoff.after(Clock::now() - t0))) return;  // the asking thread warns of what fails
  }
}

bool SentinelWatcher::session(const Node& node) {
  const auto where = "redis sentinel " + node.first + ":" + std::to_string(node.second);
  sync::Connected outcome;
  auto c = connect_to(node, outcome);
  if (outcome == sync::Connected::auth_refused) warn_once(where + " refused AUTH (redis.sentinel.password)");
  if (!c) return thread_.waker().stopping();
  auto address = ask(c.get());
  if (!address) {
    warn_once(where + " does not know master '" + options_.master + "'");
    return thread_.waker().stopping();
  }
  take(node, *address);
  const auto pong_timeout = std::max(options_.connect_timeout, std::chrono::milliseconds(1000));
  // A failover between that answer and the subscription would go unheard: ask once more, subscribed.
  auto ask_again = [&] {
    sync::Connected again;
    auto c2 = connect_to(node, again);
    if (auto a = c2 ? ask(c2.get()) : std::nullopt) take(node, *a);
  };
  return sync::listen(
      c.get(), "+switch-master", ask_again,
      [&](std::string_view payload) {
        if (auto next = parse_switch_master(payload, options_.master)) take(node, next->to);
        return true;
      },
      options_.ping_interval, pong_timeout, thread_.waker());
}

}  // namespace orc::redis
