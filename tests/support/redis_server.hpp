// A real redis-server for tests: a free loopback port, a temp dir, no persistence. It waits until the
// server answers PING, can stop and restart it on the same port, and kills it (by PID) on destruction.
// RedisCluster builds a Redis Cluster out of such servers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  // A server that also listens on a Unix socket, `redis.sock` in its temp dir (unix_url()).
  static std::unique_ptr<RedisServer> with_unix_socket();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }
  // redis://127.0.0.1:PORT (no credentials, database 0)
  std::string url() const;
  // unix:///tmp/.../redis.sock (no credentials, database 0) of a server from with_unix_socket(); throws
  // std::logic_error for another.
  std::string unix_url() const;

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

// Sends one command like redis_command and returns the content of its reply when that is a bulk string
// (CLUSTER INFO, CLUSTER NODES, INFO replication); nothing on an error or null reply, another type of
// reply, or no whole reply within `timeout`.
std::optional<std::string> redis_bulk(std::uint16_t port, const std::vector<std::string>& args,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(2));

// A Redis Cluster on loopback: `masters` (at least 3) masters with `replicas` replicas each, every node a
// RedisServer in its own temp dir (nodes.conf included), formed by `redis-cli --cluster create`. Ready
// once every node reports cluster_state:ok with all 16384 slots served and every replica attached and in
// sync; throws std::runtime_error when not within `timeout`. A replica takes over a stopped master within
// a few `node_timeout`s. The nodes die with it.
class RedisCluster {
 public:
  explicit RedisCluster(std::size_t masters = 3, std::size_t replicas = 1,
                        std::chrono::milliseconds node_timeout = std::chrono::milliseconds(1000),
                        std::chrono::milliseconds timeout = std::chrono::seconds(30));
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  std::size_t size() const { return nodes_.size(); }
  // Nodes in creation order: redis-cli makes the first `masters` the masters, but failovers move roles.
  RedisServer& node(std::size_t i) { return *nodes_.at(i); }
  // "127.0.0.1:P1,127.0.0.1:P2,...": every node, for a client's seed list.
  std::string seeds() const;
  // The ports of the healthy masters: flagged master, not fail or fail? (pfail), and not stopped here (a
  // master just stopped still looks healthy to the others for up to `node_timeout`), as the first live node
  // that answers CLUSTER NODES sees them.
  std::vector<std::uint16_t> master_ports() const;
  // The port of the healthy master serving `slot`, as above; 0 when there is none (during a failover).
  std::uint16_t master_of_slot(int slot) const;
  // The index of the node on `port` for node(); throws std::out_of_range when none is.
  std::size_t index_of_port(std::uint16_t port) const;
  // Waits until every live node reports cluster_state:ok with all slots served and sees `masters` healthy
  // masters (after a master is stopped: until a replica has taken over). False when not within `timeout`.
  bool wait_healthy(std::chrono::milliseconds timeout);

  // (The slot of a key: redis::key_slot, checked against CLUSTER KEYSLOT in tests/unit/redis/cluster_test.)

 private:
  std::optional<std::string> problem(bool formed, std::chrono::steady_clock::time_point deadline) const;
  bool wait(bool formed, std::chrono::steady_clock::time_point deadline, std::string* why) const;
  std::optional<std::string> cluster_nodes() const;
  std::vector<std::uint16_t> healthy_masters(const std::string& cluster_nodes, int slot) const;
  bool live(std::uint16_t port) const;

  std::size_t masters_;
  std::size_t replicas_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace orc::test
