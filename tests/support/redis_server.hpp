// A real redis-server for tests: a free loopback port, a temp dir, no persistence. It waits until the
// server answers PING, can stop and restart it on the same port, and kills it (by PID) on destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace orc::test {

class RedisServer {
 public:
  // `extra_args` go after the defaults, e.g. {"--requirepass", "secret"}. Starts the server and waits
  // until it answers PING; throws std::runtime_error when it does not within `timeout`.
  explicit RedisServer(std::vector<std::string> extra_args = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // A sentinel (`redis-server <conf> --sentinel`) that monitors the master on 127.0.0.1:`master_port` as
  // `master`, with `quorum`, and calls it down after `down_after` without an answer. Ready once it
  // monitors it.
  static std::unique_ptr<RedisServer> sentinel(const std::string& master, std::uint16_t master_port,
                                               int quorum, std::chrono::milliseconds down_after);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }
  // redis://127.0.0.1:PORT (no credentials, database 0)
  std::string url() const;

  // SIGKILLs the server and reaps it: clients see their connections reset.
  void stop();
  // Starts it again on the same port (empty: nothing persisted) and waits for PING.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  struct SentinelMode {};
  RedisServer(SentinelMode, std::string config, std::chrono::milliseconds timeout);
  void launch(std::chrono::milliseconds timeout);
  bool spawn();
  bool wait_ready(std::chrono::steady_clock::time_point deadline);

  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::string dir_;
  std::vector<std::string> extra_args_;
  std::string sentinel_config_;  // a sentinel's configuration file (it rewrites it); empty: a server
  pid_t pid_ = -1;
};

// Sends one command (RESP array of bulk strings) to the redis-server on 127.0.0.1:`port` on a fresh
// connection and returns the first line of the reply ("+OK", "-ERR ...", ":1", "$5"...), or nothing when
// the server does not answer within `timeout`. Blocks until the reply: run DEBUG SLEEP on its own thread.
std::optional<std::string> redis_command(std::uint16_t port, const std::vector<std::string>& args,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace orc::test
