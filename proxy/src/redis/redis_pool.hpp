// A worker's Redis client: a few pipelined connections on the worker's executor, commands handed
// round-robin to the connected ones, Lua scripts by EVALSHA, and a circuit breaker so a dead or slow Redis
// fails requests at once instead of holding them (the proxy fails open).
//
// Threading: one pool per worker; construct it, call it and destroy it on the worker's executor (single
// threaded, or a strand). Destroying the pool with commands in flight is safe: they complete with
// `unavailable` (their coroutines hold the pool's state, not the pool).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "redis/circuit_breaker.hpp"
#include "redis/redis_connection.hpp"
#include "redis/redis_reply.hpp"

namespace orc::redis {

// A Lua script, loaded with SCRIPT LOAD the first time it runs and again after Redis forgot it (NOSCRIPT).
class RedisScript {
 public:
  explicit RedisScript(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }
  const std::string& sha() const { return sha_; }  // empty until loaded
  std::uint64_t loads() const { return loads_; }   // successful SCRIPT LOADs so far

 private:
  friend class RedisPool;
  std::string source_;
  std::string sha_;
  std::uint64_t loads_ = 0;
};

struct RedisPoolStats {
  std::uint64_t connects = 0;       // connections that became ready, over the pool's life
  std::uint64_t breaker_opens = 0;  // times the circuit opened
  std::size_t connected = 0;        // connections ready now
  std::size_t in_flight = 0;        // commands sent and not answered yet
  std::size_t peak_in_flight = 0;   // the most commands ever in flight on one connection
};

class RedisPool {
 public:
  // Starts connecting (options.connections connections) as soon as the executor runs. Until one is ready,
  // commands fail with `unavailable`.
  RedisPool(boost::asio::any_io_executor executor, RedisOptions options, CircuitBreaker::Clock clock = {});
  // Calls close().
  ~RedisPool();
  RedisPool(const RedisPool&) = delete;
  RedisPool& operator=(const RedisPool&) = delete;

  // One command, e.g. {"SET", key, value, "PX", "5000"}. Never throws for Redis failures: the status says.
  boost::asio::awaitable<RedisReply> command(std::vector<std::string> args);

  // EVALSHA of `script` with `keys` and `args`; loads the script first when needed and, on NOSCRIPT,
  // reloads it and retries once.
  boost::asio::awaitable<RedisReply> eval(RedisScript& script, std::vector<std::string> keys,
                                          std::vector<std::string> args);

  // eval(), then `WAIT replicas timeout` on the same connection once the script has answered (the script's
  // writes on that many replicas); the reply of WAIT (or the script's when that failed).
  //
  // Redis settles a WAIT that times out only when its event loop wakes: on an idle server at its next cron
  // tick, up to 1/hz (100 ms by default) after the timeout, past redis.command_timeout, which would count
  // against the connection and the breaker. Once the timeout has passed, PINGs sent behind the WAIT (one
  // every 5 ms until it answers) wake it, and the WAIT answers then.
  boost::asio::awaitable<RedisReply> eval_wait(RedisScript& script, std::vector<std::string> keys,
                                               std::vector<std::string> args, int replicas,
                                               std::chrono::milliseconds timeout);

  // ASKING, then `args`, on one connection with nothing between them: Redis Cluster's answer to ASK (a slot
  // moving to this node). The reply of `args`.
  boost::asio::awaitable<RedisReply> asking(std::vector<std::string> args);

  // Stops every connection for good (idempotent): pending and later commands complete with `unavailable`,
  // and the pool no longer keeps its executor busy (so a draining io_context can run out of work).
  void close();

  // A connection is ready and the circuit is not open (a circuit whose cool-down has passed counts as up:
  // the next command is its probe).
  bool up() const;
  CircuitBreaker::State breaker_state() const { return core_->breaker.state(); }
  RedisPoolStats stats() const;
  const RedisOptions& options() const { return *core_->options; }
  const boost::asio::any_io_executor& executor() const { return executor_; }

 private:
  struct Core {
    Core(std::shared_ptr<const RedisOptions> o, CircuitBreaker::Clock clock);
    std::shared_ptr<RedisConnection> pick();

    std::shared_ptr<const RedisOptions> options;
    std::vector<std::shared_ptr<RedisConnection>> connections;
    std::size_t next = 0;  // where the round-robin goes on; the connection before it was picked last
    CircuitBreaker breaker;
    bool closed = false;  // the pool is gone: coroutines still running fail without touching Redis
  };
  // `on`: that connection (when still usable), else the next one.
  static boost::asio::awaitable<RedisReply> run(std::shared_ptr<Core> core, std::vector<std::string> args,
                                                std::shared_ptr<RedisConnection> on = nullptr);
  static boost::asio::awaitable<RedisReply> load(std::shared_ptr<Core> core, RedisScript& script);
  static boost::asio::awaitable<RedisReply> run_script(std::shared_ptr<Core> core, RedisScript& script,
                                                       std::vector<std::string> keys,
                                                       std::vector<std::string> args,
                                                       std::shared_ptr<RedisConnection> on = nullptr);
  static boost::asio::awaitable<RedisReply> run_script_wait(std::shared_ptr<Core> core,
                                                            boost::asio::any_io_executor executor,
                                                            RedisScript& script,
                                                            std::vector<std::string> keys,
                                                            std::vector<std::string> args, int replicas,
                                                            std::chrono::milliseconds timeout);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<Core> core_;
};

}  // namespace orc::redis
