// Fuzzes the JWT parser and verifier (identity/jwt_verifier). Two shapes of input, by the first byte:
// - the token as sent (any bytes): it never verifies without the key, and never crashes;
// - "header JSON\npayload JSON": the harness signs it with the verifier's own HS256 key, so the claims
//   parser behind the signature check is reached; a correctly signed token is never refused as
//   bad_signature.
// Each token is verified twice: the second answer comes from the per-thread cache and must be the same.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_check.hpp"
#include "identity/jwt_verifier.hpp"

namespace {

constexpr long long kNow = 1'700'000'000;
const char kSecret[] = "fuzz-secret";

const orc::identity::JwtVerifier& verifier() {
  static const orc::identity::JwtVerifier v([] {
    orc::config::JwtConfig cfg;
    cfg.enabled = true;
    cfg.algorithm = "HS256";
    cfg.secret = kSecret;
    return cfg;
  }());
  return v;
}

std::string sign(std::string_view header, std::string_view payload) {
  std::string input =
      orc::identity::base64url_encode(header) + "." + orc::identity::base64url_encode(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), kSecret, sizeof kSecret - 1, reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return input + "." + orc::identity::base64url_encode(std::string_view(reinterpret_cast<char*>(mac), len));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto text = orc::fuzz::as_text(data + 1, size - 1);
  bool signed_by_us = data[0] & 1;
  std::string token;
  if (signed_by_us) {
    auto parts = orc::fuzz::fields(text, 2);
    if (parts.size() != 2) return 0;
    token = sign(parts[0], parts[1]);
  } else {
    token = std::string(text);
  }
  using orc::identity::JwtError;
  JwtError first = JwtError::none, second = JwtError::none;
  auto a = verifier().verify(token, kNow, first);
  auto b = verifier().verify(token, kNow, second);
  ORC_FUZZ_CHECK(a.has_value() == (first == JwtError::none));
  ORC_FUZZ_CHECK(a.has_value() == b.has_value());
  ORC_FUZZ_CHECK(first == second);
  if (a) ORC_FUZZ_CHECK(a->user == b->user && a->tenant == b->tenant && a->exp == b->exp);
  if (signed_by_us) ORC_FUZZ_CHECK(first != JwtError::bad_signature);
  if (!signed_by_us && a) ORC_FUZZ_CHECK(!"an unsigned input verified");
  return 0;
}
