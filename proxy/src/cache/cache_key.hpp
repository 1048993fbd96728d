// Cache keys (design.md section 4): the key material names everything a response may depend on; the key
// itself is a fixed-length hash of it. An entry keeps its material so a hit is served only on an exact match.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/caller.hpp"
#include "rules/rulebook.hpp"
#include "util/query.hpp"

namespace orc::cache {

struct CacheKey {
  std::string material;  // human-readable, one "name=value" per line; never contains a raw credential
  std::string key;       // <prefix>e:<sha256 of material>
  // cache.key_secret of the configuration the key was made with: the HMAC key of the digests of the request
  // fields a Vary names (tiered.cpp). Empty: plain SHA-256 digests. A view, valid while the request holds
  // that configuration: a copy of the key that outlives the request (a background refresh) owns the secret.
  std::string_view secret;
};

// The query parameters the rule keys on, sorted by name (duplicates kept in request order), as "a=1&b=2".
// With `query: all`, "?" and the query as sent. Empty optional: the query is not RFC 3986, or it carries a
// parameter the rule does not name and the rule says `bypass`.
std::optional<std::string> key_query(const config::CacheAction& rule, const util::Query& query);

CacheKey build_cache_key(const rules::CompiledRule& rule, const rules::Match& match,
                         std::string_view query_part, const identity::HeaderLookup& headers,
                         std::string_view scope_key_part, std::string_view prefix);

}  // namespace orc::cache
