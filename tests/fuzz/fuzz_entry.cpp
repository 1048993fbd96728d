// Fuzzes the stored-entry decoder (cache/cache_entry): bytes read back from Redis may be truncated, from an
// older version or written by someone else. Decoding never crashes, and whatever decodes re-encodes to a blob
// that decodes to the same entry.
#include "cache/cache_entry.hpp"
#include "fuzz_check.hpp"

namespace {

bool same(const orc::cache::CacheEntry& a, const orc::cache::CacheEntry& b) {
  return a.status == b.status && a.headers == b.headers && a.body == b.body && a.material == b.material &&
         a.etag == b.etag && a.stored_at_ms == b.stored_at_ms && a.fresh_until_ms == b.fresh_until_ms &&
         a.swr_until_ms == b.swr_until_ms && a.sie_until_ms == b.sie_until_ms &&
         a.initial_age_s == b.initial_age_s && a.vary_names == b.vary_names && a.vary_marker == b.vary_marker;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto entry = orc::cache::deserialize(std::string(orc::fuzz::as_text(data, size)));
  if (!entry) return 0;
  auto again = orc::cache::deserialize(orc::cache::serialize(*entry));
  ORC_FUZZ_CHECK(again.has_value());
  ORC_FUZZ_CHECK(same(*entry, *again));
  return 0;
}
