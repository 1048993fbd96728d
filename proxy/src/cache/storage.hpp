// The cache's storage interface (design.md section 6). Two backends implement it and pass one behaviour
// suite: `memory` (bounded in-process LRU) and `redis` (shared by every proxy instance).
//
// Layout, in both backends: an entry is one opaque blob under its key with an expiry; a tag is a set of
// entry keys plus a generation counter. A fill reads the generations of its tags before asking the backend
// and stores only if none changed meanwhile, so a fill that raced with a write never plants pre-write data.
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

using Generations = std::vector<std::uint64_t>;  // one per tag, in the order asked; a tag never purged is 0

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

  // The blob stored under `key`, or empty when there is none (or it expired).
  virtual boost::asio::awaitable<StorageResult<std::optional<std::string>>> get(const std::string& key) = 0;

  // The current generation of each tag.
  virtual boost::asio::awaitable<StorageResult<Generations>> generations(
      const std::vector<std::string>& tags) = 0;

  // get(key) and generations(tags) read together (one round trip with Redis), so that a miss can fill with
  // the generations it read before asking the backend, without a second read.
  struct Snapshot {
    std::optional<std::string> blob;
    Generations generations;
  };
  virtual boost::asio::awaitable<StorageResult<Snapshot>> get_with_generations(
      const std::string& key, const std::vector<std::string>& tags);

  // Stores `blob` under `key` for `ttl`, indexed under every tag, only when the generation of every tag still
  // equals `seen` (read before the fill started). value=false: nothing was stored (a purge intervened, or
  // the backend refused the entry: larger than the memory budget, non-positive ttl). status=error when
  // `seen` does not have one generation per tag.
  virtual boost::asio::awaitable<StorageResult<bool>> put_if_current(const std::string& key, std::string blob,
                                                                     std::chrono::milliseconds ttl,
                                                                     const std::vector<std::string>& tags,
                                                                     const Generations& seen) = 0;

  // Atomically: bumps the generation of every tag, deletes every entry indexed under them, and deletes the
  // extra `keys`. value = the number of entries deleted.
  virtual boost::asio::awaitable<StorageResult<std::uint64_t>> purge(
      const std::vector<std::string>& tags, const std::vector<std::string>& keys) = 0;
};

}  // namespace orc::cache
