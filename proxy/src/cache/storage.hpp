// The cache's storage interface (design.md section 6). Two backends implement it and pass one behaviour
// suite: `memory` (bounded in-process LRU) and `redis` (shared by every proxy instance).
//
// Layout, in both backends: an entry is one opaque blob under its key with an expiry, sealed with the
// generations of its tags; a tag is nothing but its generation, a random token. A read returns an entry only
// when its seal equals the current generations of the request's tags. A purge gives each tag a new token:
// it deletes nothing, scans nothing, and what it outdated expires on its own TTL. Nothing grows without
// bound:
//  - A fill that finds a tag without a generation gives it one (a token of its own) and seals with that, so
//    no entry is ever sealed with "none": a generation that goes (expired, evicted, lost with its Redis)
//    outdates its entries, it never brings one back.
//  - A fill keeps its tags' generations at least as long as its entry; a purge's new generation lives
//    `max_fill`, then as long as the entries sealed with it.
//  - A fill stores only while the generations it read are still current and no older than `max_fill`: a
//    fill that raced with a write never plants pre-write data (the purge's generation outlives it).
// Tokens are random, never counters, so a Redis that restarts empty can never hand a racing fill back the
// value it saw.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace orc::cache {

// Outcome of a storage call, a closed enum (metric label, log field). Anything but `ok` means the cache
// is unavailable for this request: the proxy fails open.
enum class StorageStatus { ok, unavailable, timeout, error };
std::string_view to_string(StorageStatus s);

template <typename T>
struct StorageResult {
  StorageStatus status = StorageStatus::ok;
  T value{};
  bool ok() const { return status == StorageStatus::ok; }
};

// The generations of some tags, as read at one time.
struct Generations {
  std::vector<std::string> tokens;  // one per tag, in the order asked; "" for a tag without one
  std::chrono::steady_clock::time_point read_at{};  // on the storage's clock: how old a fill is
  // For each tag without one (empty when every tag has one): the token a fill after this read gives it.
  // Chosen at the read, so that every put of one fill (a Vary marker, then its variant) seals alike, and the
  // second knows the generation the first gave for its own.
  std::vector<std::string> new_tokens;
};

// The longest a fill may take, from the read of its generations to its store (`cache.max_fill`); older
// generations store nothing. A purge's new generation lives at least this long.
inline constexpr std::chrono::milliseconds kDefaultMaxFill = std::chrono::minutes(2);

// Arguments are taken by reference into the coroutine: co_await each call while they are alive. Failures
// are values (status), never exceptions: the request path fails open.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::string_view name() const = 0;  // "memory" or "redis"

  // Called on the owning worker's thread when the daemon drains: release connections so the worker's
  // io_context can run out of work. Later calls fail with `unavailable` (the proxy then fails open).
  virtual void close() {}

  // Whether the storage is answering (a Redis pool with a ready connection and a closed breaker).
  virtual bool up() const { return true; }

  // The entry under `key`, when it was stored under `tags` and none of them was purged since, and the tags'
  // current generations (for a fill after a miss), read together: one round trip with Redis. A request knows
  // its tags before it reads, from its rule.
  struct Snapshot {
    std::optional<std::string> blob;
    Generations generations;
  };
  virtual boost::asio::awaitable<StorageResult<Snapshot>> read(const std::string& key,
                                                               const std::vector<std::string>& tags) = 0;

  // The current generation of each tag.
  virtual boost::asio::awaitable<StorageResult<Generations>> generations(
      const std::vector<std::string>& tags) = 0;

  // Stores `blob` under `key` for `ttl`, sealed with `seen` (a tag without a generation gets one), only when
  // every tag's generation still equals `seen` (read before the fill asked the backend) and `seen` is no
  // older than max_fill; the tags' generations then live at least `ttl`. value=false: nothing was stored (a
  // purge intervened, another fill gave a tag its first generation meanwhile, the fill took too long, or the
  // backend refused the entry: larger than the memory budget, non-positive ttl). status=error when `seen`
  // does not have one generation per tag.
  virtual boost::asio::awaitable<StorageResult<bool>> put_if_current(const std::string& key, std::string blob,
                                                                     std::chrono::milliseconds ttl,
                                                                     const std::vector<std::string>& tags,
                                                                     const Generations& seen) = 0;

  // Gives every tag a new generation, at once: no entry stored under one of them before is read again.
  // Deletes nothing (the outdated entries expire on their TTL); one round trip with Redis, whatever the
  // number of entries.
  virtual boost::asio::awaitable<StorageStatus> purge(const std::vector<std::string>& tags) = 0;
};

// What both backends share: the seal, and the checks of a fill.
namespace sealed {

// A fill whose entry would outlive a tag's generation extends the generation to this many times the entry's
// TTL, so that the fills after it (of entries no longer lived) need not write it again: a generation lives at
// least as long as every entry sealed with it, and at most this many times the longest TTL of those.
inline constexpr int kGenerationReach = 2;

// A new generation token: 18 decimal digits (about 60 random bits; a number, see redis_storage.cpp).
std::string new_generation();

// Chooses `g.new_tokens` for the tags of `g.tokens` without a generation (one token for a tag listed twice).
void choose_new_tokens(Generations& g, const std::vector<std::string>& tags);

// The generations a fill seals with: `seen`'s tokens, with its new token for each tag that had none.
std::vector<std::string> with_new_tokens(const Generations& seen);

// Whether a tag's `current` generation still lets a fill that read `seen` store: unchanged, or the new
// token that fill's own earlier put gave it.
bool still_current(std::string_view current, std::string_view seen, std::string_view new_token);

// `blob` with the seal of `tokens` appended (the blob stays first, so that unsealing never copies it).
std::string seal(std::string blob, const std::vector<std::string>& tokens);

// The blob of a sealed `value` when its seal is `current`'s tokens; empty when a purge outdated it or when
// it is not a sealed value (an entry of an older layout: a miss, never an error).
std::optional<std::string> unseal(std::string value, const Generations& current);

// Why a put stores nothing, checked before it asks the backend: `seen` is older than `max_fill` at `now`,
// the ttl is not positive, or a tag without a generation has no new token (`seen` was not read from a
// storage). (That the generations are still current is the backend's to check, atomically.)
bool put_refused(const Generations& seen, std::chrono::steady_clock::time_point now,
                 std::chrono::milliseconds ttl, std::chrono::milliseconds max_fill);

}  // namespace sealed

}  // namespace orc::cache
