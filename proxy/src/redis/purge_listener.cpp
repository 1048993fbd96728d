// The purge listener's thread (see purge_listener.hpp).
#include "redis/purge_listener.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "redis/sentinel.hpp"

namespace orc::redis {

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
  thread_.start("orc-purge-sub", [this] { run(); });
}

void PurgeListener::stop() {
  thread_.stop();
}

void PurgeListener::run() {
  using Clock = std::chrono::steady_clock;
  sync::ReconnectBackoff backoff(options_.reconnect_max);
  while (!thread_.waker().stopping()) {
    const auto t0 = Clock::now();
    if (session()) return;
    if (hooks_.lost) hooks_.lost();
    if (thread_.waker().pause(backoff.after(Clock::now() - t0))) return;
  }
}

bool PurgeListener::session() {
  auto ep = options_.endpoint;
  if (options_.master) {  // behind Sentinel: wherever the master is now
    auto at = options_.master->current();
    if (!at) return thread_.waker().stopping();
    ep.host = at->host;
    ep.port = at->port;
    ep.unix_path.clear();
  } else if (!options_.nodes.empty()) {
    const auto& node = options_.nodes[next_node_++ % options_.nodes.size()];
    ep.host = node.first;
    ep.port = node.second;
    ep.unix_path.clear();
  }
  sync::Connected outcome;
  auto c = sync::connect(ep, options_.connect_timeout, outcome);
  if (outcome == sync::Connected::auth_refused)
    spdlog::warn("purge listener: Redis refused AUTH: the L1 stays off");
  if (!c) return thread_.waker().stopping();
  const auto pong_timeout = std::max(options_.connect_timeout, std::chrono::milliseconds(1000));
  return sync::listen(
      c.get(), options_.channel,
      [&] {
        if (hooks_.subscribed) hooks_.subscribed();
        spdlog::info("purge listener: subscribed to '{}': the L1 is on", options_.channel);
      },
      [&](std::string_view payload) {
        auto tags = decode_purge_message(payload);
        if (!tags) {
          spdlog::warn("purge listener: a malformed message on '{}': dropping the L1 to be safe",
                       options_.channel);
          return false;
        }
        if (hooks_.purged) hooks_.purged(std::move(*tags));
        return true;
      },
      options_.ping_interval, pong_timeout, thread_.waker());
}

}  // namespace orc::redis
