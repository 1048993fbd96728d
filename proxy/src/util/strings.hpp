// Small string helpers shared by the config, HTTP and logging layers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace orc::util {

bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);
inline bool is_upper_ascii(char c) {
  return c >= 'A' && c <= 'Z';
}
std::string_view trim(std::string_view s);
// RFC 9110 section 5.6.2 `token` (1*tchar): method names, field names, authentication schemes.
bool http_token(std::string_view s);
// Splits on `sep`, trimming each piece and dropping empty ones.
std::vector<std::string_view> split_list(std::string_view s, char sep);
// Edit distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word` when it is close enough to be a likely typo, else empty.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);
// The byte of the %XX escape that starts at s[i] (s[i] == '%'), or -1 when two hex digits do not follow.
int percent_escape_at(std::string_view s, std::size_t i);
// Escapes a string for inclusion in a JSON string literal (without the quotes), on one line whatever reads
// it. Well-formed UTF-8 passes as it is, but for the C0 and C1 controls, DEL, U+2028 and U+2029 (\uXXXX); a
// byte that is not part of it (raw bytes of a request target) is written as \u00XX, so the result is always
// valid JSON.
std::string json_escape(std::string_view s);
// json_escape(s) appended to `out`.
void json_escape_append(std::string& out, std::string_view s);
// Appends one more value of a request field sent more than once to `list`, the values joined into one: with
// "; " for Cookie (RFC 6265 section 5.4, its pairs are split on ';'), ", " for every list field (RFC 9110
// section 5.3).
void append_field_value(std::string& list, std::string_view field_name, std::string_view value);

}  // namespace orc::util
