// The Redis storage backend: GET, MGET of generations, and the fill and purge Lua scripts.
#include "cache/redis_storage.hpp"

#include "redis/purge_listener.hpp"

#include <algorithm>
#include <stdexcept>

namespace orc::cache {
namespace {

// KEYS: the entry, then the n generations. ARGV: the sealed entry, its ttl in ms, the n generations seen
// ("" for none), then the n it is sealed with (the read's new token where none was seen, which this fill's
// own earlier put may have given already: sealed::still_current). Every generation then lives at least as
// long as the entry (a missing one, PTTL -2, is set).
constexpr const char* kFillScript = R"lua(
local n = #KEYS - 1
local ttl = tonumber(ARGV[2])
for i = 1, n do
  local current, seen = redis.call('GET', KEYS[1 + i]) or '', ARGV[2 + i]
  if current ~= seen and (seen ~= '' or current ~= ARGV[2 + n + i]) then return 0 end
end
for i = 1, n do
  local g = KEYS[1 + i]
  if redis.call('PTTL', g) < ttl then redis.call('SET', g, ARGV[2 + n + i], 'PX', ttl) end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
return 1
)lua";

// KEYS: the n generations, then the n tag sets of the previous layout. ARGV: the generations' lifetime in ms
// (max_fill: a fill that read the old ones is refused until then, and later ones extend it), the n new
// tokens, then the channel and the message that tell every instance's L1 (redis/purge_listener.hpp). O(n),
// whatever the tags carry.
//
// A rolling upgrade runs instances of the previous layout (tag sets `t:`, counters `g:`, entries served
// without a seal) beside this one on one Redis, and each must honour the other's purges: theirs INCR the
// generations (tokens are numbers for that: an INCR makes a new token), and this one deletes the entries
// they indexed under the tags, as they did. Those sets exist only while such instances fill (they expire
// with their entries); without them a purge checks one key per tag. Remove once no such instance can run.
constexpr const char* kPurgeScript = R"lua(
local n = #KEYS / 2
for i = 1, n do redis.call('SET', KEYS[i], ARGV[1 + i], 'PX', ARGV[1]) end
for i = n + 1, 2 * n do
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

std::unique_ptr<redis::RedisPool> make_pool(boost::asio::any_io_executor executor,
                                            const config::RedisConfig& cfg,
                                            std::shared_ptr<const redis::MasterSource> master) {
  std::string error;
  auto options = redis_options(cfg, &error);
  if (!options) throw std::invalid_argument("redis.url '" + cfg.url + "': " + error);
  options->master = std::move(master);
  return std::make_unique<redis::RedisPool>(std::move(executor), std::move(*options));
}

}  // namespace

RedisStorage::RedisStorage(redis::RedisPool& pool, std::string prefix, std::chrono::milliseconds max_fill,
                           PurgeReplication replication)
    : pool_(pool),
      prefix_(std::move(prefix)),
      max_fill_(max_fill),
      replication_(replication),
      channel_(purge_channel(prefix_)),
      fill_script_(kFillScript),
      purge_script_(kPurgeScript) {}

RedisStorage::RedisStorage(boost::asio::any_io_executor executor, const config::RedisConfig& cfg,
                           std::chrono::milliseconds max_fill,
                           std::shared_ptr<const redis::MasterSource> master)
    : owned_pool_(make_pool(std::move(executor), cfg, std::move(master))),
      pool_(*owned_pool_),
      prefix_(cfg.key_prefix),
      max_fill_(max_fill),
      // Behind Sentinel a purge must survive a failover: it waits for the replicas (half the command's time).
      replication_{cfg.sentinel.master.empty() ? 0 : cfg.sentinel.wait_replicas,
                   std::max(std::chrono::milliseconds(1), cfg.command_timeout / 2)},
      channel_(purge_channel(prefix_)),
      fill_script_(kFillScript),
      purge_script_(kPurgeScript) {}

boost::asio::awaitable<StorageResult<Storage::Snapshot>> RedisStorage::read(
    const std::string& key, const std::vector<std::string>& tags) {
  using Result = StorageResult<Snapshot>;
  std::vector<std::string> cmd;
  cmd.reserve(tags.size() + 2);
  cmd.push_back("MGET");
  cmd.push_back(key);
  for (const auto& tag : tags) cmd.push_back(generation_key(tag));
  auto r = co_await pool_.command(std::move(cmd));
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
  std::vector<std::string> cmd;
  cmd.reserve(tags.size() + 1);
  cmd.push_back("MGET");
  for (const auto& tag : tags) cmd.push_back(generation_key(tag));
  auto r = co_await pool_.command(std::move(cmd));
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
  std::vector<std::string> keys;
  keys.reserve(1 + tags.size());
  keys.push_back(key);
  for (const auto& tag : tags) keys.push_back(generation_key(tag));
  std::vector<std::string> args;
  args.reserve(2 + 2 * tags.size());
  args.push_back(sealed::seal(std::move(blob), tokens));
  args.push_back(std::to_string(ttl.count()));
  args.insert(args.end(), seen.tokens.begin(), seen.tokens.end());
  args.insert(args.end(), std::make_move_iterator(tokens.begin()), std::make_move_iterator(tokens.end()));
  auto r = co_await pool_.eval(fill_script_, std::move(keys), std::move(args));
  if (!r.ok()) co_return Result{to_storage_status(r.status), false};
  if (!r.value.is_integer()) co_return Result{StorageStatus::error, false};
  co_return Result{StorageStatus::ok, r.value.integer == 1};
}

boost::asio::awaitable<StorageStatus> RedisStorage::purge(const std::vector<std::string>& tags) {
  if (tags.empty()) co_return StorageStatus::ok;
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
    auto r = co_await pool_.eval(purge_script_, std::move(keys), std::move(args));
    if (!r.ok()) co_return to_storage_status(r.status);
    co_return r.value.is_integer() ? StorageStatus::ok : StorageStatus::error;
  }
  std::vector<std::string> wait{"WAIT", std::to_string(replication_.replicas),
                                std::to_string(replication_.timeout.count())};
  auto r = co_await pool_.eval_then(purge_script_, std::move(keys), std::move(args), std::move(wait));
  if (!r.ok()) co_return to_storage_status(r.status);
  if (!r.value.is_integer()) co_return StorageStatus::error;
  // Not on enough replicas in time: a failover now could lose it, so it is owed (replayed later).
  co_return r.value.integer >= static_cast<long long>(replication_.replicas) ? StorageStatus::ok
                                                                             : StorageStatus::timeout;
}

void RedisStorage::close() {
  if (owned_pool_) owned_pool_->close();
}

}  // namespace orc::cache
