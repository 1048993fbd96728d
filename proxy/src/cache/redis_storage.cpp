// The Redis storage backend: GET, MGET of generations, and the fill and purge Lua scripts.
#include "cache/redis_storage.hpp"

#include "redis/purge_listener.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace orc::cache {
namespace {

// KEYS: the entry, then n tag sets, then n generations. ARGV: blob, ttl in ms, then the n generations seen.
// Generations compare as strings: Lua numbers are doubles and would round counters past 2^53.
constexpr const char* kFillScript = R"lua(
local n = (#KEYS - 1) / 2
for i = 1, n do
  local g = redis.call('GET', KEYS[1 + n + i]) or '0'
  if g ~= ARGV[2 + i] then return 0 end
end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 1, n do
  local set = KEYS[1 + i]
  redis.call('SADD', set, KEYS[1])
  if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
end
return 1
)lua";

// KEYS: n generations, n tag sets, then the extra keys. ARGV: n, then optionally the channel and the message
// that tell every instance's L1 (redis/purge_listener.hpp). Returns the number of entries deleted.
constexpr const char* kPurgeScript = R"lua(
local n = tonumber(ARGV[1])
local deleted = 0
for i = 1, n do redis.call('INCR', KEYS[i]) end
for i = n + 1, 2 * n do
  local members = redis.call('SMEMBERS', KEYS[i])
  for j = 1, #members, 500 do
    deleted = deleted + redis.call('DEL', unpack(members, j, math.min(j + 499, #members)))
  end
  redis.call('DEL', KEYS[i])
end
for i = 2 * n + 1, #KEYS do deleted = deleted + redis.call('DEL', KEYS[i]) end
if ARGV[3] then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return deleted
)lua";

std::optional<std::uint64_t> parse_u64(const std::string& s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The generations in an MGET reply from element `first` on (a missing key is 0).
std::optional<Generations> parse_generations(const std::vector<redis::RedisValue>& elements,
                                             std::size_t first) {
  Generations out;
  out.reserve(elements.size() - first);
  for (std::size_t i = first; i < elements.size(); ++i) {
    const auto& e = elements[i];
    if (e.is_nil()) {
      out.push_back(0);
      continue;
    }
    auto v = e.is_string() ? parse_u64(e.str) : std::nullopt;
    if (!v) return std::nullopt;
    out.push_back(*v);
  }
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
                                            const config::RedisConfig& cfg) {
  std::string error;
  auto options = redis_options(cfg, &error);
  if (!options) throw std::invalid_argument("redis.url '" + cfg.url + "': " + error);
  return std::make_unique<redis::RedisPool>(std::move(executor), std::move(*options));
}

}  // namespace

RedisStorage::RedisStorage(redis::RedisPool& pool, std::string prefix)
    : pool_(pool),
      prefix_(std::move(prefix)),
      channel_(purge_channel(prefix_)),
      fill_script_(kFillScript),
      purge_script_(kPurgeScript) {}

RedisStorage::RedisStorage(boost::asio::any_io_executor executor, const config::RedisConfig& cfg)
    : owned_pool_(make_pool(std::move(executor), cfg)),
      pool_(*owned_pool_),
      prefix_(cfg.key_prefix),
      channel_(purge_channel(prefix_)),
      fill_script_(kFillScript),
      purge_script_(kPurgeScript) {}

boost::asio::awaitable<StorageResult<std::optional<std::string>>> RedisStorage::get(const std::string& key) {
  using Result = StorageResult<std::optional<std::string>>;
  std::vector<std::string> cmd{"GET", key};  // (a braced list inside co_await trips GCC 12)
  auto r = co_await pool_.command(std::move(cmd));
  if (!r.ok()) co_return Result{to_storage_status(r.status), std::nullopt};
  if (r.value.is_nil()) co_return Result{StorageStatus::ok, std::nullopt};
  if (!r.value.is_string()) co_return Result{StorageStatus::error, std::nullopt};
  co_return Result{StorageStatus::ok, std::move(r.value.str)};
}

boost::asio::awaitable<StorageResult<Storage::Snapshot>> RedisStorage::get_with_generations(
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
  Result out;
  auto& first = r.value.elements.front();
  if (first.is_string())
    out.value.blob = std::move(first.str);
  else if (!first.is_nil())
    co_return Result{StorageStatus::error, {}};
  auto gens = parse_generations(r.value.elements, 1);
  if (!gens) co_return Result{StorageStatus::error, {}};
  out.value.generations = std::move(*gens);
  co_return out;
}

boost::asio::awaitable<StorageResult<Generations>> RedisStorage::generations(
    const std::vector<std::string>& tags) {
  using Result = StorageResult<Generations>;
  if (tags.empty()) co_return Result{};
  std::vector<std::string> cmd;
  cmd.reserve(tags.size() + 1);
  cmd.push_back("MGET");
  for (const auto& tag : tags) cmd.push_back(generation_key(tag));
  auto r = co_await pool_.command(std::move(cmd));
  if (!r.ok()) co_return Result{to_storage_status(r.status), {}};
  if (!r.value.is_array() || r.value.elements.size() != tags.size())
    co_return Result{StorageStatus::error, {}};
  auto gens = parse_generations(r.value.elements, 0);
  if (!gens) co_return Result{StorageStatus::error, {}};
  co_return Result{StorageStatus::ok, std::move(*gens)};
}

boost::asio::awaitable<StorageResult<bool>> RedisStorage::put_if_current(const std::string& key,
                                                                         std::string blob,
                                                                         std::chrono::milliseconds ttl,
                                                                         const std::vector<std::string>& tags,
                                                                         const Generations& seen) {
  using Result = StorageResult<bool>;
  if (seen.size() != tags.size()) co_return Result{StorageStatus::error, false};
  if (ttl <= std::chrono::milliseconds::zero()) co_return Result{StorageStatus::ok, false};
  std::vector<std::string> keys;
  keys.reserve(1 + 2 * tags.size());
  keys.push_back(key);
  for (const auto& tag : tags) keys.push_back(tag_set_key(tag));
  for (const auto& tag : tags) keys.push_back(generation_key(tag));
  std::vector<std::string> args;
  args.reserve(2 + seen.size());
  args.push_back(std::move(blob));
  args.push_back(std::to_string(ttl.count()));
  for (auto g : seen) args.push_back(std::to_string(g));
  auto r = co_await pool_.eval(fill_script_, std::move(keys), std::move(args));
  if (!r.ok()) co_return Result{to_storage_status(r.status), false};
  if (!r.value.is_integer()) co_return Result{StorageStatus::error, false};
  co_return Result{StorageStatus::ok, r.value.integer == 1};
}

boost::asio::awaitable<StorageResult<std::uint64_t>> RedisStorage::purge(
    const std::vector<std::string>& tags, const std::vector<std::string>& keys) {
  using Result = StorageResult<std::uint64_t>;
  if (tags.empty() && keys.empty()) co_return Result{};
  std::vector<std::string> script_keys;
  script_keys.reserve(2 * tags.size() + keys.size());
  for (const auto& tag : tags) script_keys.push_back(generation_key(tag));
  for (const auto& tag : tags) script_keys.push_back(tag_set_key(tag));
  script_keys.insert(script_keys.end(), keys.begin(), keys.end());
  std::vector<std::string> args{std::to_string(tags.size())};
  if (!tags.empty()) {
    args.push_back(channel_);
    args.push_back(redis::encode_purge_message(tags));
  }
  auto r = co_await pool_.eval(purge_script_, std::move(script_keys), std::move(args));
  if (!r.ok()) co_return Result{to_storage_status(r.status), 0};
  if (!r.value.is_integer() || r.value.integer < 0) co_return Result{StorageStatus::error, 0};
  co_return Result{StorageStatus::ok, static_cast<std::uint64_t>(r.value.integer)};
}

void RedisStorage::close() {
  if (owned_pool_) owned_pool_->close();
}

}  // namespace orc::cache
