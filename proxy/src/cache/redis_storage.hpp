// The `redis` storage backend, shared by every proxy instance (design.md section 6), with the layout of
// storage.hpp. Under the configured prefix: the entry is its sealed blob under the caller's key (which
// already carries the prefix) with a PX ttl; `<prefix>g:<tag>` is a tag's generation token, expiring with
// the last entry sealed with it (or max_fill after a purge). Nothing else: no set of a tag's entries, nothing
// without an expiry (a purge still empties the tag sets of the previous layout while a rolling upgrade runs
// it, kPurgeScript). A read is one MGET of the entry and the generations; a fill and a purge are one Lua
// script each, so they are atomic against each other, and a purge touches only its tags' keys. No KEYS or
// SCAN anywhere. A purge also publishes its tags on `<prefix>purges` (purge_channel()), which every
// instance's L1 listens to (redis/purge_listener.hpp).
//
// One instance per worker, on that worker's RedisPool; Redis failures come back as StorageStatus, never as
// exceptions.
#pragma once

#include <memory>
#include <string>

#include "cache/storage.hpp"
#include "config/rule_config.hpp"
#include "redis/redis_pool.hpp"

namespace orc::cache {

// A purge is done once this many replicas have it (WAIT, up to `timeout`); fewer: it failed (owed), since a
// failover could lose it. 0: once the master has it.
struct PurgeReplication {
  std::uint32_t replicas = 0;
  std::chrono::milliseconds timeout{25};
};

class RedisStorage final : public Storage {
 public:
  // On a pool of the caller's; `pool` must outlive this storage.
  RedisStorage(redis::RedisPool& pool, std::string prefix,
               std::chrono::milliseconds max_fill = kDefaultMaxFill, PurgeReplication replication = {});
  // With a pool of its own on `executor` (a worker's), from the `redis:` config section. Throws
  // std::invalid_argument when the URL is malformed (startup only). Construct, use and destroy it on
  // that executor's thread.
  // `master`: behind Sentinel, where the master is (redis/sentinel.hpp).
  RedisStorage(boost::asio::any_io_executor executor, const config::RedisConfig& cfg,
               std::chrono::milliseconds max_fill,
               std::shared_ptr<const redis::MasterSource> master = nullptr);

  std::string_view name() const override { return "redis"; }
  void close() override;
  bool up() const override { return pool_.up(); }
  // One MGET of the entry and the generation keys.
  boost::asio::awaitable<StorageResult<Snapshot>> read(const std::string& key,
                                                       const std::vector<std::string>& tags) override;
  boost::asio::awaitable<StorageResult<Generations>> generations(
      const std::vector<std::string>& tags) override;
  boost::asio::awaitable<StorageResult<bool>> put_if_current(const std::string& key, std::string blob,
                                                             std::chrono::milliseconds ttl,
                                                             const std::vector<std::string>& tags,
                                                             const Generations& seen) override;
  boost::asio::awaitable<StorageStatus> purge(const std::vector<std::string>& tags) override;

  std::string generation_key(const std::string& tag) const { return prefix_ + "g:" + tag; }
  redis::RedisPool& pool() { return pool_; }

 private:
  std::unique_ptr<redis::RedisPool> owned_pool_;  // set by the config constructor only
  redis::RedisPool& pool_;
  std::string prefix_;
  std::chrono::milliseconds max_fill_;
  PurgeReplication replication_;
  std::string channel_;  // purge_channel(prefix_)
  redis::RedisScript fill_script_;
  redis::RedisScript purge_script_;
};

// The channel purges are published on: one per key prefix, so deployments sharing a Redis stay apart.
inline std::string purge_channel(const std::string& prefix) {
  return prefix + "purges";
}

// StorageStatus for a Redis outcome.
StorageStatus to_storage_status(redis::RedisStatus s);

// The adapter's options from the `redis:` config section (the breaker and back-off keep their defaults).
// Empty optional when the URL is malformed; `error` then says why.
std::optional<redis::RedisOptions> redis_options(const config::RedisConfig& cfg,
                                                 std::string* error = nullptr);

}  // namespace orc::cache
