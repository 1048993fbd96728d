// Who is calling: credential lookup, HMAC fingerprints and the identity each cache scope keys on.
#include "identity/caller.hpp"

#include "rules/tag_template.hpp"
#include "util/bounded_map.hpp"
#include "util/strings.hpp"

namespace orc::identity {

namespace {

// The credential's HMAC under the key secret, from a per-thread cache: a client sends the same token on every
// request, and a one-shot HMAC with OpenSSL 3's per-call set-up is a noticeable part of a hit
// (docs/performance.md, "Many keys"). The cache starts over when the secret changes (a reload).
std::string credential_hmac(std::string_view key_secret, std::string_view credential) {
  struct Cache {
    std::string secret;
    util::BoundedMap<std::string> macs{4096};
  };
  thread_local Cache cache;
  if (cache.secret != key_secret) {
    cache.macs.clear();
    cache.secret.assign(key_secret);
  }
  if (const auto* mac = cache.macs.find(credential)) return *mac;
  return cache.macs.insert(credential, hmac_sha256_hex(key_secret, credential));
}

}  // namespace

std::string FoundCredential::describe() const {
  switch (source.kind) {
    case config::CredentialSource::Kind::header:
      return "header " + source.name;
    case config::CredentialSource::Kind::cookie:
      return "cookie " + source.name;
    case config::CredentialSource::Kind::query:
      return "query " + source.name;
  }
  return source.name;
}

std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name) {
  for (auto pair : util::split_list(cookie_header, ';')) {
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (util::trim(pair.substr(0, eq)) == name) return util::trim(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<FoundCredential> find_credential(const config::IdentityConfig& id, const HeaderLookup& headers,
                                               const util::Query& query) {
  for (const auto& src : id.credential) {
    std::optional<std::string_view> v;
    switch (src.kind) {
      case config::CredentialSource::Kind::header:
        v = headers(src.name);
        break;
      case config::CredentialSource::Kind::cookie:
        if (auto c = headers("Cookie")) v = cookie_value(*c, src.name);
        break;
      case config::CredentialSource::Kind::query:
        v = query.raw_value(src.name);
        break;
    }
    if (!v || util::trim(*v).empty()) continue;
    auto token = scheme_token(util::trim(*v), src.scheme);
    if (!token) return FoundCredential{{}, src, true};
    return FoundCredential{std::string(*token), src, false};
  }
  return std::nullopt;
}

std::optional<std::string_view> scheme_token(std::string_view value, std::string_view scheme) {
  if (scheme.empty()) return value;
  if (value.size() <= scheme.size() + 1 || !value.starts_with(scheme) || value[scheme.size()] != ' ')
    return std::nullopt;
  std::string_view token = value.substr(scheme.size() + 1);
  // Two memchr scans: find_first_of(" \t") calls memchr on its two-character set once per byte of a token
  // that is a whole JWT (~3 % of a hit's CPU).
  if (token.find(' ') != std::string_view::npos || token.find('\t') != std::string_view::npos)
    return std::nullopt;
  return token;
}

bool grants(const std::vector<std::string>& held, std::string_view needed) {
  for (const auto& h : held) {
    if (h == "*" || h == needed) return true;
    // "res:*": the prefix "res:" (with its colon), so that "risk:*" does not grant "risks:read".
    if (h.size() >= 3 && h.ends_with(":*") && needed.starts_with(std::string_view(h).substr(0, h.size() - 1)))
      return true;
  }
  return false;
}

ScopeIdentity resolve_scope(config::Scope scope, const config::IdentityConfig& id,
                            const JwtVerifier* verifier, std::string_view key_secret,
                            const HeaderLookup& headers, const util::Query& query, long long now,
                            std::string_view permission) {
  ScopeIdentity out;
  out.credential = find_credential(id, headers, query);
  if (out.credential && out.credential->malformed) {
    // The backend refuses the request (401) whatever it asks for: nothing is keyed on its behalf.
    if (scope == config::Scope::public_) {
      out.key_part = "public";
    } else {
      out.bypass = true;
      out.bypass_reason = "malformed_credential";
    }
    return out;
  }
  if (out.credential && verifier) {
    JwtError err;
    out.claims = verifier->verify(out.credential->value, now, err);
    if (!out.claims && scope != config::Scope::public_ && scope != config::Scope::credential) {
      out.bypass = true;
      out.bypass_reason = "jwt_" + std::string(to_string(err));
      return out;
    }
  }
  switch (scope) {
    case config::Scope::public_:
      out.key_part = "public";
      break;
    case config::Scope::credential:
      if (!out.credential || key_secret.empty()) {
        out.bypass = true;
        out.bypass_reason = "no_credential";
        break;
      }
      out.key_part = "cred:" + credential_hmac(key_secret, out.credential->value);
      break;
    case config::Scope::user:
    case config::Scope::tenant:
    case config::Scope::role: {
      if (!out.credential) {
        out.bypass = true;
        out.bypass_reason = "no_credential";
        break;
      }
      if (!out.claims) {
        out.bypass = true;
        out.bypass_reason = "jwt_unverified";
        break;
      }
      const VerifiedClaims& c = *out.claims;
      // user: the user claim; tenant: the tenant claim; role: the authorization digest, and the tenant
      // claim unless the tokens carry none (a single-tenant backend).
      const bool single_tenant = verifier == nullptr || !verifier->has_tenant_claim();
      const bool missing =
          (scope == config::Scope::user && c.user.empty()) ||
          (scope == config::Scope::tenant && c.tenant.empty()) ||
          (scope == config::Scope::role && (c.authz.empty() || (c.tenant.empty() && !single_tenant)));
      if (missing) {
        out.bypass = true;
        out.bypass_reason = "missing_claim";
        break;
      }
      std::string& k = out.key_part;
      if (scope == config::Scope::user) {
        // A user can belong to several tenants (switch-org): a user entry is per user *in* a tenant, and per
        // permission set, so a token minted after a role change never reads the old role's entries.
        k.append("user:");
        if (!c.tenant.empty()) k.append(c.tenant).append(":");
        k.append(c.user);
        if (!c.authz.empty()) k.append(":authz:").append(c.authz);
      } else if (scope == config::Scope::tenant) {
        if (!permission.empty() && !(c.permissions && grants(*c.permissions, permission))) {
          out.bypass = true;
          out.bypass_reason = "no_permission";
          break;
        }
        k.append("tenant:").append(c.tenant);
        if (!permission.empty()) k.append(":perm:").append(permission);
      } else {
        k.append("role:");
        if (!c.tenant.empty()) k.append(c.tenant).append(":");
        k.append(c.authz);
      }
      break;
    }
  }
  return out;
}

}  // namespace orc::identity
