// Redis Cluster without a cluster client (Debian 12's hiredis has none): the slot map from CLUSTER SLOTS,
// one RedisPool per master (its own connections, timeouts and circuit breaker), each command routed by its
// key's slot, MOVED followed (and the map learnt again), ASK answered with ASKING on the same connection.
//
// The map is learnt from the seed nodes at start and again whenever a command was redirected or a node
// failed (at most every kRefreshGap), and every kRefreshEvery regardless. While a master is down its slots
// fail at once (its breaker), so the proxy fails open until the cluster promotes a replica and the next
// refresh finds it.
//
// Threading: one per worker, like RedisPool; construct it, call it and destroy it on the worker's executor.
// Coroutines hold the pool's state, not the pool, so destroying it with commands in flight is safe.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_pool.hpp"

namespace orc::redis {

constexpr int kClusterSlots = 16384;

// The slot of `key`: CRC16 (XMODEM) of its hash tag, the text between the first '{' and the first '}'
// after it when that is not empty, else of the whole key; modulo 16384.
int key_slot(std::string_view key);

// A redirection in an error reply: "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381" (an empty host,
// "MOVED 3999 :6381", is the node that answered).
struct Redirect {
  bool ask = false;
  int slot = 0;
  std::string host;
  std::uint16_t port = 0;
};
std::optional<Redirect> parse_redirect(std::string_view error);

// A range of slots and the master that serves it.
struct SlotRange {
  int first = 0;
  int last = 0;
  std::string host;
  std::uint16_t port = 0;
  std::vector<std::pair<std::string, std::uint16_t>> replicas;  // the master's, as the reply lists them
};
// The ranges of a CLUSTER SLOTS reply. An endpoint of "" or NULL (a node that does not know its own address)
// is `asked_host`, the node that answered; "?" (a node whose endpoint is unknown) cannot be reached: its
// range is left out (its slots have no master until the next map). Nothing when the reply is malformed or
// covers no slot.
std::optional<std::vector<SlotRange>> parse_cluster_slots(const RedisValue& reply,
                                                          const std::string& asked_host);

// Runs `calls` at once and returns their replies in order (for commands on different slots).
boost::asio::awaitable<std::vector<RedisReply>> all_of(
    boost::asio::any_io_executor executor,
    std::vector<std::function<boost::asio::awaitable<RedisReply>()>> calls);

class ClusterPool {
 public:
  struct Node {
    std::string host;
    std::uint16_t port = 0;
  };
  static constexpr std::chrono::milliseconds kRefreshGap{100};
  static constexpr std::chrono::milliseconds kRefreshEvery{5000};

  // `options` for every node (its endpoint's host and port unused; its database must be 0); `seeds`: the
  // nodes asked for the map first.
  ClusterPool(boost::asio::any_io_executor executor, RedisOptions options, std::vector<Node> seeds);
  ~ClusterPool();  // close()
  ClusterPool(const ClusterPool&) = delete;
  ClusterPool& operator=(const ClusterPool&) = delete;

  // `args` on the master of `key`'s slot.
  boost::asio::awaitable<RedisReply> command(std::string key, std::vector<std::string> args);
  // EVALSHA of `script` on the master of the slot of `keys` (all in one slot: hash tags).
  boost::asio::awaitable<RedisReply> eval(RedisScript& script, std::vector<std::string> keys,
                                          std::vector<std::string> args);
  // eval(), then WAIT on the same connection (RedisPool::eval_wait); under ASK (a slot moving) the script
  // runs and this answers `timeout`, so the caller retries later.
  boost::asio::awaitable<RedisReply> eval_wait(RedisScript& script, std::vector<std::string> keys,
                                               std::vector<std::string> args, int replicas,
                                               std::chrono::milliseconds timeout);

  void close();
  // The map is known and every master in it is up.
  bool up() const;
  // Masters in the current map (0 until one is learnt); map refreshes that succeeded.
  std::size_t masters() const;
  std::uint64_t refreshes() const;
  const boost::asio::any_io_executor& executor() const { return executor_; }

 private:
  struct Core;
  using Send = std::function<boost::asio::awaitable<RedisReply>(RedisPool& pool, bool asking)>;
  static boost::asio::awaitable<RedisReply> routed(std::shared_ptr<Core> core, int slot, Send send);
  static boost::asio::awaitable<void> maintain(std::shared_ptr<Core> core);
  static boost::asio::awaitable<bool> refresh(std::shared_ptr<Core> core);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<Core> core_;
};

}  // namespace orc::redis
