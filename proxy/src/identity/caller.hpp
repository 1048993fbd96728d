// Who is calling: the credential found where the rulebook's `identity` says, and what each cache scope keys
// on. Raw credentials stay inside this module: everything it hands out is an HMAC or a verified claim.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/rule_config.hpp"
#include "identity/jwt_verifier.hpp"
#include "util/digest.hpp"
#include "util/query.hpp"

namespace orc::identity {

using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view name)>;

struct FoundCredential {
  std::string value;  // raw, the source's scheme removed ("Bearer x" -> "x"): never log it, never store it
  config::CredentialSource source;
  // The source's header is there but not "<scheme> <token>" (e.g. "bearer x", "Bearer  x"): the caller has
  // no valid credential (the backend answers 401) and no later source was consulted. `value` is empty.
  bool malformed = false;
  std::string describe() const;  // "header Authorization", "cookie or_access", "query token"
};

// The first source that is present (a blank value counts as absent), read as the backend reads it.
std::optional<FoundCredential> find_credential(const config::IdentityConfig& id, const HeaderLookup& headers,
                                               const util::Query& query);
// The token of "<scheme> <token>" (scheme byte for byte, one space, no white space in the token); empty when
// `value` has another shape. An empty scheme takes the value as it is.
std::optional<std::string_view> scheme_token(std::string_view value, std::string_view scheme);
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);

using util::hmac_sha256_hex;
using util::sha256_hex;

struct ScopeIdentity {
  bool bypass = false;  // the request cannot be cached under this scope (no or bad credential)
  // closed set: no_credential, malformed_credential, jwt_<JwtError>, missing_claim, no_permission
  std::string bypass_reason;
  // What enters the cache key: "public", "cred:<hmac>", "user:<tenant>:<id>[:authz:<digest>]",
  // "tenant:<id>[:perm:<permission>]", "role:<tenant>:<digest>".
  std::string key_part;
  std::optional<FoundCredential> credential;
  std::optional<VerifiedClaims> claims;  // when a JWT verified
};

// The wall clock in whole seconds, from the precise clock: glibc's time() reads the coarse clock, which can
// lag a few milliseconds behind at a second boundary, long enough to accept a token the backend (reading
// the precise clock) already refuses as expired.
inline long long unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Whether permissions `held` (a token's permissions claim) grant `needed`, as the OpenRisk backend's
// RequirePermission reads them (openrisk-api.md section 3.2): "*" grants everything, "res:*" every permission
// that starts with "res:", any other only itself (byte for byte).
bool grants(const std::vector<std::string>& held, std::string_view needed);

// Resolves `scope` for one request. `verifier` may be null when no JWT verification is configured.
// `permission` (a rule's, `scope: tenant` only): the entry is shared by the tenant's members whose verified
// token grants it, keyed "tenant:<id>:perm:<permission>"; a token that does not grant it bypasses
// ("no_permission": the backend decides, and answers it 403).
ScopeIdentity resolve_scope(config::Scope scope, const config::IdentityConfig& id,
                            const JwtVerifier* verifier, std::string_view key_secret,
                            const HeaderLookup& headers, const util::Query& query,
                            long long now = unix_seconds(), std::string_view permission = {});

}  // namespace orc::identity
