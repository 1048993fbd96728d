// The simulator's own small text helpers; see text.hpp for why they are not the proxy's.
#include "openrisk_sim/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

namespace orc::sim {
namespace {

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// A unit suffix and how many of the base unit (milliseconds or bytes) it stands for.
struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

constexpr Unit kDurationUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}, {"d", 24 * 60 * 60 * 1000}};

constexpr Unit kSizeUnits[] = {{"", 1},
                               {"B", 1},
                               {"KiB", std::uint64_t{1} << 10},
                               {"MiB", std::uint64_t{1} << 20},
                               {"GiB", std::uint64_t{1} << 30},
                               {"KB", 1000},
                               {"MB", 1000 * 1000},
                               {"GB", 1000 * 1000 * 1000}};

// Leading decimal digits times the factor of the unit that makes up the rest of `text`. Empty when there
// are no digits, the rest is not one of `units`, or the product exceeds `max`.
template <std::size_t N>
std::optional<std::uint64_t> number_with_unit(std::string_view text, const Unit (&units)[N],
                                              std::uint64_t max) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n, 10);
  // from_chars of an unsigned type takes no sign and no leading space; an empty match is invalid_argument.
  if (ec != std::errc{}) return std::nullopt;
  std::string_view suffix = text.substr(static_cast<std::size_t>(end - text.data()));
  for (const Unit& u : units) {
    if (u.suffix != suffix) continue;
    if (n > max / u.factor) return std::nullopt;
    return n * u.factor;
  }
  return std::nullopt;
}

constexpr std::string_view kBase64urlDigits =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The 6-bit value of each byte as a base64url digit, -1 for bytes outside the alphabet.
constexpr std::array<std::int8_t, 256> kBase64urlValue = [] {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  for (std::size_t i = 0; i < kBase64urlDigits.size(); ++i)
    t[static_cast<unsigned char>(kBase64urlDigits[i])] = static_cast<std::int8_t>(i);
  return t;
}();

}  // namespace

std::string to_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out += ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  std::size_t first = 0;
  std::size_t last = s.size();
  while (first < last && is_blank(s[first])) ++first;
  while (last > first && is_blank(s[last - 1])) --last;
  return s.substr(first, last - first);
}

std::vector<std::string_view> split_list(std::string_view s, char sep) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  for (;;) {
    std::size_t stop = s.find(sep, start);
    std::string_view piece = trim(s.substr(start, stop == std::string_view::npos ? stop : stop - start));
    if (!piece.empty()) pieces.push_back(piece);
    if (stop == std::string_view::npos) return pieces;
    start = stop + 1;
  }
}

std::string json_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  // A bare number is ambiguous except for zero, which is zero in every unit.
  if (text == "0") return std::chrono::milliseconds(0);
  auto ms = number_with_unit(
      text, kDurationUnits,
      static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max()));
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  return number_with_unit(text, kSizeUnits, std::numeric_limits<std::uint64_t>::max());
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  // Each group of up to three bytes becomes one more digit than it has bytes (no '=' padding).
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = 0;
    for (std::size_t k = 0; k < 3; ++k)
      group = group << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (std::size_t d = 0; d <= n; ++d) out += kBase64urlDigits[(group >> (18 - 6 * d)) & 0x3F];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  std::uint32_t group = 0;
  std::size_t digits = 0;
  for (char c : text) {
    int v = kBase64urlValue[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    group = group << 6 | static_cast<std::uint32_t>(v);
    if (++digits == 4) {
      out += static_cast<char>(group >> 16);
      out += static_cast<char>((group >> 8) & 0xFF);
      out += static_cast<char>(group & 0xFF);
      group = 0;
      digits = 0;
    }
  }
  // A tail of two digits holds one byte and four unused bits, of three digits two bytes and two unused bits.
  if (digits == 2) {
    if (group & 0xF) return std::nullopt;
    out += static_cast<char>(group >> 4);
  } else if (digits == 3) {
    if (group & 0x3) return std::nullopt;
    out += static_cast<char>(group >> 10);
    out += static_cast<char>((group >> 2) & 0xFF);
  }
  return out;
}

}  // namespace orc::sim
