// Redis behind Sentinel: the master's address, as the sentinels say, followed through failovers.
//
// One SentinelWatcher per process (a thread of hiredis's blocking API, like the purge listener): it asks a
// sentinel `SENTINEL get-master-addr-by-name`, then stays subscribed to its `+switch-master` channel and
// takes each new address the moment a failover ends. When that sentinel goes or stops answering its PING,
// it asks the next one (the nodes in turn). With several sentinels, a thread per sentinel also listens to
// its `+switch-master`, and takes a move away from the address in use at once, whichever sentinel announces
// it: the sentinel that led a failover announces it only once every replica was told of the new master (or
// `failover-timeout` passed, 3 minutes by default), the others within seconds of the promotion; meanwhile
// the former master may still take the purges, and lose them when it becomes a replica. (A move away from
// another address is a sentinel late with an older failover: those threads pass it over; the asking
// thread's own sentinel is followed in everything it says.) The workers' connections (redis_connection.hpp)
// and the purge listener read the address from the MasterSource whenever they connect; a connection that
// finds it is not on a master (ROLE at connect, READONLY on a write) drops and connects again.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis/sync_client.hpp"

namespace orc::redis {

struct MasterAddress {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const MasterAddress&) const = default;
};

// The master's address as the sentinels last said; read by any thread.
class MasterSource {
 public:
  std::optional<MasterAddress> current() const;
  // True when it changed.
  bool set(MasterAddress address);
  // Bumped by every change: a connection made before it is to a former master.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mutex_;
  std::optional<MasterAddress> address_;
  std::atomic<std::uint64_t> version_{0};
};

// `<name> <old-ip> <old-port> <new-ip> <new-port>`, the payload of `+switch-master`, when it is about
// `master`: the former address (`from`; its port 0 when unreadable) and the new one.
struct SwitchMaster {
  MasterAddress from;
  MasterAddress to;
};
std::optional<SwitchMaster> parse_switch_master(std::string_view payload, std::string_view master);

class SentinelWatcher {
 public:
  struct Options {
    std::string master;                                        // the name the sentinels monitor
    std::vector<std::pair<std::string, std::uint16_t>> nodes;  // the sentinels
    std::string password;                                      // theirs; empty: no AUTH
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds ping_interval{1000};
    std::chrono::milliseconds reconnect_max{2000};
  };

  SentinelWatcher(Options options, std::shared_ptr<MasterSource> source);
  ~SentinelWatcher();  // stop()
  SentinelWatcher(const SentinelWatcher&) = delete;
  SentinelWatcher& operator=(const SentinelWatcher&) = delete;

  // Asks the sentinels in turn until one names the master (each wait bounded by connect_timeout); false
  // when none did. For the start, so that the first connections need not wait for the thread.
  bool ask_once();
  void start();
  void stop();

 private:
  using Node = std::pair<std::string, std::uint16_t>;
  void run();
  // One sentinel, from connect to loss (false) or stop (true).
  bool session(const Node& node);
  // A connection to the sentinel `node`, with its password (each wait bounded by connect_timeout).
  sync::Context connect_to(const Node& node, sync::Connected& outcome) const;
  // The master's address from a connected sentinel.
  std::optional<MasterAddress> ask(redisContext* c) const;
  // An address `node` gave: into the source, logged when it changed. adopt() is thread-safe; take() is the
  // asking thread's (it also clears its last warning).
  bool adopt(const Node& node, const MasterAddress& address);
  void take(const Node& node, const MasterAddress& address);
  // A listener of `node`'s `+switch-master` only, until stop().
  void follow(const Node& node, const sync::Waker& waker);
  // Logs `message` unless it is the last one logged (a lasting problem, round after round).
  void warn_once(std::string message);

  Options options_;
  std::shared_ptr<MasterSource> source_;
  std::string last_warning_;  // the watcher's thread, and ask_once() before it starts
  sync::WaitingThread thread_;
  std::vector<std::unique_ptr<sync::WaitingThread>> followers_;  // one per sentinel, when there are several
};

}  // namespace orc::redis
