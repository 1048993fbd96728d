// SHA-256 and HMAC-SHA256 (OpenSSL) as lower-case hex: cache keys, ETags, credential fingerprints, config
// hashes.
#pragma once

#include <string>
#include <string_view>

namespace orc::util {

std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace orc::util
