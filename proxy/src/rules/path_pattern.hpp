// Path patterns of the rulebook: literal segments, `:name` (one segment) and a trailing `**` (the rest).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orc::rules {

struct Segment {
  enum class Kind { literal, param, rest } kind = Kind::literal;
  std::string text;  // the literal, or the parameter name ("" for rest)
};

struct PathPattern {
  std::vector<Segment> segments;
  bool has_param(std::string_view name) const;
  // The shape without parameter names ("/api/v1/risks/:/**"): two rules of one shape match the same paths.
  std::string shape() const;
};

// Parses a pattern; on failure returns empty and sets `error` to what was expected.
std::optional<PathPattern> parse_path_pattern(std::string_view text, std::string& error);

// Splits a request path (no query) into segments; empty segments (a doubled or trailing slash) are dropped
// and unreserved percent-escapes are decoded. Empty when the path contains a dot segment or a '%' that does
// not start an escape.
std::optional<std::vector<std::string>> split_request_path(std::string_view path);
// split_request_path by Boost.URL's parse for every path: what split_request_path does for a path that is
// not already normal (it splits a normal one by hand). For the tests that check the two agree.
std::optional<std::vector<std::string>> split_parsed_path(std::string_view path);

// The normalised path ("/" + segments joined by "/"), as it enters cache keys.
std::string join_path(const std::vector<std::string>& segments);

// A request path as the proxy forwards it: join_path(split_request_path(path)), so the backend is asked for
// exactly the path the rules matched and the cache key names. Empty when the path cannot be normalised
// without guessing how the backend reads it: a dot segment (also percent-encoded), an encoded '/', '\' or
// NUL (%2F, %5C, %00), a raw '\', or a ';' (path parameters, which some servers strip before routing).
std::optional<std::string> normalise_request_path(std::string_view path);

}  // namespace orc::rules
