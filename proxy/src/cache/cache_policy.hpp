// Cache policy as pure functions (Envoy's split: policy apart from storage and orchestration). Outcomes are
// closed enums that double as log fields and metric labels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_entry.hpp"
#include "config/rule_config.hpp"

namespace orc::cache {

// Why a response is (not) stored (design.md section 5).
enum class Storability {
  storable,
  status_not_allowed,
  set_cookie,
  no_store,       // Cache-Control: no-store
  private_,       // Cache-Control: private
  vary_star,      // Vary: *
  too_large,      // body over max_body
  no_freshness,   // ttl: origin and the backend gave no freshness (or no-cache)
  authorization,  // ttl: origin, a request with Authorization and no public / s-maxage / must-revalidate
};
std::string_view to_string(Storability s);

// The first value of `name` in `fields` (case-insensitive), or nothing.
std::optional<std::string_view> find_header(const HeaderList& fields, std::string_view name);
std::optional<std::string_view> find_header(const StoredFields& fields, std::string_view name);

// A header lookup over the backend's response head.
struct ResponseHead {
  unsigned status = 0;
  const HeaderList* headers = nullptr;
  const StoredFields* stored = nullptr;  // a stored entry's fields, read in place (when `headers` is null)
  std::optional<std::string_view> get(std::string_view name) const;
  std::vector<std::string_view> all(std::string_view name) const;
};

struct Freshness {
  std::int64_t lifetime_ms = 0;     // how long the response is fresh after it was received
  std::uint64_t initial_age_s = 0;  // Age already spent upstream
  bool must_revalidate = false;     // no stale serving (must-revalidate, proxy-revalidate, s-maxage)
  bool no_cache = false;            // ttl: origin, Cache-Control: no-cache: revalidate before every reuse
  // ttl: origin: the response's own stale-while-revalidate / stale-if-error (RFC 5861), when it gives them.
  std::optional<std::int64_t> stale_while_revalidate_ms, stale_if_error_ms;
};

// Freshness from the rule (`ttl`) or, with `ttl: origin`, as an RFC 9111 shared cache computes it (section
// 4.2): s-maxage, then max-age, then Expires - Date (the first occurrence of a directive; an unusable value
// or date means stale), or, with the rule's heuristic_max, 10 % of Date - Last-Modified for the heuristically
// cacheable statuses; minus the initial age (the larger of Age and Now - Date). Empty: nothing to store for.
std::optional<Freshness> freshness(const config::CacheAction& rule, const ResponseHead& head,
                                   std::int64_t now_ms);

// What to store a response with: freshness() as it is, or, for an origin rule with a validation window, a
// response with a validator that is stale on arrival or no-cache with a lifetime of 0 (revalidated before
// every reuse, section 4.3). Empty: do not store.
std::optional<Freshness> stored_freshness(const config::CacheAction& rule, const ResponseHead& head,
                                          std::int64_t now_ms);

// Whether a stored response can be revalidated: it has the backend's ETag or Last-Modified (section 4.3.1).
bool has_validator(const StoredFields& stored);

// The fields of a stored response freshened by a 304 (section 4.3.4): each field the 304 carries replaces
// the stored lines of that name (section 3.2), except Content-Length; the others stay, but for Date, which
// only the 304's can give.
HeaderList freshened_fields(const HeaderList& stored, const HeaderList& not_modified);

// Whether the head allows storing (the body size is checked as it streams). `shared_authorization`: the
// request carried Authorization and the entry would be shared (section 3.5).
Storability storable_head(const config::CacheAction& rule, const ResponseHead& head,
                          bool shared_authorization = false);

// The Vary header names (lower case); `star` when Vary: * is present.
std::vector<std::string> vary_names(const ResponseHead& head, bool& star);

// Strong ETag of a body: "\"<32 hex digits of its SHA-256>\"".
std::string strong_etag(std::string_view body);

// If-None-Match against an ETag (weak comparison, "*" matches anything).
bool if_none_match(std::string_view header, std::string_view etag);

// Whether a stored response answers a GET or HEAD with 304 (RFC 9110 section 13.2.2): If-None-Match against
// its ETag when the request has one; otherwise If-Modified-Since against its Last-Modified (not modified
// when that is no later than the date given), or, without one, its Date (RFC 9111 section 4.3.2) when that
// is a whole second earlier than the date given: dates count seconds, and two answers of the same second,
// one from before a write and one from after it, have the same Date. An invalid date, or neither field:
// the whole response.
bool not_modified(std::string_view if_none_match_field, std::string_view if_modified_since,
                  std::string_view etag, std::optional<std::string_view> last_modified,
                  std::optional<std::string_view> date, std::int64_t now_ms);

// Whether a stored field goes with a 304 the cache answers (RFC 9110 section 15.4.5): every field but the
// representation metadata a 304 should not carry (Content-Type, Content-Encoding, Content-Language,
// Content-Length, ...); Content-Location, ETag, Last-Modified, Date, Vary, Cache-Control and Expires stay.
bool sent_with_304(std::string_view field);

// Request Cache-Control directives the cache honours (RFC 9111 section 5.2.1): no-store (do not use or
// fill), no-cache and max-age=0 (revalidate: fetch from the backend, then store), max-age and min-fresh (what
// counts as fresh for this request), max-stale (a stale entry will do), only-if-cached (never ask the
// backend: 504 without a usable entry). An invalid value leaves its directive out.
struct RequestDirectives {
  bool no_store = false;
  bool no_cache = false;
  bool only_if_cached = false;
  std::optional<std::int64_t> max_age_s, min_fresh_s;
  bool max_stale = false;                   // present; with max_stale_s: at most that many seconds stale
  std::optional<std::int64_t> max_stale_s;  // empty with max_stale: any staleness
  // Whether they say anything about which stored response may be used.
  bool choose() const { return only_if_cached || max_age_s || min_fresh_s || max_stale; }
};
RequestDirectives request_directives(std::string_view cache_control, std::string_view pragma);

// What a request's directives make of a stored response of that age and remaining freshness (negative: how
// long it has been stale): `fresh` for this request, `stale_accepted` (max-stale allows it, and the response
// does not forbid stale use), or `unusable`.
enum class RequestFit { fresh, stale_accepted, unusable };
RequestFit fit_request(const RequestDirectives& d, std::uint64_t age_s, std::int64_t fresh_left_ms,
                       bool must_revalidate);

// Whether a stored response forbids stale use (must-revalidate, proxy-revalidate, s-maxage).
bool must_revalidate(const config::CacheAction& rule, const StoredFields& stored);

// Parses an HTTP-date (RFC 9110 section 5.6.7): IMF-fixdate, RFC 850 (a two-digit year more than 50 years
// after `now_ms` is in the past century) or asctime; empty on anything else.
std::optional<std::int64_t> parse_http_date_ms(std::string_view s, std::int64_t now_ms);
// `ms` (since the epoch) as an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 section 5.6.7).
std::string format_http_date(std::int64_t ms);

}  // namespace orc::cache
