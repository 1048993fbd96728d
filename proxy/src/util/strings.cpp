// Small string helpers shared by the config, HTTP and logging layers.
#include "util/strings.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace orc::util {

namespace {
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool http_token(std::string_view s) {
  // tchar (RFC 9110 section 5.6.2), as a table: every stored field name is checked when an entry is decoded.
  static constexpr auto kTchar = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c)
      t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    return t;
  }();
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!kTchar[c]) return false;
  return true;
}

int percent_escape_at(std::string_view s, std::size_t i) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (i + 2 >= s.size() || s[i] != '%') return -1;
  int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_list(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    auto pos = s.find(sep);
    auto piece = trim(s.substr(0, pos));
    if (!piece.empty()) out.push_back(piece);
    if (pos == std::string_view::npos) break;
    s.remove_prefix(pos + 1);
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    auto d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // A suggestion is only useful when it is a plausible typo: at most a third of the word differs.
  std::size_t allowed = std::max<std::size_t>(2, word.size() / 3);
  return best_d <= allowed ? best : std::string{};
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0 when it is not one.
std::size_t utf8_sequence(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) > 0x9F) return 0;  // a surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) > 0x8F) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

void escape_byte(std::string& out, unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04x", c);
  out += buf;
}

}  // namespace

void append_field_value(std::string& list, std::string_view field_name, std::string_view value) {
  if (!list.empty()) list += iequals(field_name, "cookie") ? "; " : ", ";
  list.append(value);
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  json_escape_append(out, s);
  return out;
}

void json_escape_append(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f') {
          escape_byte(out, static_cast<unsigned char>(c));
        } else if (static_cast<unsigned char>(c) < 0x80) {
          out += c;
        } else if (auto n = utf8_sequence(s.substr(i))) {
          // Well-formed UTF-8 passes as it is, but for what a reader may take for a line break or a terminal
          // control: the C1 controls U+0080..U+009F (NEL, CSI) and the line and paragraph separators U+2028
          // and U+2029 (Python's splitlines, JavaScript).
          const auto second = static_cast<unsigned char>(s[i + 1]);
          if (n == 2 && c == '\xc2' && second < 0xa0)
            escape_byte(out, second);  // U+0080..U+009F: the second byte is the code point
          else if (n == 3 && c == '\xe2' && s[i + 1] == '\x80' && (s[i + 2] == '\xa8' || s[i + 2] == '\xa9'))
            out += s[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
          else
            out.append(s.substr(i, n));
          i += n - 1;
        } else {
          // A byte that is not part of well-formed UTF-8 (a raw byte of a request target, say): written as
          // the code point of the same number, so the line stays valid JSON and the byte can still be read
          // back.
          escape_byte(out, static_cast<unsigned char>(c));
        }
    }
  }
}

}  // namespace orc::util
