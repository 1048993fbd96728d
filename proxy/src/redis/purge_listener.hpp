// The purge listener: one thread per process, subscribed to the Redis channel every instance's purge script
// publishes its tags on (cache/redis_storage.cpp), so the in-process L1 (cache/l1_cache.hpp) forgets what
// another instance purged.
//
// It tells its owner three things: subscribed (every purge from now on will arrive), lost (the connection
// dropped, a keep-alive PING went unanswered, or Redis refused the handshake: purges may be missed from now
// on), and each purge's tags. It reconnects by itself with back-off until stop().
//
// A thread with hiredis's blocking API and poll(): it only waits, the workers never wait for it, and it
// needs no Asio executor. Every wait is bounded: connect and handshake by connect_timeout, the keep-alive
// PING's answer by max(connect_timeout, 1 s).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_url.hpp"
#include "redis/sync_client.hpp"

namespace orc::redis {

class MasterSource;

class PurgeListener {
 public:
  struct Hooks {
    std::function<void()> subscribed;
    std::function<void()> lost;
    std::function<void(std::vector<std::string> tags)> purged;
  };
  struct Options {
    RedisEndpoint endpoint;
    std::string channel;
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds ping_interval{1000};
    std::chrono::milliseconds reconnect_max{2000};
    // Behind Sentinel: the master's address, read at each connect (host and port of `endpoint` unused).
    std::shared_ptr<const MasterSource> master;
    // A Redis Cluster's nodes (host and port of `endpoint` unused): a PUBLISH on any node reaches every
    // node, so one will do; each connection tries the next.
    std::vector<std::pair<std::string, std::uint16_t>> nodes;
  };

  PurgeListener(Options options, Hooks hooks);
  ~PurgeListener();  // stop()
  PurgeListener(const PurgeListener&) = delete;
  PurgeListener& operator=(const PurgeListener&) = delete;

  void start();
  // Wakes the thread and joins it; `lost` is not called for this.
  void stop();

 private:
  void run();
  // One connection, from connect to loss (false) or stop (true).
  bool session();

  Options options_;
  Hooks hooks_;
  std::size_t next_node_ = 0;  // (the listener thread's)
  sync::WaitingThread thread_;
};

// The message payload: each tag as "<length>:<tag>", concatenated (tags may hold any byte).
std::string encode_purge_message(const std::vector<std::string>& tags);
// Empty optional when the payload is malformed.
std::optional<std::vector<std::string>> decode_purge_message(std::string_view payload);

}  // namespace orc::redis
