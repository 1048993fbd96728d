// SHA-256 and HMAC-SHA256 (OpenSSL) as lower-case hex: cache keys, ETags, credential fingerprints, config
// hashes.
#pragma once

#include <string>
#include <string_view>

namespace orc::util {

// Both throw std::runtime_error when OpenSSL fails (out of memory): never a digest shared by every input,
// which would let keys and Vary variants of different callers meet. A request then fails (its connection
// is closed).
std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// Whether a secret and a candidate are equal, in time that depends on neither their contents nor the
// secret's length: their SHA-256 digests (equal length whatever the inputs) are compared with CRYPTO_memcmp.
bool secret_equal(std::string_view secret, std::string_view candidate);

}  // namespace orc::util
