// The simulator's own small text helpers (case, whitespace, lists, JSON strings, durations, sizes,
// base64url). Written apart from proxy/src/util on purpose: a bug there must not hide in the backend too.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orc::sim {

// ASCII only: e-mails, sort directions and search terms, never locale-dependent text.
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view trim(std::string_view s);
// The trimmed, non-empty pieces of `s` between `sep`s ("a, ,b" -> "a", "b"); they point into `s`.
std::vector<std::string_view> split_list(std::string_view s, char sep);

// `s` escaped for the inside of a JSON string literal (RFC 8259 section 7), without the quotes. Bytes of
// 0x80 and above pass through unchanged.
std::string json_escape(std::string_view s);

// "0", or a whole number directly followed by ms, s, m, h or d ("150ms", "2s", "5m", "1h").
// Empty on anything else: no sign, fraction, space, other unit or overflow.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// A whole number of bytes, bare or directly followed by B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB
// (powers of 1000): "1048576", "64KiB", "10MB". Empty on anything else or on overflow of 64 bits.
std::optional<std::uint64_t> parse_size(std::string_view text);

// base64url (RFC 4648 section 5) without padding, as JWTs use it (RFC 7515 section 2).
std::string base64url_encode(std::string_view bytes);
// Empty on '=' or any character outside the alphabet, on a length of 4n+1 (no whole byte), and on
// non-zero unused bits in the last character (a non-canonical encoding, RFC 4648 section 3.5).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace orc::sim
