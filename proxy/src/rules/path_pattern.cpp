// Path patterns of the rulebook and request-path normalisation.
#include "rules/path_pattern.hpp"

#include <boost/url/parse_path.hpp>

#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "util/query.hpp"
#include "util/strings.hpp"

namespace orc::rules {

namespace {

bool identifier(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// Decodes %XX only where it stands for an unreserved character (RFC 3986 section 6.2.2.2); other escapes
// stay, upper-cased, so "/" encoded as %2F never becomes a separator.
std::string normalise_segment(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (int escaped = util::percent_escape_at(s, i); escaped >= 0) {
      char c = static_cast<char>(escaped);
      if (unreserved(c)) {
        out += c;
      } else {
        out += '%';
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(s[i + 1])));
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(s[i + 2])));
      }
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

bool PathPattern::has_param(std::string_view name) const {
  for (const auto& s : segments)
    if (s.kind == Segment::Kind::param && s.text == name) return true;
  return false;
}

std::string PathPattern::shape() const {
  std::string out;
  for (const auto& s : segments) {
    out += '/';
    if (s.kind == Segment::Kind::literal) out += s.text;
    if (s.kind == Segment::Kind::param) out += ':';
    if (s.kind == Segment::Kind::rest) out += "**";
  }
  return out.empty() ? "/" : out;
}

std::optional<PathPattern> parse_path_pattern(std::string_view text, std::string& error) {
  if (text.empty() || text.front() != '/') {
    error = "a path starting with '/'";
    return std::nullopt;
  }
  PathPattern p;
  std::unordered_set<std::string> names;
  std::string_view rest = text.substr(1);
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (seg.empty()) {
      if (rest.empty()) break;  // a trailing slash
      error = "no empty segment ('//') in a path pattern";
      return std::nullopt;
    }
    if (!p.segments.empty() && p.segments.back().kind == Segment::Kind::rest) {
      error = "'**' only as the last segment";
      return std::nullopt;
    }
    if (seg == "**") {
      p.segments.push_back({Segment::Kind::rest, ""});
    } else if (seg.front() == ':') {
      std::string name(seg.substr(1));
      if (!identifier(name)) {
        error = "a parameter name after ':' (letters, digits, '_'), got '" + std::string(seg) + "'";
        return std::nullopt;
      }
      if (!names.insert(name).second) {
        error = "each parameter name once, but ':" + name + "' appears twice";
        return std::nullopt;
      }
      p.segments.push_back({Segment::Kind::param, name});
    } else {
      std::string literal = normalise_segment(seg);  // decoded first: "%2e%2e" is a dot segment too
      if (seg.find('*') != std::string_view::npos || seg.find(':') != std::string_view::npos ||
          seg.find('?') != std::string_view::npos || literal == "." || literal == "..") {
        error = "literal segments without '*', ':', '?' or dot segments, got '" + std::string(seg) + "'";
        return std::nullopt;
      }
      p.segments.push_back({Segment::Kind::literal, std::move(literal)});
    }
  }
  return p;
}

namespace {

// A path already in the form split_request_path and normalise_request_path give, so that both are plain
// string work: "/", or "/" and segments of unreserved characters, ':' and '@' only (nothing to decode,
// nothing to refuse), none empty, "." or "..". Most requests' paths are ("/api/v1/risks/3f2a..."). Anything
// else takes Boost.URL's parse (split_parsed_path); tests check both give the same on every path.
bool plain_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  std::size_t start = 1;
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') {
      const char c = path[i];
      if (!unreserved(c) && c != ':' && c != '@') return false;
      continue;
    }
    const auto segment = path.substr(start, i - start);
    if (segment == "." || segment == "..") return false;
    if (segment.empty() && !(i == path.size() && path.size() == 1))
      return false;  // "//", "/a/"; "/" is plain
    start = i + 1;
  }
  return true;
}

}  // namespace

std::optional<std::vector<std::string>> split_request_path(std::string_view path) {
  if (!plain_path(path)) return split_parsed_path(path);
  std::vector<std::string> out;
  for (std::size_t start = 1; start < path.size();) {
    const auto end = std::min(path.find('/', start), path.size());
    out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::optional<std::vector<std::string>> split_parsed_path(std::string_view path) {
  // Boost.URL splits (RFC 3986 path-abempty: a '%' that starts no escape, or a byte outside the grammar, is
  // not a URI path: kept, "%%355" could become "%55" once its neighbours are decoded, and the backend would
  // decode the path the key names once more; found by tests/fuzz/fuzz_request_head). The policy is ours:
  // empty segments dropped, only unreserved escapes decoded, dot segments refused.
  std::vector<std::string> out;
  if (path.empty()) return out;
  if (!util::uri_characters_only(path)) return std::nullopt;  // Boost.URL 1.81 asserts on some other bytes
  auto parsed = boost::urls::parse_path(path);
  if (!parsed) return std::nullopt;
  for (auto raw : *parsed) {
    if (raw.empty()) continue;
    std::string seg = normalise_segment(std::string_view(raw.data(), raw.size()));
    if (seg == "." || seg == "..") return std::nullopt;
    out.push_back(std::move(seg));
  }
  return out;
}

std::string join_path(const std::vector<std::string>& segments) {
  if (segments.empty()) return "/";
  std::string out;
  for (const auto& s : segments) {
    out += '/';
    out += s;
  }
  return out;
}

std::optional<std::string> normalise_request_path(std::string_view path) {
  if (plain_path(path)) return std::string(path);  // join_path(split_request_path(path)) is the path itself
  if (path.empty() || path.front() != '/') return std::nullopt;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == ';' || path[i] == '\\') return std::nullopt;
    if (int v = util::percent_escape_at(path, i); v == '/' || v == '\\' || v == 0) return std::nullopt;
  }
  auto segments = split_request_path(path);
  if (!segments) return std::nullopt;
  return join_path(*segments);
}

}  // namespace orc::rules
