// Verifies the JWTs the backend issues (RS256 or HS256) with OpenSSL, so `user` and `tenant` scopes can key
// on claims the proxy has checked itself: signature, exp, nbf, and optionally iss and aud. Tokens with a
// `type` claim (OpenRisk's MFA_REQUIRED / MFA_ENROLLMENT step tokens) are refused: only access tokens
// identify.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/rule_config.hpp"
#include "util/base64url.hpp"

namespace orc::identity {

enum class JwtError {
  none,
  malformed,        // not three base64url parts of JSON
  wrong_algorithm,  // alg differs from the configured one (never "none")
  bad_signature,
  expired,
  not_yet_valid,
  wrong_issuer,
  wrong_audience,
  not_access_token,  // carries a `type` claim (e.g. the backend's MFA step tokens): not a session
};
std::string_view to_string(JwtError e);

struct VerifiedClaims {
  std::string user;    // the configured user claim; may be empty when absent
  std::string tenant;  // the configured tenant claim; may be empty when absent
  long long exp = 0;
  // 32 hex digits of a SHA-256 over the values of identity.jwt.authz_claims in one spelling (object members
  // sorted, arrays as sets, an absent claim named as such): tokens granting the same permissions and roles
  // have the same digest whatever order they list them in. Empty when no authz claim is configured.
  std::string authz;
  // The strings of identity.jwt.permissions_claim when it is an array (others are skipped); null otherwise.
  // Shared: the claims of a verified token are copied out of the per-thread cache on every request.
  std::shared_ptr<const std::vector<std::string>> permissions;
};

class JwtVerifier {
 public:
  // Loads the key material; throws std::runtime_error with a readable reason (startup / reload only).
  explicit JwtVerifier(const config::JwtConfig& cfg);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // `now` in seconds since the epoch (injectable for tests). A token that verified before is answered from
  // a per-thread cache (its expiry is still checked against `now`): the signature check, the costly part,
  // runs once per token per worker thread, not once per request.
  std::optional<VerifiedClaims> verify(std::string_view token, long long now, JwtError& error) const;
  bool has_tenant_claim() const { return !cfg_.tenant_claim.empty(); }

 private:
  std::optional<VerifiedClaims> verify_uncached(std::string_view token, long long now, JwtError& error) const;
  struct Key;
  config::JwtConfig cfg_;
  std::unique_ptr<Key> key_;
  std::uint64_t id_;  // distinguishes verifiers across reloads in the per-thread caches
};

using util::base64url_decode;
using util::base64url_encode;

}  // namespace orc::identity
