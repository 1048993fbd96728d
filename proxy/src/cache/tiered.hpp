// The cache's two tiers seen as one (design.md section 2, steps 3 and 6): a lookup tries the L1, then the
// storage (and a Vary marker's variant), and keeps what the storage had in the L1; a fill builds the entry
// for a complete response and stores it in both, unless a purge of one of its tags intervened. Reads the
// time from the injected clock only, so TTL, stale windows and the L1's max age are tested in simulated time
// (tests/unit/cache/tiered_test.cpp). No HTTP types: the flow hands it header lists.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_entry.hpp"
#include "cache/cache_key.hpp"
#include "cache/cache_policy.hpp"
#include "cache/l1_cache.hpp"
#include "cache/storage.hpp"
#include "config/config.hpp"
#include "identity/caller.hpp"
#include "metrics/metrics.hpp"
#include "util/clock.hpp"

namespace orc::cache {

using SharedEntry = std::shared_ptr<const CacheEntry>;

// What a lookup found.
struct Found {
  SharedEntry entry;    // the entry for this request (fresh or not), or null
  bool failed = false;  // the storage did not answer: fail open
  bool from_l1 = false;
  std::optional<Generations> generations;  // of the tags, read with the entry (for a fill after a miss)
  std::uint64_t l1_epoch = 0;              // the L1's epoch before that read (for the fill's L1 insert)
};

// What became of a complete response offered to the cache.
struct Stored {
  enum Outcome {
    stored,        // kept: the next request finds it
    not_storable,  // its freshness or Vary forbid it (no entry)
    refused,       // a purge of one of its tags ran since the generations were read: it may predate a write
    failed,        // the storage did not answer
  } outcome = not_storable;
  SharedEntry entry;  // the entry built for it (every outcome but not_storable)
};

// The best use of an entry at a time (its windows: design.md section 5). The windows are independent: an
// entry past stale_while_revalidate may still be within stale_if_error, and the other way round.
enum class Use {
  fresh,                   // a HIT
  stale_while_revalidate,  // a STALE answer now, refreshed in the background (GET only)
  stale_if_error,          // only in place of a backend failure
  none,                    // expired
};
Use usable(const CacheEntry& e, std::int64_t now_ms);
// Whether `e` may answer in place of a backend failure at `now_ms` (within stale_if_error; fresh included).
bool serves_on_error(const CacheEntry& e, std::int64_t now_ms);

// Whether `e` answers a request of `key` with these headers: the key material, and for a Vary variant the
// values of the request fields it varies on, are the request's.
bool matches(const CacheEntry& e, const CacheKey& key, const identity::HeaderLookup& headers);

// Counts a storage operation in the redis_* metrics (when the storage is Redis: the memory backend cannot
// fail or be slow in a way worth a metric), and warns (at most every 5 s) when it failed.
void count_storage_op(const Storage& s, metrics::StorageOp op, StorageStatus status,
                      std::chrono::steady_clock::time_point started);

class TieredCache {
 public:
  // `l1`: null when there is none. All three outlive this object.
  TieredCache(const util::Clock& clock, Storage& storage, L1Cache* l1)
      : clock_(clock), storage_(storage), l1_(l1) {}

  // The entry of `key` for a request with these headers (Vary), from the L1 or the storage; an entry whose
  // key material differs (a hash collision, a foreign entry) is never returned, nor one stored under other
  // tags or before a purge of one of them. A storage read also reads the tags' generations (the same round
  // trip) for a fill after a miss.
  boost::asio::awaitable<Found> lookup(const CacheKey& key, const identity::HeaderLookup& headers,
                                       const std::vector<std::string>& tags);

  // The tags' generations and the L1 epoch before them, for a fill whose lookup did not read them.
  boost::asio::awaitable<StorageResult<Generations>> generations(const std::vector<std::string>& tags,
                                                                 std::uint64_t& l1_epoch);

  // Builds the entry for a complete response (`head`: its end-to-end fields) under `rule`, and stores it
  // in the storage and the L1 unless a purge of one of `tags` ran since `seen` (and `l1_epoch`) were read.
  boost::asio::awaitable<Stored> store(const config::CacheAction& rule, const CacheKey& key,
                                       const std::vector<std::string>& tags, const Generations& seen,
                                       std::uint64_t l1_epoch, unsigned status, const HeaderList& head,
                                       std::string body, const identity::HeaderLookup& request_headers);

 private:
  boost::asio::awaitable<Found> fetch(const std::string& key, const std::vector<std::string>& tags);

  const util::Clock& clock_;
  Storage& storage_;
  L1Cache* l1_;
};

}  // namespace orc::cache
