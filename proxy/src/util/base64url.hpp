// base64url without padding (RFC 4648 section 5, as JWTs use it: RFC 7515 section 2).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace orc::util {

std::string base64url_encode(std::string_view in);
// Empty on a character outside the alphabet, an impossible length, or non-zero unused bits in the last
// character (a non-canonical spelling: RFC 4648 section 3.5), so that bytes have one spelling only.
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace orc::util
