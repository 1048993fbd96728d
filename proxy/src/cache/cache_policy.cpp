// Cache policy: what may be stored and for how long.
#include "cache/cache_policy.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "identity/caller.hpp"
#include "util/strings.hpp"

namespace orc::cache {

std::string_view to_string(Storability s) {
  switch (s) {
    case Storability::storable:
      return "storable";
    case Storability::status_not_allowed:
      return "status_not_allowed";
    case Storability::set_cookie:
      return "set_cookie";
    case Storability::no_store:
      return "no_store";
    case Storability::private_:
      return "private";
    case Storability::vary_star:
      return "vary_star";
    case Storability::too_large:
      return "too_large";
    case Storability::no_freshness:
      return "no_freshness";
    case Storability::authorization:
      return "authorization";
  }
  return "storable";
}

namespace {
template <typename Fields>
std::optional<std::string_view> first_of(const Fields& fields, std::string_view name) {
  for (const auto& [k, v] : fields)
    if (util::iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}
// Section 4.3.1: the backend's ETag or Last-Modified.
bool validator_in(const ResponseHead& head) {
  return head.get("ETag") || head.get("Last-Modified");
}
}  // namespace

std::optional<std::string_view> find_header(const HeaderList& fields, std::string_view name) {
  return first_of(fields, name);
}
std::optional<std::string_view> find_header(const StoredFields& fields, std::string_view name) {
  return first_of(fields, name);
}

std::optional<std::string_view> ResponseHead::get(std::string_view name) const {
  if (headers) return first_of(*headers, name);
  if (stored) return first_of(*stored, name);
  return std::nullopt;
}

std::vector<std::string_view> ResponseHead::all(std::string_view name) const {
  std::vector<std::string_view> out;
  auto collect = [&](const auto& fields) {
    for (const auto& [k, v] : fields)
      if (util::iequals(k, name)) out.emplace_back(v);
  };
  if (headers)
    collect(*headers);
  else if (stored)
    collect(*stored);
  return out;
}

namespace {

// A delta-seconds argument (RFC 9111 section 1.2.2) as the cache reads it: digits only, in the token form
// (section 5.2.2.1: "max-age=5", not "max-age=\"5\""); a value past 2^31 is 2^31. Empty when invalid.
std::optional<std::int64_t> delta_seconds(std::string_view arg) {
  constexpr std::int64_t kMax = 2147483648;
  if (arg.empty() || arg.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::int64_t v = 0;
  for (char c : arg) {
    v = v * 10 + (c - '0');
    if (v >= kMax) return kMax;
  }
  return v;
}

// An explicit freshness directive: absent, valid (its seconds), or present but invalid (the response is then
// stale: section 4.2.1 lets a cache treat a response with an unusable directive as stale).
struct Lifetime {
  bool present = false;
  std::optional<std::int64_t> seconds;
};

struct Directives {
  bool no_store = false, no_cache = false, private_ = false, public_ = false, must_revalidate = false,
       must_understand = false;
  Lifetime max_age, s_maxage, stale_while_revalidate, stale_if_error;
};

// Whether `field` holds a valid RFC 9213 targeted field: a Structured Fields dictionary (RFC 8941 section
// 3.2) of lower-case keys, each bare or with a value; an invalid one is ignored as if it were absent.
bool valid_targeted(std::string_view field) {
  for (auto member : util::split_list(field, ',')) {
    auto key = member.substr(0, member.find_first_of("=;"));
    if (key.empty() || !((key[0] >= 'a' && key[0] <= 'z') || key[0] == '*')) return false;
    for (char c : key)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == '*'))
        return false;
  }
  return true;
}

// The field lines that say how this cache may keep the response (RFC 9213 section 2.2): the first field of
// the rule's target list that is present with a valid value, and then Cache-Control and Expires do not count
// (`targeted` is set); else Cache-Control.
std::vector<std::string_view> control_lines(const config::CacheAction& rule, const ResponseHead& head,
                                            bool& targeted) {
  targeted = false;
  for (const auto& name : rule.targeted) {
    auto lines = head.all(name);
    if (lines.empty()) continue;
    if (!std::all_of(lines.begin(), lines.end(), valid_targeted)) continue;
    targeted = true;
    return lines;
  }
  return head.all("Cache-Control");
}

// Response Cache-Control (section 5.2.2), or the targeted field that stands for it: directive names in any
// case; of a directive given more than once, the first occurrence counts (section 4.2.1).
Directives cache_control(const config::CacheAction& rule, const ResponseHead& head, bool& targeted) {
  Directives d;
  for (auto value : control_lines(rule, head, targeted)) {
    for (auto token : util::split_list(value, ',')) {
      auto eq = token.find('=');
      std::string name = util::to_lower(util::trim(token.substr(0, eq)));
      std::string_view arg =
          eq == std::string_view::npos ? std::string_view{} : util::trim(token.substr(eq + 1));
      auto first = [&](Lifetime& l) {
        if (l.present) return;
        l.present = true;
        l.seconds = delta_seconds(arg);
      };
      if (name == "no-store") d.no_store = true;
      if (name == "no-cache") d.no_cache = true;  // also "no-cache=field": treated as a whole no-cache
      if (name == "private") d.private_ = true;   // also "private=field": never stored by a shared cache
      if (name == "public") d.public_ = true;
      if (name == "must-understand") d.must_understand = true;
      if (name == "must-revalidate" || name == "proxy-revalidate") d.must_revalidate = true;
      if (name == "max-age") first(d.max_age);
      if (name == "s-maxage") first(d.s_maxage);
      if (name == "stale-while-revalidate") first(d.stale_while_revalidate);
      if (name == "stale-if-error") first(d.stale_if_error);
    }
  }
  // Section 5.2.2.10: s-maxage also means proxy-revalidate for a shared cache.
  if (d.s_maxage.present) d.must_revalidate = true;
  return d;
}

Directives cache_control(const config::CacheAction& rule, const ResponseHead& head) {
  bool targeted = false;
  return cache_control(rule, head, targeted);
}

// The Age field (section 5.1): delta-seconds; anything else (negative, a fraction, text) is ignored.
std::uint64_t age_value(const ResponseHead& head) {
  auto age = head.get("Age");
  if (!age) return 0;
  auto v = delta_seconds(util::trim(*age));
  return v ? static_cast<std::uint64_t>(*v) : 0;
}

// Statuses a cache may give a heuristic lifetime (RFC 9110 section 15.1).
bool heuristically_cacheable(unsigned status) {
  for (unsigned s : {200u, 203u, 204u, 206u, 300u, 301u, 308u, 404u, 405u, 410u, 414u, 501u})
    if (s == status) return true;
  return false;
}

std::optional<std::int64_t> parse_with(const std::string& text, const char* format, std::tm& tm) {
  tm = std::tm{};
  const char* end = strptime(text.c_str(), format, &tm);
  if (!end || *end != '\0') return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

}  // namespace

std::optional<std::int64_t> parse_http_date_ms(std::string_view s, std::int64_t now_ms) {
  // RFC 9110 section 5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must accept.
  const std::string text(util::trim(s));
  std::tm tm{};
  if (auto v = parse_with(text, "%a, %d %b %Y %H:%M:%S GMT", tm)) return v;  // Sun, 06 Nov 1994 08:49:37 GMT
  if (auto v = parse_with(text, "%a %b %e %H:%M:%S %Y", tm)) return v;       // Sun Nov  6 08:49:37 1994
  // Sunday, 06-Nov-94 08:49:37 GMT: a two-digit year more than 50 years in the future is in the past century.
  auto comma = text.find(", ");
  if (comma == std::string::npos || text.size() < comma + 11) return std::nullopt;
  const std::string yy = text.substr(comma + 9, 2);
  if (yy.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  std::string full = text;
  full.replace(comma + 9, 2, "20" + yy);
  auto v = parse_with(full, "%A, %d-%b-%Y %H:%M:%S GMT", tm);
  if (!v) return std::nullopt;
  const auto now_s = static_cast<std::time_t>(now_ms / 1000);
  std::tm now_tm{};
  gmtime_r(&now_s, &now_tm);
  if (tm.tm_year > now_tm.tm_year + 50) {
    tm.tm_year -= 100;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000;
  }
  return v;
}

std::string format_http_date(std::int64_t ms) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[40];
  const int n =
      std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7], tm.tm_mday,
                    kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return {buf, static_cast<std::size_t>(std::max(n, 0))};
}

namespace {

// A stale-while-revalidate or stale-if-error of the response (RFC 5861), when it is valid.
std::optional<std::int64_t> extension_ms(const Lifetime& l) {
  if (!l.present || !l.seconds) return std::nullopt;
  return *l.seconds * 1000;
}

// The freshness of a response, as freshness() says, except that a response that is stale on arrival has a
// lifetime of 0 or less instead of none; empty only when nothing at all gives it a lifetime.
std::optional<Freshness> lifetime_of(const config::CacheAction& rule, const ResponseHead& head,
                                     std::int64_t now_ms) {
  Freshness f;
  bool targeted = false;
  auto d = cache_control(rule, head, targeted);
  f.must_revalidate = d.must_revalidate;
  if (!rule.ttl_origin) {
    f.lifetime_ms = rule.ttl.count();  // the rule's ttl counts from now
    return f.lifetime_ms > 0 ? std::optional(f) : std::nullopt;
  }
  f.no_cache = d.no_cache;
  f.stale_while_revalidate_ms = extension_ms(d.stale_while_revalidate);
  f.stale_if_error_ms = extension_ms(d.stale_if_error);
  // Section 4.2.3: the initial age is the larger of the Age the backend reports and the apparent age (the
  // time since its Date); the request's own delay is not added (the backend is near).
  std::optional<std::int64_t> date;
  if (auto dh = head.get("Date")) date = parse_http_date_ms(*dh, now_ms);
  const std::int64_t apparent_s = date ? std::max<std::int64_t>(0, (now_ms - *date) / 1000) : 0;
  f.initial_age_s = std::max<std::uint64_t>(age_value(head), static_cast<std::uint64_t>(apparent_s));
  // Section 4.2.1: s-maxage, then max-age, then Expires - Date (not with a targeted field: RFC 9213 section
  // 2.2); an unusable one means stale.
  const Lifetime& explicit_ = d.s_maxage.present ? d.s_maxage : d.max_age;
  auto expires = targeted ? std::nullopt : head.get("Expires");
  if (explicit_.present) {
    f.lifetime_ms = explicit_.seconds ? *explicit_.seconds * 1000 : 0;
  } else if (expires) {
    auto exp = parse_http_date_ms(*expires, now_ms);
    f.lifetime_ms = exp ? *exp - date.value_or(now_ms) : 0;  // an invalid Expires means already expired
  } else if (auto lm = head.get("Last-Modified");
             lm && rule.heuristic_max.count() > 0 && heuristically_cacheable(head.status)) {
    // Section 4.2.2, when the rule asks: 10 % of the time since the last modification, at most
    // heuristic_max.
    auto modified = parse_http_date_ms(*lm, now_ms);
    f.lifetime_ms = modified ? std::min<std::int64_t>((date.value_or(now_ms) - *modified) / 10,
                                                      rule.heuristic_max.count())
                             : 0;
  } else if (validator_in(head)) {
    f.lifetime_ms = 0;  // no freshness to go by, but a validator to revalidate with
  } else {
    return std::nullopt;  // no explicit freshness: a shared cache following the origin does not guess
  }
  if (d.no_cache) f.lifetime_ms = 0;  // section 5.2.2.4: revalidated before every reuse
  f.lifetime_ms -= static_cast<std::int64_t>(f.initial_age_s) * 1000;
  return f;
}

// Status codes this cache understands (RFC 9110 section 15), for must-understand (section 5.2.2.3).
bool understood(unsigned status) {
  static constexpr unsigned kKnown[] = {200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 401, 402,
                                        403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414,
                                        415, 416, 417, 421, 422, 426, 500, 501, 502, 503, 504, 505};
  return std::find(std::begin(kKnown), std::end(kKnown), status) != std::end(kKnown);
}

}  // namespace

std::optional<Freshness> freshness(const config::CacheAction& rule, const ResponseHead& head,
                                   std::int64_t now_ms) {
  auto f = lifetime_of(rule, head, now_ms);
  if (!f || f->lifetime_ms <= 0) return std::nullopt;
  return f;
}

std::optional<Freshness> stored_freshness(const config::CacheAction& rule, const ResponseHead& head,
                                          std::int64_t now_ms) {
  auto f = lifetime_of(rule, head, now_ms);
  if (!f) return std::nullopt;
  if (f->lifetime_ms > 0) return f;
  if (!rule.ttl_origin || rule.validation_window.count() <= 0 || !validator_in(head)) return std::nullopt;
  f->lifetime_ms = 0;
  return f;
}

bool has_validator(const StoredFields& stored) {
  return validator_in(ResponseHead{0, nullptr, &stored});
}

HeaderList freshened_fields(const HeaderList& stored, const HeaderList& not_modified) {
  // The stored Date goes even when the 304 has none: the response is as good as received now, and an old
  // Date would count its whole time in the cache as age again (section 4.2.3). Stored again, an entry
  // without a Date gets the time it is stored (tiered.cpp, stored_headers).
  auto updated = [&](std::string_view name) {
    return util::iequals(name, "Date") ||
           (!util::iequals(name, "Content-Length") &&
            std::any_of(not_modified.begin(), not_modified.end(),
                        [&](const auto& field) { return util::iequals(field.first, name); }));
  };
  HeaderList out;
  for (const auto& field : stored)
    if (!updated(field.first)) out.push_back(field);
  for (const auto& field : not_modified)
    if (!util::iequals(field.first, "Content-Length")) out.push_back(field);
  return out;
}

Storability storable_head(const config::CacheAction& rule, const ResponseHead& head,
                          bool shared_authorization) {
  auto d = cache_control(rule, head);
  const bool listed =
      std::find(rule.statuses.begin(), rule.statuses.end(), head.status) != rule.statuses.end();
  if (d.must_understand) {
    // Section 5.2.2.3: only a status the cache understands, and then no-store does not apply.
    if (!understood(head.status)) return Storability::status_not_allowed;
    d.no_store = false;
  }
  // Section 3: with ttl: origin, any final status with explicit freshness (or public) may be stored, except
  // the ones this cache cannot store whole (206, 304).
  const bool explicit_ = d.max_age.present || d.s_maxage.present || d.public_ || head.get("Expires");
  const bool any_final =
      rule.ttl_origin && explicit_ && head.status >= 200 && head.status != 206 && head.status != 304;
  if (!listed && !any_final) return Storability::status_not_allowed;
  if (head.get("Set-Cookie") && !rule.set_cookie_strip) return Storability::set_cookie;
  if (d.no_store) return Storability::no_store;
  if (d.private_) return Storability::private_;
  // Section 3.5: a response to a request with Authorization is shared only when it says it may be.
  if (shared_authorization && rule.ttl_origin && !d.public_ && !d.s_maxage.present && !d.must_revalidate)
    return Storability::authorization;
  bool star = false;
  vary_names(head, star);
  if (star) return Storability::vary_star;
  if (auto cl = head.get("Content-Length")) {
    std::uint64_t n = 0;
    auto v = util::trim(*cl);
    if (std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc{} && n > rule.max_body)
      return Storability::too_large;
  }
  return Storability::storable;
}

std::vector<std::string> vary_names(const ResponseHead& head, bool& star) {
  std::vector<std::string> out;
  star = false;
  for (auto value : head.all("Vary"))
    for (auto token : util::split_list(value, ',')) {
      if (token == "*") star = true;
      auto name = util::to_lower(token);
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
  std::sort(out.begin(), out.end());
  return out;
}

std::string strong_etag(std::string_view body) {
  return "\"" + identity::sha256_hex(body).substr(0, 32) + "\"";
}

bool not_modified(std::string_view if_none_match_field, std::string_view if_modified_since,
                  std::string_view etag, std::optional<std::string_view> last_modified,
                  std::optional<std::string_view> date, std::int64_t now_ms) {
  if (!util::trim(if_none_match_field).empty()) return if_none_match(if_none_match_field, etag);
  const auto stored = last_modified ? last_modified : date;
  if (if_modified_since.empty() || !stored) return false;
  auto since = parse_http_date_ms(util::trim(if_modified_since), now_ms);
  auto modified = parse_http_date_ms(util::trim(*stored), now_ms);
  if (!since || !modified) return false;
  return last_modified ? *modified <= *since : *modified < *since;
}

bool if_none_match(std::string_view header, std::string_view etag) {
  auto opaque = [](std::string_view t) {
    t = util::trim(t);
    if (t.size() > 2 && (t.substr(0, 2) == "W/" || t.substr(0, 2) == "w/")) t.remove_prefix(2);
    return t;
  };
  for (auto token : util::split_list(header, ',')) {
    if (token == "*") return true;
    if (opaque(token) == opaque(etag)) return true;
  }
  return false;
}

bool sent_with_304(std::string_view field) {
  constexpr std::string_view kContent = "content-";
  if (field.size() < kContent.size() || !util::iequals(field.substr(0, kContent.size()), kContent))
    return true;
  return util::iequals(field, "Content-Location");
}

RequestFit fit_request(const RequestDirectives& d, std::uint64_t age_s, std::int64_t fresh_left_ms,
                       bool must_revalidate) {
  const bool young_enough = !d.max_age_s || static_cast<std::int64_t>(age_s) <= *d.max_age_s;
  if (fresh_left_ms > 0 && young_enough && (!d.min_fresh_s || fresh_left_ms >= *d.min_fresh_s * 1000))
    return RequestFit::fresh;
  // Section 5.2.1.2: max-stale accepts a response that is stale (or, with max-age, too old) by at most its
  // value; never one that says must-revalidate (section 5.2.2.2).
  const std::int64_t stale_ms = std::max<std::int64_t>(0, -fresh_left_ms);
  if (d.max_stale && !must_revalidate && (!d.max_stale_s || stale_ms <= *d.max_stale_s * 1000))
    return RequestFit::stale_accepted;
  return RequestFit::unusable;
}

bool must_revalidate(const config::CacheAction& rule, const StoredFields& stored) {
  return cache_control(rule, ResponseHead{200, nullptr, &stored}).must_revalidate;
}

RequestDirectives request_directives(std::string_view cache_control, std::string_view pragma) {
  RequestDirectives d;
  for (auto token : util::split_list(cache_control, ',')) {
    const auto eq = token.find('=');
    auto name = util::to_lower(util::trim(token.substr(0, eq)));
    const auto arg = eq == std::string_view::npos ? std::optional<std::string_view>{}
                                                  : std::optional(util::trim(token.substr(eq + 1)));
    auto seconds = [&](std::optional<std::int64_t>& out) {
      if (!out && arg) out = delta_seconds(*arg);  // the first valid occurrence counts
    };
    if (name == "no-store") d.no_store = true;
    if (name == "no-cache") d.no_cache = true;
    if (name == "only-if-cached") d.only_if_cached = true;
    if (name == "max-age") seconds(d.max_age_s);
    if (name == "min-fresh") seconds(d.min_fresh_s);
    if (name == "max-stale") {
      d.max_stale = !arg || delta_seconds(*arg).has_value();
      if (arg) seconds(d.max_stale_s);
    }
  }
  if (d.max_age_s == 0) d.no_cache = true;  // max-age=0: revalidate
  if (cache_control.empty() && util::iequals(util::trim(pragma), "no-cache")) d.no_cache = true;
  return d;
}

}  // namespace orc::cache
