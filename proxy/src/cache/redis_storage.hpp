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
// On a Redis Cluster (redis/cluster.hpp) every key lies on its own slot, so nothing spans two: a read GETs
// each key at once, a fill runs the script per tag on its generation's slot then SETs the entry, a purge runs
// the script per tag. The seal keeps that safe: an entry stored after a purge it did not see carries the old
// tokens, and no read accepts it.
//
// One instance per worker, on that worker's RedisPool or ClusterPool; Redis failures come back as
// StorageStatus, never as exceptions.
#pragma once

#include <memory>
#include <string>

#include "cache/storage.hpp"
#include "config/rule_config.hpp"
#include "redis/cluster.hpp"
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
  // On a Redis Cluster of the caller's (which must outlive this storage): each key on its slot's master.
  RedisStorage(redis::ClusterPool& cluster, std::string prefix,
               std::chrono::milliseconds max_fill = kDefaultMaxFill, PurgeReplication replication = {});
  // With a pool of its own on `executor` (a worker's), from the `redis:` config section. Throws
  // std::invalid_argument when the URL is malformed (startup only). Construct, use and destroy it on
  // that executor's thread.
  // `master`: behind Sentinel, where the master is (redis/sentinel.hpp). With `cfg.cluster`, on a Cluster.
  RedisStorage(boost::asio::any_io_executor executor, const config::RedisConfig& cfg,
               std::chrono::milliseconds max_fill,
               std::shared_ptr<const redis::MasterSource> master = nullptr);

  std::string_view name() const override { return "redis"; }
  void close() override;
  bool up() const override { return cluster_ ? cluster_->up() : pool_->up(); }
  // One MGET of the entry and the generation keys (on a Cluster: a GET of each, at once).
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

 private:
  // What the storage runs on: a pool or a cluster of the caller's, or one of its own.
  struct Client {
    redis::RedisPool* pool = nullptr;
    redis::ClusterPool* cluster = nullptr;
    std::unique_ptr<redis::RedisPool> owned_pool;
    std::unique_ptr<redis::ClusterPool> owned_cluster;
  };
  RedisStorage(Client client, std::string prefix, std::chrono::milliseconds max_fill,
               PurgeReplication replication);
  // The values of `keys` as one array (MGET's reply), nil for a missing one.
  boost::asio::awaitable<redis::RedisReply> values(std::vector<std::string> keys);
  // A Redis Cluster's fill and purge: one script per tag (each on its generation's slot), at once.
  boost::asio::awaitable<StorageResult<bool>> put_on_cluster(const std::string& key, std::string sealed,
                                                             std::chrono::milliseconds ttl,
                                                             const std::vector<std::string>& tags,
                                                             const Generations& seen,
                                                             const std::vector<std::string>& tokens);
  boost::asio::awaitable<StorageStatus> purge_on_cluster(const std::vector<std::string>& tags);
  StorageStatus replicated(const redis::RedisReply& script_then_wait) const;

  std::unique_ptr<redis::RedisPool> owned_pool_;       // set by the config constructor only...
  std::unique_ptr<redis::ClusterPool> owned_cluster_;  // ...one of them
  redis::RedisPool* pool_ = nullptr;                   // one server (or Sentinel's master)...
  redis::ClusterPool* cluster_ = nullptr;              // ...or a Cluster
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
