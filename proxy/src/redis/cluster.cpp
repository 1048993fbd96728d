// Slots, redirections and the map of a Redis Cluster (cluster.hpp).
#include "redis/cluster.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <set>

#include "redis/topology_stats.hpp"

namespace orc::redis {
namespace {

namespace asio = boost::asio;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as Redis Cluster's key hashing specifies.
constexpr std::array<std::uint16_t, 256> kCrc16Table = [] {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    t[i] = crc;
  }
  return t;
}();

std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char c : data)
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::string node_key(const std::string& host, std::uint16_t port) {
  return host + ":" + std::to_string(port);
}

// EVAL with the script's source: for a node that may not have loaded it (ASK, a slot moving there).
std::vector<std::string> eval_source(const RedisScript& script, const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> cmd{"EVAL", script.source(), std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

// A node of a CLUSTER SLOTS entry, [endpoint, port, id, ...]: its address; an empty host for "?" (unknown);
// nothing when malformed.
std::optional<std::pair<std::string, std::uint16_t>> endpoint(const RedisValue& node,
                                                              const std::string& asked) {
  if (!node.is_array() || node.elements.size() < 2) return std::nullopt;
  const auto& host = node.elements[0];
  const auto& port = node.elements[1];
  if (!(host.is_string() || host.is_nil()) || !port.is_integer() || port.integer <= 0 || port.integer > 65535)
    return std::nullopt;
  if (host.is_string() && host.str == "?") return std::pair<std::string, std::uint16_t>{};
  return std::pair{host.is_nil() || host.str.empty() ? asked : host.str,
                   static_cast<std::uint16_t>(port.integer)};
}

bool failed(const RedisReply& r) {
  return r.status == RedisStatus::unavailable || r.status == RedisStatus::timeout;
}

}  // namespace

int key_slot(std::string_view key) {
  if (auto open = key.find('{'); open != std::string_view::npos) {
    if (auto close = key.find('}', open + 1); close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) % kClusterSlots;
}

std::optional<Redirect> parse_redirect(std::string_view error) {
  Redirect r;
  if (error.starts_with("MOVED "))
    error.remove_prefix(6);
  else if (error.starts_with("ASK "))
    r.ask = true, error.remove_prefix(4);
  else
    return std::nullopt;
  const auto space = error.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto slot = error.substr(0, space);
  auto [end, ec] = std::from_chars(slot.data(), slot.data() + slot.size(), r.slot);
  if (ec != std::errc() || end != slot.data() + slot.size() || r.slot < 0 || r.slot >= kClusterSlots)
    return std::nullopt;
  auto address = error.substr(space + 1);
  const auto colon = address.rfind(':');  // (an IPv6 address has colons of its own)
  if (colon == std::string_view::npos) return std::nullopt;
  auto port = parse_port(address.substr(colon + 1));
  if (!port) return std::nullopt;
  r.host = std::string(address.substr(0, colon));
  r.port = *port;
  return r;
}

std::optional<std::vector<SlotRange>> parse_cluster_slots(const RedisValue& reply,
                                                          const std::string& asked_host) {
  if (!reply.is_array()) return std::nullopt;
  std::vector<SlotRange> out;
  for (const auto& e : reply.elements) {
    if (!e.is_array() || e.elements.size() < 3) return std::nullopt;
    const auto& first = e.elements[0];
    const auto& last = e.elements[1];
    const auto& master = e.elements[2];
    if (!first.is_integer() || !last.is_integer() || !master.is_array() || master.elements.size() < 2)
      return std::nullopt;
    if (first.integer < 0 || last.integer < first.integer || last.integer >= kClusterSlots)
      return std::nullopt;
    auto address = endpoint(master, asked_host);
    if (!address) return std::nullopt;
    if (address->first.empty()) continue;  // "?": unknown
    SlotRange range;
    range.first = static_cast<int>(first.integer);
    range.last = static_cast<int>(last.integer);
    range.host = std::move(address->first);
    range.port = address->second;
    for (std::size_t r = 3; r < e.elements.size(); ++r) {
      auto replica = endpoint(e.elements[r], asked_host);
      if (replica && !replica->first.empty()) range.replicas.push_back(std::move(*replica));
    }
    out.push_back(std::move(range));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

asio::awaitable<std::vector<RedisReply>> all_of(
    asio::any_io_executor executor, std::vector<std::function<asio::awaitable<RedisReply>()>> calls) {
  if (calls.size() == 1) {
    std::vector<RedisReply> one(1);
    one[0] = co_await calls[0]();
    co_return one;
  }
  // Each call runs as a coroutine of its own; the last to finish wakes this one (a timer that never fires
  // unless cancelled: Asio's event).
  struct Join {
    Join(const asio::any_io_executor& ex, std::size_t n) : done(ex), replies(n), left(n) {}
    asio::steady_timer done;
    std::vector<RedisReply> replies;
    std::size_t left;
  };
  auto join = std::make_shared<Join>(executor, calls.size());
  join->done.expires_at(asio::steady_timer::time_point::max());
  for (std::size_t i = 0; i < calls.size(); ++i) {
    auto run = [join, i, call = std::move(calls[i])]() -> asio::awaitable<void> {
      try {
        join->replies[i] = co_await call();
      } catch (
          const std::exception& e) {  // (bad_alloc): an answer all the same, or the caller waits for ever
        join->replies[i] = RedisReply::failure(RedisStatus::error, e.what());
      }
      if (--join->left == 0) join->done.cancel();
    };
    asio::co_spawn(executor, std::move(run), asio::detached);
  }
  if (join->left > 0) {
    boost::system::error_code ec;
    co_await join->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return std::move(join->replies);
}

struct ClusterPool::Core {
  Core(asio::any_io_executor ex, RedisOptions o, std::vector<Node> s)
      : executor(ex), options(std::move(o)), seeds(std::move(s)), slots(kClusterSlots), wake(ex) {}

  // The pool of the node at host:port, made (and connecting) the first time it is named.
  std::shared_ptr<RedisPool> pool_at(const std::string& host, std::uint16_t port) {
    auto& pool = pools[node_key(host, port)];
    if (!pool) {
      auto o = options;
      o.endpoint.host = host;
      o.endpoint.port = port;
      o.endpoint.unix_path.clear();  // a Cluster's nodes are TCP addresses (the rulebook refuses unix://)
      pool = std::make_shared<RedisPool>(executor, std::move(o));
    }
    return pool;
  }
  // The map may be out of date: learn it again soon (maintain()).
  void stale() {
    if (is_stale) return;
    is_stale = true;
    wake.cancel();
  }

  asio::any_io_executor executor;
  RedisOptions options;
  std::vector<Node> seeds;
  std::map<std::string, std::shared_ptr<RedisPool>> pools;  // "host:port": the masters and the seeds
  std::vector<std::shared_ptr<RedisPool>> slots;            // each slot's master; null until learnt
  std::vector<std::shared_ptr<RedisPool>> masters;          // as the last map said
  bool whole = false;                                       // the last map covered every slot
  std::string layout;                                       // its masters' names, for the log
  std::uint64_t refreshes = 0;
  asio::steady_timer wake;
  bool is_stale = false;
  bool closed = false;
};

ClusterPool::ClusterPool(asio::any_io_executor executor, RedisOptions options, std::vector<Node> seeds)
    : executor_(executor), core_(std::make_shared<Core>(executor, std::move(options), std::move(seeds))) {
  for (const auto& seed : core_->seeds) core_->pool_at(seed.host, seed.port);
  asio::co_spawn(executor_, maintain(core_), asio::detached);
}

ClusterPool::~ClusterPool() {
  close();
}

void ClusterPool::close() {
  if (core_->closed) return;
  core_->closed = true;
  core_->wake.cancel();
  for (auto& [name, pool] : core_->pools) pool->close();
  core_->pools.clear();
  std::fill(core_->slots.begin(), core_->slots.end(), nullptr);
  core_->masters.clear();
}

bool ClusterPool::up() const {
  return core_->whole && !core_->masters.empty() &&
         std::all_of(core_->masters.begin(), core_->masters.end(), [](const auto& p) { return p->up(); });
}

std::size_t ClusterPool::masters() const {
  return core_->masters.size();
}

std::uint64_t ClusterPool::refreshes() const {
  return core_->refreshes;
}

asio::awaitable<void> ClusterPool::maintain(std::shared_ptr<Core> core) {
  auto backoff = core->options.reconnect_initial;
  while (!core->closed) {
    core->is_stale = false;
    const bool learnt = co_await refresh(core);
    if (core->closed) break;
    const auto wait = learnt ? kRefreshEvery : backoff;
    backoff = learnt ? core->options.reconnect_initial : std::min(backoff * 2, core->options.reconnect_max);
    boost::system::error_code ec;
    if (!core->is_stale) {  // until the next periodic refresh, or a command finds the map stale
      core->wake.expires_after(wait);
      co_await core->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (core->closed) break;
    if (core->is_stale) {  // not more often than every kRefreshGap, however many commands fail
      core->wake.expires_after(std::min<std::chrono::milliseconds>(kRefreshGap, wait));
      co_await core->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
}

asio::awaitable<bool> ClusterPool::refresh(std::shared_ptr<Core> core) {
  // Asked: the known masters first, then the other nodes (replicas, seeds); only those connected (a command
  // on the others fails at once and would count against their breakers).
  std::vector<std::pair<std::string, std::shared_ptr<RedisPool>>> asked;
  auto is_master = [&](const std::shared_ptr<RedisPool>& pool) {
    return std::find(core->masters.begin(), core->masters.end(), pool) != core->masters.end();
  };
  for (const auto& [name, pool] : core->pools)
    if (is_master(pool) && pool->up()) asked.emplace_back(name, pool);
  for (const auto& [name, pool] : core->pools)
    if (!is_master(pool) && pool->up()) asked.emplace_back(name, pool);

  for (const auto& [name, pool] : asked) {
    std::vector<std::string> cmd{"CLUSTER", "SLOTS"};
    auto reply = co_await pool->command(std::move(cmd));
    if (core->closed) co_return false;
    if (!reply.ok()) continue;
    auto ranges = parse_cluster_slots(reply.value, pool->options().endpoint.host);
    if (!ranges) {
      spdlog::warn("redis cluster: {} answered CLUSTER SLOTS with no usable map", name);
      continue;
    }
    std::vector<std::shared_ptr<RedisPool>> slots(kClusterSlots);
    std::map<std::string, std::shared_ptr<RedisPool>> masters;
    std::set<std::string> replicas;
    for (const auto& range : *ranges) {
      auto master = core->pool_at(range.host, range.port);
      masters.emplace(node_key(range.host, range.port), master);
      std::fill(slots.begin() + range.first, slots.begin() + range.last + 1, master);
      // Connected ahead: a replica that takes over is ready for its first command.
      for (const auto& [host, port] : range.replicas) {
        core->pool_at(host, port);
        replicas.insert(node_key(host, port));
      }
    }
    // Nodes that are neither masters nor replicas go (a seed stays: it is asked when the masters are not).
    for (auto it = core->pools.begin(); it != core->pools.end();) {
      const bool seed = std::any_of(core->seeds.begin(), core->seeds.end(),
                                    [&](const Node& s) { return node_key(s.host, s.port) == it->first; });
      if (!seed && !masters.count(it->first) && !replicas.count(it->first))
        it = core->pools.erase(it);  // (commands in flight on it finish: RedisPool)
      else
        ++it;
    }
    std::string layout;
    for (const auto& [n, pool] : masters) layout += (layout.empty() ? "" : ", ") + n;
    if (layout != core->layout) spdlog::info("redis cluster: the masters are {} (map from {})", layout, name);
    core->layout = std::move(layout);
    core->whole = std::all_of(slots.begin(), slots.end(), [](const auto& p) { return p != nullptr; });
    core->slots = std::move(slots);
    core->masters.clear();
    for (auto& [n, pool] : masters) core->masters.push_back(std::move(pool));
    ++core->refreshes;
    topology_stats().cluster_maps.fetch_add(1, std::memory_order_relaxed);
    topology_stats().cluster_masters.store(core->masters.size(), std::memory_order_relaxed);
    co_return true;
  }
  // (No node connected is not counted: the connections' own state says it, as redis_up does.)
  if (!asked.empty()) topology_stats().cluster_maps_failed.fetch_add(1, std::memory_order_relaxed);
  co_return false;
}

asio::awaitable<RedisReply> ClusterPool::routed(std::shared_ptr<Core> core, int slot, Send send) {
  std::shared_ptr<RedisPool> pool = core->slots[slot];
  bool asking = false;
  for (int hop = 0;; ++hop) {
    if (core->closed) co_return RedisReply::failure(RedisStatus::unavailable, "pool closed");
    if (!pool) {
      core->stale();
      co_return RedisReply::failure(RedisStatus::unavailable, "no master known for the slot");
    }
    RedisReply reply = co_await send(*pool, asking);
    if (failed(reply)) core->stale();
    auto redirect = reply.status == RedisStatus::error ? parse_redirect(reply.error_text()) : std::nullopt;
    if (!redirect || hop == 2 || core->closed) co_return reply;
    // (An empty host in the redirection is the node that answered.)
    pool = core->pool_at(redirect->host.empty() ? pool->options().endpoint.host : redirect->host,
                         redirect->port);
    asking = redirect->ask;
    (asking ? topology_stats().cluster_ask : topology_stats().cluster_moved)
        .fetch_add(1, std::memory_order_relaxed);
    if (!asking) {  // MOVED: the slot is the other node's now, and more may have moved with it
      core->slots[redirect->slot] = pool;
      core->stale();
    }
  }
}

asio::awaitable<RedisReply> ClusterPool::command(std::string key, std::vector<std::string> args) {
  const int slot = key_slot(key);
  return routed(core_, slot, [args = std::move(args)](RedisPool& pool, bool asking) {
    return asking ? pool.asking(args) : pool.command(args);
  });
}

asio::awaitable<RedisReply> ClusterPool::eval(RedisScript& script, std::vector<std::string> keys,
                                              std::vector<std::string> args) {
  const int slot = keys.empty() ? 0 : key_slot(keys.front());
  return routed(
      core_, slot, [&script, keys = std::move(keys), args = std::move(args)](RedisPool& pool, bool asking) {
        return asking ? pool.asking(eval_source(script, keys, args)) : pool.eval(script, keys, args);
      });
}

asio::awaitable<RedisReply> ClusterPool::eval_wait(RedisScript& script, std::vector<std::string> keys,
                                                   std::vector<std::string> args, int replicas,
                                                   std::chrono::milliseconds timeout) {
  const int slot = keys.empty() ? 0 : key_slot(keys.front());
  return routed(core_, slot,
                [&script, keys = std::move(keys), args = std::move(args), replicas, timeout](
                    RedisPool& pool, bool asking) -> asio::awaitable<RedisReply> {
                  if (!asking) co_return co_await pool.eval_wait(script, keys, args, replicas, timeout);
                  RedisReply r = co_await pool.asking(eval_source(script, keys, args));
                  if (!r.ok()) co_return r;
                  co_return RedisReply::failure(RedisStatus::timeout, "slot moving: not confirmed");
                });
}

}  // namespace orc::redis
