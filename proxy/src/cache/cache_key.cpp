// Cache keys: material and hash.
#include "cache/cache_key.hpp"

#include <algorithm>

#include "util/strings.hpp"

namespace orc::cache {

std::optional<std::string> key_query(const config::CacheAction& rule, const util::Query& query) {
  if (!query.valid()) return std::nullopt;
  // `query: all`: the query exactly as sent, so the key is the whole target URI (RFC 9111 section 2); a
  // leading '?' keeps it apart from the parameter lists below.
  if (rule.key_query_all) return "?" + std::string(query.text());
  std::vector<std::pair<std::string_view, std::string_view>> kept;
  for (const auto& p : query.params()) {
    if (p.raw_name.empty() && !p.has_value) continue;  // "a=1&&b=2": nothing between the two '&'
    // The name as the backend decodes it: "%73everity" is "severity" to it, so it must be to the key too.
    auto named = std::find(rule.key_query.begin(), rule.key_query.end(), p.name);
    if (named != rule.key_query.end())
      kept.emplace_back(*named, p.raw_value);
    else if (rule.other_query_bypass)
      return std::nullopt;
  }
  std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [k, v] : kept) {
    if (!out.empty()) out += '&';
    out.append(k);
    out += '=';
    out.append(v);
  }
  return out;
}

CacheKey build_cache_key(const rules::CompiledRule& rule, const rules::Match& match,
                         std::string_view query_part, const identity::HeaderLookup& headers,
                         std::string_view scope_key_part, std::string_view prefix) {
  CacheKey k;
  k.material = "rule=" + rule.cfg.name + "\nmethod=GET\npath=" + rules::join_path(match.segments) +
               "\nquery=" + std::string(query_part) + "\n";
  for (const auto& h : rule.cfg.cache.key_headers) {
    auto v = headers(h);
    k.material += "header." + util::to_lower(h) + "=" + (v ? std::string(*v) : std::string()) + "\n";
  }
  k.material += "scope=" + std::string(scope_key_part) + "\n";
  k.key = std::string(prefix) + "e:" + identity::sha256_hex(k.material);
  return k;
}

}  // namespace orc::cache
