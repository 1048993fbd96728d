// Access tokens as the OpenRisk backend mints them: RS256 (HEAD) or HS256 (Phase 5), signed and verified
// with OpenSSL. The RSA key is generated at startup or read from a file (--jwt-private-key); only the public
// half (or the HS256 secret) is exported.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "openrisk_sim/sim_options.hpp"

namespace orc::sim {

enum class TokenError { malformed, wrong_alg, bad_signature, expired };
const char* token_error_name(TokenError e);

class JwtCodec {
 public:
  // Startup only. Signs with `private_key_pem` (a PEM RSA private key), or with a key generated now when it
  // is empty; throws std::runtime_error when the key is not one or cannot be generated.
  static std::unique_ptr<JwtCodec> make_rs256(const std::string& private_key_pem = {});
  static std::unique_ptr<JwtCodec> make_hs256(std::string secret);
  ~JwtCodec();
  JwtCodec(const JwtCodec&) = delete;
  JwtCodec& operator=(const JwtCodec&) = delete;

  JwtMode mode() const { return mode_; }
  std::string sign(const boost::json::object& claims) const;
  // Checks the signature, the algorithm and `exp` (seconds since the epoch) against `now`.
  std::variant<boost::json::object, TokenError> verify(std::string_view token, std::int64_t now) const;
  // What a verifier needs: the PEM public key (rs256) or the shared secret (hs256).
  const std::string& key_material() const { return key_material_; }

 private:
  struct Key;
  JwtCodec(JwtMode mode, std::unique_ptr<Key> key, std::string material);

  JwtMode mode_;
  std::unique_ptr<Key> key_;
  std::string key_material_;
};

}  // namespace orc::sim
