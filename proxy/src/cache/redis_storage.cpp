// The Redis storage backend: GET, MGET of generations, and the fill and purge Lua scripts.
#include "cache/redis_storage.hpp"

#include "config/config_loader.hpp"
#include "redis/purge_listener.hpp"

#include <algorithm>
#include <stdexcept>

namespace orc::cache {
namespace {

// KEYS: the n generations, then the entry (none on a Redis Cluster, where the entry's slot is another: the
// caller SETs it after a 1). ARGV: the entry's ttl in ms, the n generations seen ("" for none), the n it is
// sealed with (the read's new token where none was seen, which this fill's own earlier put may have given
// already: sealed::still_current), then the sealed entry when KEYS has it. Every generation then lives at
// least as long as the entry: one that would not (a missing one, PTTL -2, too) is set for
// sealed::kGenerationReach times the entry's ttl, so that the fills after it need not set it again.
static_assert(sealed::kGenerationReach == 2, "the fill script's `reach`");
constexpr const char* kFillScript = R"lua(
local n = math.floor((#ARGV - 1) / 2)
local ttl = tonumber(ARGV[1])
local reach = 2 * ttl
for i = 1, n do
  local current, seen = redis.call('GET', KEYS[i]) or '', ARGV[1 + i]
  if current ~= seen and (seen ~= '' or current ~= ARGV[1 + n + i]) then return 0 end
end
for i = 1, n do
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('SET', KEYS[i], ARGV[1 + n + i], 'PX', reach) end
end
if #KEYS > n then redis.call('SET', KEYS[n + 1], ARGV[2 + 2 * n], 'PX', ttl) end
return 1
)lua";

// KEYS: the n generations, then the n tag sets of the previous layout (none on a Redis Cluster, which that
// layout never ran on). ARGV: the generations' lifetime in ms (max_fill: a fill that read the old ones is
// refused until then, and later ones extend it), the n new tokens, then the channel and the message that
// tell every instance's L1 (redis/purge_listener.hpp). O(n), whatever the tags carry.
//
// A rolling upgrade runs instances of the previous layout (tag sets `t:`, counters `g:`, entries served
// without a seal) beside this one on one Redis, and each must honour the other's purges: theirs INCR the
// generations (tokens are numbers for that: an INCR makes a new token), and this one deletes the entries
// they indexed under the tags, as they did. Those sets exist only while such instances fill (they expire
// with their entries); without them a purge checks one key per tag. Remove once no such instance can run.
constexpr const char* kPurgeScript = R"lua(
local n = #ARGV - 3
for i = 1, n do redis.call('SET', KEYS[i], ARGV[1 + i], 'PX', ARGV[1]) end
for i = n + 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local members = redis.call('SMEMBERS', KEYS[i])
    for j = 1, #members, 500 do redis.call('DEL', unpack(members, j, math.min(j + 499, #members))) end
    redis.call('DEL', KEYS[i])
  end
end
redis.call('PUBLISH', ARGV[n + 2], ARGV[n + 3])
return n
)lua";

// The generations of `tags` in an MGET reply from element `first` on (a missing key is "").
std::optional<Generations> parse_generations(std::vector<redis::RedisValue>& elements, std::size_t first,
                                             const std::vector<std::string>& tags) {
  Generations out;
  out.read_at = std::chrono::steady_clock::now();
  out.tokens.reserve(elements.size() - first);
  for (std::size_t i = first; i < elements.size(); ++i) {
    auto& e = elements[i];
    if (e.is_nil())
      out.tokens.emplace_back();
    else if (e.is_string())
      out.tokens.push_back(std::move(e.str));
    else
      return std::nullopt;
  }
  sealed::choose_new_tokens(out, tags);
  return out;
}

}  // namespace

StorageStatus to_storage_status(redis::RedisStatus s) {
  switch (s) {
    case redis::RedisStatus::ok:
      return StorageStatus::ok;
    case redis::RedisStatus::unavailable:
      return StorageStatus::unavailable;
    case redis::RedisStatus::timeout:
      return StorageStatus::timeout;
    case redis::RedisStatus::error:
      return StorageStatus::error;
  }
  return StorageStatus::error;
}

std::optional<redis::RedisOptions> redis_options(const config::RedisConfig& cfg, std::string* error) {
  auto endpoint = redis::parse_redis_url(cfg.url, error);
  if (!endpoint) return std::nullopt;
  redis::RedisOptions o;
  o.endpoint = std::move(*endpoint);
  o.connections = std::max<std::size_t>(cfg.pool_size, 1);
  o.connect_timeout = cfg.connect_timeout;
  o.command_timeout = cfg.command_timeout;
  return o;
}

namespace {

redis::RedisOptions options_of(const config::RedisConfig& cfg) {
  std::string error;
  auto options = redis_options(cfg, &error);
  if (!options) throw std::invalid_argument("redis.url '" + cfg.url + "': " + error);
  return std::move(*options);
}

std::unique_ptr<redis::ClusterPool> make_cluster(boost::asio::any_io_executor executor,
                                                 const config::RedisConfig& cfg) {
  if (cfg.cluster.empty()) return nullptr;
  std::vector<redis::ClusterPool::Node> seeds;
  for (const auto& node : cfg.cluster) {
    auto hp = config::parse_host_port(node);  // validated by load_all
    if (!hp) throw std::invalid_argument("redis.cluster: '" + node + "' is not host:port");
    seeds.push_back({hp->host, hp->port});
  }
  return std::make_unique<redis::ClusterPool>(std::move(executor), options_of(cfg), std::move(seeds));
}

std::unique_ptr<redis::RedisPool> make_pool(boost::asio::any_io_executor executor,
                                            const config::RedisConfig& cfg,
                                            std::shared_ptr<const redis::MasterSource> master) {
  if (!cfg.cluster.empty()) return nullptr;
  auto options = options_of(cfg);
  options.master = std::move(master);
  return std::make_unique<redis::RedisPool>(std::move(executor), std::move(options));
}

}  // namespace

RedisStorage::RedisStorage(Client client, std::string prefix, std::chrono::milliseconds max_fill,
                           PurgeReplication replication)
    : owned_pool_(std::move(client.owned_pool)),
      owned_cluster_(std::move(client.owned_cluster)),
      pool_(owned_pool_ ? owned_pool_.get() : client.pool),
      cluster_(owned_cluster_ ? owned_cluster_.get() : client.cluster),
      prefix_(std::move(prefix)),
      max_fill_(max_fill),
      replication_(replication),
      channel_(purge_channel(prefix_)),
      fill_script_(kFillScript),
      purge_script_(kPurgeScript) {}

RedisStorage::RedisStorage(redis::RedisPool& pool, std::string prefix, std::chrono::milliseconds max_fill,
                           PurgeReplication replication)
    : RedisStorage(Client{.pool = &pool}, std::move(prefix), max_fill, replication) {}

RedisStorage::RedisStorage(redis::ClusterPool& cluster, std::string prefix,
                           std::chrono::milliseconds max_fill, PurgeReplication replication)
    : RedisStorage(Client{.cluster = &cluster}, std::move(prefix), max_fill, replication) {}

RedisStorage::RedisStorage(boost::asio::any_io_executor executor, const config::RedisConfig& cfg,
                           std::chrono::milliseconds max_fill,
                           std::shared_ptr<const redis::MasterSource> master)
    : RedisStorage(Client{.owned_pool = make_pool(executor, cfg, std::move(master)),
                          .owned_cluster = make_cluster(executor, cfg)},
                   cfg.key_prefix, max_fill,
                   // A purge must survive a failover: it waits for the replicas (half the command's time).
                   {cfg.purge_replicas(), std::max(std::chrono::milliseconds(1), cfg.command_timeout / 2)}) {}

boost::asio::awaitable<redis::RedisReply> RedisStorage::values(std::vector<std::string> keys) {
  if (!cluster_) {
    keys.insert(keys.begin(), "MGET");
    co_return co_await pool_->command(std::move(keys));
  }
  // Keys of different slots cannot share an MGET: a GET each, at once.
  std::vector<std::function<boost::asio::awaitable<redis::RedisReply>()>> gets;
  gets.reserve(keys.size());
  for (auto& key : keys)
    gets.emplace_back([this, key = std::move(key)] {
      std::vector<std::string> get{"GET", key};
      return cluster_->command(key, std::move(get));
    });
  auto replies = co_await redis::all_of(cluster_->executor(), std::move(gets));
  redis::RedisReply out;
  out.status = redis::RedisStatus::ok;
  out.value.type = redis::RedisValue::Type::array;
  out.value.elements.reserve(replies.size());
  for (auto& r : replies) {
    if (!r.ok()) co_return r;
    out.value.elements.push_back(std::move(r.value));
  }
  co_return out;
}

boost::asio::awaitable<StorageResult<Storage::Snapshot>> RedisStorage::read(
    const std::string& key, const std::vector<std::string>& tags) {
  using Result = StorageResult<Snapshot>;
  std::vector<std::string> keys;
  keys.reserve(tags.size() + 1);
  keys.push_back(key);
  for (const auto& tag : tags) keys.push_back(generation_key(tag));
  auto r = co_await values(std::move(keys));
  if (!r.ok()) co_return Result{to_storage_status(r.status), {}};
  if (!r.value.is_array() || r.value.elements.size() != tags.size() + 1)
    co_return Result{StorageStatus::error, {}};
  auto& first = r.value.elements.front();
  if (!first.is_string() && !first.is_nil()) co_return Result{StorageStatus::error, {}};
  auto gens = parse_generations(r.value.elements, 1, tags);
  if (!gens) co_return Result{StorageStatus::error, {}};
  Result out;
  if (first.is_string()) out.value.blob = sealed::unseal(std::move(first.str), *gens);
  out.value.generations = std::move(*gens);
  co_return out;
}

boost::asio::awaitable<StorageResult<Generations>> RedisStorage::generations(
    const std::vector<std::string>& tags) {
  using Result = StorageResult<Generations>;
  if (tags.empty()) co_return Result{StorageStatus::ok, Generations{{}, std::chrono::steady_clock::now()}};
  std::vector<std::string> keys;
  keys.reserve(tags.size());
  for (const auto& tag : tags) keys.push_back(generation_key(tag));
  auto r = co_await values(std::move(keys));
  if (!r.ok()) co_return Result{to_storage_status(r.status), {}};
  if (!r.value.is_array() || r.value.elements.size() != tags.size())
    co_return Result{StorageStatus::error, {}};
  auto gens = parse_generations(r.value.elements, 0, tags);
  if (!gens) co_return Result{StorageStatus::error, {}};
  co_return Result{StorageStatus::ok, std::move(*gens)};
}

boost::asio::awaitable<StorageResult<bool>> RedisStorage::put_if_current(const std::string& key,
                                                                         std::string blob,
                                                                         std::chrono::milliseconds ttl,
                                                                         const std::vector<std::string>& tags,
                                                                         const Generations& seen) {
  using Result = StorageResult<bool>;
  if (seen.tokens.size() != tags.size()) co_return Result{StorageStatus::error, false};
  if (sealed::put_refused(seen, std::chrono::steady_clock::now(), ttl, max_fill_))
    co_return Result{StorageStatus::ok, false};
  auto tokens = sealed::with_new_tokens(seen);
  auto sealed_blob = sealed::seal(std::move(blob), tokens);
  if (cluster_) co_return co_await put_on_cluster(key, std::move(sealed_blob), ttl, tags, seen, tokens);
  std::vector<std::string> keys;
  keys.reserve(1 + tags.size());
  for (const auto& tag : tags) keys.push_back(generation_key(tag));
  keys.push_back(key);
  std::vector<std::string> args;
  args.reserve(2 + 2 * tags.size());
  args.push_back(std::to_string(ttl.count()));
  args.insert(args.end(), seen.tokens.begin(), seen.tokens.end());
  args.insert(args.end(), std::make_move_iterator(tokens.begin()), std::make_move_iterator(tokens.end()));
  args.push_back(std::move(sealed_blob));
  auto r = co_await pool_->eval(fill_script_, std::move(keys), std::move(args));
  if (!r.ok()) co_return Result{to_storage_status(r.status), false};
  if (!r.value.is_integer()) co_return Result{StorageStatus::error, false};
  co_return Result{StorageStatus::ok, r.value.integer == 1};
}

// Each generation is checked (and kept alive) on its own slot, then the entry is stored. Not atomic as the
// single server's script is, and it need not be: the entry is sealed with the tokens checked, so a purge
// that comes between them outdates it all the same (its reads see a new token).
boost::asio::awaitable<StorageResult<bool>> RedisStorage::put_on_cluster(
    const std::string& key, std::string sealed_blob, std::chrono::milliseconds ttl,
    const std::vector<std::string>& tags, const Generations& seen, const std::vector<std::string>& tokens) {
  using Result = StorageResult<bool>;
  const auto ttl_ms = std::to_string(ttl.count());
  std::vector<std::function<boost::asio::awaitable<redis::RedisReply>()>> checks;
  checks.reserve(tags.size());
  for (std::size_t i = 0; i < tags.size(); ++i) {
    checks.emplace_back([this, &ttl_ms, &seen, &tokens, &tags, i] {
      std::vector<std::string> keys{generation_key(tags[i])};
      std::vector<std::string> args{ttl_ms, seen.tokens[i], tokens[i]};
      return cluster_->eval(fill_script_, std::move(keys), std::move(args));
    });
  }
  if (!checks.empty()) {
    auto replies = co_await redis::all_of(cluster_->executor(), std::move(checks));
    for (const auto& r : replies)
      if (!r.ok()) co_return Result{to_storage_status(r.status), false};
    for (const auto& r : replies) {
      if (!r.value.is_integer()) co_return Result{StorageStatus::error, false};
      if (r.value.integer != 1) co_return Result{StorageStatus::ok, false};
    }
  }
  std::vector<std::string> set{"SET", key, std::move(sealed_blob), "PX", ttl_ms};
  auto r = co_await cluster_->command(key, std::move(set));
  if (!r.ok()) co_return Result{to_storage_status(r.status), false};
  co_return Result{StorageStatus::ok, true};
}

boost::asio::awaitable<StorageStatus> RedisStorage::purge(const std::vector<std::string>& tags) {
  if (tags.empty()) co_return StorageStatus::ok;
  if (cluster_) co_return co_await purge_on_cluster(tags);
  std::vector<std::string> keys;
  keys.reserve(2 * tags.size());
  for (const auto& tag : tags) keys.push_back(generation_key(tag));
  for (const auto& tag : tags) keys.push_back(prefix_ + "t:" + tag);  // the previous layout's (kPurgeScript)
  std::vector<std::string> args;
  args.reserve(tags.size() + 3);
  args.push_back(std::to_string(max_fill_.count()));
  for (std::size_t i = 0; i < tags.size(); ++i) args.push_back(sealed::new_generation());
  args.push_back(channel_);
  args.push_back(redis::encode_purge_message(tags));
  if (replication_.replicas == 0) {
    co_return replicated(co_await pool_->eval(purge_script_, std::move(keys), std::move(args)));
  }
  co_return replicated(co_await pool_->eval_wait(purge_script_, std::move(keys), std::move(args),
                                                 static_cast<int>(replication_.replicas),
                                                 replication_.timeout));
}

// One script per tag on its generation's slot, each publishing that tag (PUBLISH reaches every node of a
// Cluster), at once; the purge is done when each is.
boost::asio::awaitable<StorageStatus> RedisStorage::purge_on_cluster(const std::vector<std::string>& tags) {
  const auto lifetime = std::to_string(max_fill_.count());
  std::vector<std::function<boost::asio::awaitable<redis::RedisReply>()>> sets;
  sets.reserve(tags.size());
  for (const auto& tag : tags) {
    sets.emplace_back([this, &lifetime, &tag] {
      std::vector<std::string> keys{generation_key(tag)};
      std::vector<std::string> args{lifetime, sealed::new_generation(), channel_,
                                    redis::encode_purge_message(std::vector<std::string>{tag})};
      if (replication_.replicas == 0) return cluster_->eval(purge_script_, std::move(keys), std::move(args));
      return cluster_->eval_wait(purge_script_, std::move(keys), std::move(args),
                                 static_cast<int>(replication_.replicas), replication_.timeout);
    });
  }
  StorageStatus worst = StorageStatus::ok;
  for (const auto& r : co_await redis::all_of(cluster_->executor(), std::move(sets))) {
    const auto status = replicated(r);
    if (status != StorageStatus::ok) worst = status;
  }
  co_return worst;
}

// The outcome of the purge script (followed by WAIT when replicas must have it): not on enough replicas in
// time, a failover now could lose it, so it is owed (replayed later).
StorageStatus RedisStorage::replicated(const redis::RedisReply& r) const {
  if (!r.ok()) return to_storage_status(r.status);
  if (!r.value.is_integer()) return StorageStatus::error;
  return r.value.integer >= static_cast<long long>(replication_.replicas) ? StorageStatus::ok
                                                                          : StorageStatus::timeout;
}

void RedisStorage::close() {
  if (owned_pool_) owned_pool_->close();
  if (owned_cluster_) owned_cluster_->close();
}

}  // namespace orc::cache
