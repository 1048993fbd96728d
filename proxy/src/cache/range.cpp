// Range requests: parsing a Range field against a stored representation, and If-Range.
#include "cache/range.hpp"

#include <charconv>
#include <system_error>
#include <vector>

namespace orc::cache {
namespace {

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

// 1*DIGIT as a uint64; empty on anything else, including a value that does not fit.
std::optional<std::uint64_t> parse_digits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// One byte range-spec (RFC 9110 section 14.1.2): an int-range "first-[last]" or a suffix-range "-length".
struct RangeSpec {
  bool suffix = false;
  std::uint64_t first = 0;            // int-range: first-pos
  std::optional<std::uint64_t> last;  // int-range: last-pos, when given
  std::uint64_t suffix_length = 0;    // suffix-range
};

std::optional<RangeSpec> parse_spec(std::string_view s) {
  auto dash = s.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  RangeSpec spec;
  if (dash == 0) {
    auto n = parse_digits(s.substr(1));
    if (!n) return std::nullopt;
    spec.suffix = true;
    spec.suffix_length = *n;
    return spec;
  }
  auto first = parse_digits(s.substr(0, dash));
  if (!first) return std::nullopt;
  spec.first = *first;
  auto rest = s.substr(dash + 1);
  if (!rest.empty()) {
    auto last = parse_digits(rest);
    if (!last || *last < *first) return std::nullopt;  // an int-range with last < first is invalid
    spec.last = *last;
  }
  return spec;
}

// Whether a spec selects any byte of a representation of `size` bytes (RFC 9110 section 14.1.1).
bool satisfiable(const RangeSpec& spec, std::uint64_t size) {
  if (size == 0) return false;
  if (spec.suffix) return spec.suffix_length > 0;
  return spec.first < size;
}

// A strong entity-tag: DQUOTE *etagc DQUOTE, with no DQUOTE inside (RFC 9110 section 8.8.3).
bool is_strong_etag(std::string_view t) {
  if (t.size() < 2 || t.front() != '"' || t.back() != '"') return false;
  return t.substr(1, t.size() - 2).find('"') == std::string_view::npos;
}

}  // namespace

RangeAnswer answer_range(std::string_view range, std::uint64_t size) {
  RangeAnswer whole;
  range = trim_ows(range);
  if (range.empty()) return whole;
  auto eq = range.find('=');
  if (eq == std::string_view::npos || !iequals(range.substr(0, eq), "bytes")) return whole;

  std::vector<RangeSpec> specs;
  auto set = range.substr(eq + 1);
  while (true) {
    auto comma = set.find(',');
    auto element = trim_ows(set.substr(0, comma));
    if (!element.empty()) {
      auto spec = parse_spec(element);
      if (!spec) return whole;  // a syntactically invalid field is ignored
      specs.push_back(*spec);
    }
    if (comma == std::string_view::npos) break;
    set.remove_prefix(comma + 1);
  }
  if (specs.empty()) return whole;

  RangeAnswer unsatisfiable;
  unsatisfiable.kind = RangeAnswer::unsatisfiable;
  unsatisfiable.content_range = "bytes */" + std::to_string(size);
  bool any = false;
  for (const auto& spec : specs) any = any || satisfiable(spec, size);
  if (!any) return unsatisfiable;
  if (specs.size() > 1) {
    RangeAnswer forward;
    forward.kind = RangeAnswer::forward;
    return forward;
  }

  const RangeSpec& spec = specs.front();
  RangeAnswer a;
  a.kind = RangeAnswer::partial;
  if (spec.suffix) {
    // A suffix longer than the representation selects all of it (RFC 9110 section 14.1.2).
    a.length = spec.suffix_length < size ? spec.suffix_length : size;
    a.first = size - a.length;
  } else {
    a.first = spec.first;
    std::uint64_t last = spec.last && *spec.last < size - 1 ? *spec.last : size - 1;
    a.length = last - a.first + 1;
  }
  a.content_range = "bytes " + std::to_string(a.first) + "-" + std::to_string(a.first + a.length - 1) + "/" +
                    std::to_string(size);
  return a;
}

bool if_range_holds(std::string_view if_range, std::string_view etag,
                    std::optional<std::string_view> last_modified) {
  if_range = trim_ows(if_range);
  if (if_range.empty()) return true;
  // An entity-tag starts with DQUOTE, or with W/ when weak; a weak one never matches strongly.
  if (if_range.front() == '"' || if_range.starts_with("W/") || if_range.starts_with("w/")) {
    // Equal to a strong tag, the stored ETag is strong too.
    return is_strong_etag(if_range) && if_range == trim_ows(etag);
  }
  return last_modified && if_range == trim_ows(*last_modified);
}

}  // namespace orc::cache
