// A stored response and its metadata, and its compact binary form (the blob a Storage keeps).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orc::cache {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct CacheEntry {
  unsigned status = 200;
  HeaderList headers;  // end-to-end headers as the backend sent them (never hop-by-hop, never Set-Cookie)
  std::string body;
  std::string material;             // the key material: a hit is served only when it matches exactly
  std::string etag;                 // strong ETag the proxy computed from the body
  std::int64_t stored_at_ms = 0;    // wall clock, so instances sharing Redis agree
  std::int64_t fresh_until_ms = 0;  // served as a HIT before this
  std::int64_t swr_until_ms = 0;    // stale_while_revalidate: served STALE and refreshed before this
  std::int64_t sie_until_ms = 0;    // stale_if_error: served STALE when the backend fails before this
  std::uint64_t initial_age_s = 0;  // the Age the backend reported (ttl: origin)
  // Vary: the request headers the response varies on; a primary entry with vary_names and no body is a
  // marker telling the reader to look under the secondary key that includes their values.
  std::vector<std::string> vary_names;
  bool vary_marker = false;
};

std::string serialize(const CacheEntry& e);
// Empty when `blob` is not an entry this version wrote (another version, truncated, damaged, or fields no
// stored response has). Takes the blob by value: moved in, its buffer becomes the entry's body.
std::optional<CacheEntry> deserialize(std::string blob);

}  // namespace orc::cache
