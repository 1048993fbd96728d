// Cache policy: what may be stored and for how long.
#include "cache/cache_policy.hpp"

#include <algorithm>
#include <charconv>
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
  }
  return "storable";
}

std::optional<std::string_view> find_header(const HeaderList& fields, std::string_view name) {
  for (const auto& [k, v] : fields)
    if (util::iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::string_view> ResponseHead::get(std::string_view name) const {
  return headers ? find_header(*headers, name) : std::nullopt;
}

std::vector<std::string_view> ResponseHead::all(std::string_view name) const {
  std::vector<std::string_view> out;
  if (headers)
    for (const auto& [k, v] : *headers)
      if (util::iequals(k, name)) out.emplace_back(v);
  return out;
}

namespace {

struct Directives {
  bool no_store = false, no_cache = false, private_ = false, must_revalidate = false;
  std::optional<std::int64_t> max_age, s_maxage;
};

Directives cache_control(const ResponseHead& head) {
  Directives d;
  for (auto value : head.all("Cache-Control")) {
    for (auto token : util::split_list(value, ',')) {
      auto eq = token.find('=');
      std::string name = util::to_lower(util::trim(token.substr(0, eq)));
      std::string_view arg =
          eq == std::string_view::npos ? std::string_view{} : util::trim(token.substr(eq + 1));
      if (!arg.empty() && arg.front() == '"' && arg.size() >= 2) arg = arg.substr(1, arg.size() - 2);
      auto number = [&]() -> std::optional<std::int64_t> {
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), v);
        if (ec != std::errc{} || p != arg.data() + arg.size() || v < 0) return std::nullopt;
        return v;
      };
      if (name == "no-store") d.no_store = true;
      if (name == "no-cache") d.no_cache = true;  // also "no-cache=field": treated as a whole no-cache
      if (name == "private") d.private_ = true;
      if (name == "must-revalidate" || name == "proxy-revalidate") d.must_revalidate = true;
      if (name == "max-age") d.max_age = number();
      if (name == "s-maxage") d.s_maxage = number();
    }
  }
  return d;
}

}  // namespace

std::optional<std::int64_t> parse_http_date_ms(std::string_view s) {
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  std::tm tm{};
  std::string text(util::trim(s));
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

std::optional<Freshness> freshness(const config::CacheAction& rule, const ResponseHead& head,
                                   std::int64_t now_ms) {
  Freshness f;
  auto d = cache_control(head);
  f.must_revalidate = d.must_revalidate;
  if (auto age = head.get("Age")) {
    std::uint64_t v = 0;
    auto a = util::trim(*age);
    if (std::from_chars(a.data(), a.data() + a.size(), v).ec == std::errc{}) f.initial_age_s = v;
  }
  if (!rule.ttl_origin) {
    f.lifetime_ms = rule.ttl.count();
    f.initial_age_s = 0;  // the rule's ttl counts from now
    return f.lifetime_ms > 0 ? std::optional(f) : std::nullopt;
  }
  if (d.no_cache) return std::nullopt;  // would need revalidation on every use
  std::int64_t lifetime_ms;
  if (d.s_maxage)
    lifetime_ms = *d.s_maxage * 1000;
  else if (d.max_age)
    lifetime_ms = *d.max_age * 1000;
  else if (auto expires = head.get("Expires")) {
    auto exp = parse_http_date_ms(*expires);
    if (!exp) return std::nullopt;  // an invalid Expires means already expired
    std::int64_t date = now_ms;
    if (auto dh = head.get("Date"))
      if (auto dv = parse_http_date_ms(*dh)) date = *dv;
    lifetime_ms = *exp - date;
  } else {
    return std::nullopt;  // no explicit freshness: a shared cache following the origin does not guess
  }
  lifetime_ms -= static_cast<std::int64_t>(f.initial_age_s) * 1000;
  if (lifetime_ms <= 0) return std::nullopt;
  f.lifetime_ms = lifetime_ms;
  return f;
}

Storability storable_head(const config::CacheAction& rule, const ResponseHead& head) {
  if (std::find(rule.statuses.begin(), rule.statuses.end(), head.status) == rule.statuses.end())
    return Storability::status_not_allowed;
  if (head.get("Set-Cookie")) return Storability::set_cookie;
  auto d = cache_control(head);
  if (d.no_store) return Storability::no_store;
  if (d.private_) return Storability::private_;
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
                  std::string_view etag, std::optional<std::string_view> last_modified) {
  if (!util::trim(if_none_match_field).empty()) return if_none_match(if_none_match_field, etag);
  if (if_modified_since.empty() || !last_modified) return false;
  auto since = parse_http_date_ms(util::trim(if_modified_since));
  auto modified = parse_http_date_ms(util::trim(*last_modified));
  return since && modified && *modified <= *since;
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

RequestDirectives request_directives(std::string_view cache_control, std::string_view pragma) {
  RequestDirectives d;
  for (auto token : util::split_list(cache_control, ',')) {
    auto name = util::to_lower(token.substr(0, token.find('=')));
    if (name == "no-store") d.no_store = true;
    if (name == "no-cache" || name == "max-age=0") d.no_cache = true;
    if (util::to_lower(token) == "max-age=0") d.no_cache = true;
  }
  if (cache_control.empty() && util::iequals(util::trim(pragma), "no-cache")) d.no_cache = true;
  return d;
}

}  // namespace orc::cache
