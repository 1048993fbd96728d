// URI text for Boost.URL, and a request's query, split once with Boost.URL (RFC 3986 section 3.4) into the
// name=value pairs a backend reads (application/x-www-form-urlencoded: names percent-decoded, '+' a space).
// The scope's credential, the cache key, the tags and the access log's redaction all read the same split of a
// request.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orc::util {

// Whether every byte is one RFC 3986 allows somewhere in a URI (unreserved, reserved, or the '%' of an
// escape). Boost.URL 1.81's rules assert on some other bytes where they should refuse (found by the fuzzers:
// "Ttp:\xc7"): text is checked with this before it reaches them.
bool uri_characters_only(std::string_view text);
// Whether `text` is "<scheme>://" (any case) followed by URI characters only: what may reach Boost.URL's uri
// rules. Without an authority they also assert on some valid URIs (an empty path with a query: "http:?").
bool uri_with_authority(std::string_view text, std::string_view scheme);

struct QueryParam {
  std::string name;            // decoded, as the backend reads it: "%73everity" is "severity"
  std::string_view raw_name;   // as sent (a view into the Query)
  std::string_view raw_value;  // as sent; empty when there is none (a view into the Query)
  bool has_value = false;      // "a=" has an (empty) value, "a" has none
};

class Query {
 public:
  Query() = default;  // no query
  // `text`: what follows the '?' (copied: the params view the copy, so a Query neither copies nor moves).
  explicit Query(std::string_view text);
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  // False when the text is not an RFC 3986 query (a '%' that starts no escape, a byte outside the grammar
  // such as a space, '"', '[' or a byte >= 0x80): then there are no params, and whoever needs them steps
  // aside.
  bool valid() const { return valid_; }
  std::string_view text() const { return text_; }
  const std::vector<QueryParam>& params() const { return params_; }
  // The value, as sent, of the first parameter with this (decoded) name (a view into the Query).
  std::optional<std::string_view> raw_value(std::string_view name) const;

 private:
  std::string text_;
  bool valid_ = true;
  std::vector<QueryParam> params_;
};

}  // namespace orc::util
