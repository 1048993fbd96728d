// The rulebook and its companions (identity, cache engine, redis, admin) as plain structs, as written in the
// file: the rules layer (proxy/src/rules) compiles and checks them. Positions are kept for error messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orc::config {

using Duration = std::chrono::milliseconds;

struct SourcePos {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
};

enum class ActionKind { cache, invalidate, pass, stream };
enum class Scope { public_, credential, user, tenant, role };

std::string_view to_string(ActionKind a);
std::string_view to_string(Scope s);

struct Positioned {
  std::string value;
  SourcePos pos;
  // An invalidate tag's condition (`{ tag: T, unless_body_only: [fields] }`): the tag is not purged when the
  // write's body is a JSON object naming only these fields. Empty: always purged.
  std::vector<std::string> unless_body_only;
  // An invalidate tag rendered from the backend's answer (`{ tag: "risk:{tenant}:{answer.risk_id}", fallback:
  // F }`): F is purged instead when the answer does not give the tag's fields. Empty: none.
  std::string fallback;
};

struct CacheAction {
  bool ttl_origin = false;  // `ttl: origin`: freshness from the backend's Cache-Control / Expires
  Duration ttl{std::chrono::minutes(5)};
  Scope scope = Scope::credential;
  std::vector<std::string> key_query;
  // `key: { query: all }` (the default of `ttl: origin` rules): the whole query as sent enters the key, so
  // the key is the target URI (RFC 9111 section 2).
  bool key_query_all = false;
  bool other_query_bypass = false;  // `other_query: bypass`
  std::vector<std::string> key_headers;
  std::vector<Positioned> tags;
  std::vector<unsigned> statuses{200, 203, 204, 300, 301, 404, 410};
  std::uint64_t max_body = 1024 * 1024;
  Duration stale_while_revalidate{0};
  Duration stale_if_error{0};
  // `ttl: origin` only: a response without explicit freshness but with Last-Modified, of a heuristically
  // cacheable status, is fresh for 10 % of Date - Last-Modified, at most this long (RFC 9111 section 4.2.2).
  // 0: no heuristic freshness (such a response is not stored).
  Duration heuristic_max{0};
  // RFC 9213 targeted fields, in precedence order, that stand for Cache-Control for this cache when one is
  // present and valid: the rule's `targeted_field` (if any), then CDN-Cache-Control. They are removed from
  // responses to clients unless `forward_targeted`.
  std::vector<std::string> targeted{"CDN-Cache-Control"};
  bool forward_targeted = false;
  // `set_cookie: strip`: a response with Set-Cookie is stored without it (the client that caused the fill
  // still gets it); default `bypass`: such a response is not stored.
  bool set_cookie_strip = false;
  // How long past its freshness (and stale windows) a response with a validator (ETag, Last-Modified) stays
  // stored to be revalidated with a conditional request (RFC 9111 section 4.3) instead of fetched whole. For
  // `ttl: origin` rules, a response that is stale on arrival or says no-cache is then stored too (fresh for
  // 0 s: revalidated before every reuse). 0: kept no longer than its freshness and stale windows.
  Duration validation_window{std::chrono::minutes(10)};
  // cache.verify (cache/verify.hpp): `verify: false` opts the rule out (a GET with a side effect, which a
  // verify would repeat); `verify_ignore`: JSON object members left out of the comparison, at any depth.
  bool verify = true;
  std::vector<std::string> verify_ignore;
  // `permission: risks:read` (`scope: tenant` only): the entry is shared by the members of the tenant whose
  // verified token grants this permission, as the backend's permission check reads the token
  // (identity::grants); a caller whose token does not grant it bypasses the cache. Empty: none.
  std::string permission;
  SourcePos ttl_pos, scope_pos, statuses_pos, permission_pos;
};

struct RuleConfig {
  std::string name;
  SourcePos pos;                     // of the rule (its mapping)
  std::vector<std::string> methods;  // upper case; empty = every method
  std::string path;
  SourcePos path_pos;
  std::string host;  // empty = any
  std::vector<std::string> require_query;
  std::vector<std::string> require_headers;
  ActionKind action = ActionKind::pass;
  CacheAction cache;                   // action == cache
  std::vector<Positioned> invalidate;  // action == invalidate: tag templates
};

struct CredentialSource {
  enum class Kind { header, cookie, query } kind = Kind::header;
  std::string name;
  // Header sources: the value must be exactly "<scheme> <token>" (scheme compared byte for byte, one space,
  // a token without white space), as OpenRisk reads its Authorization header; anything else is a malformed
  // credential and no later source is consulted. Empty (`scheme: none`): the whole value is the credential.
  // Default "Bearer" for the Authorization header, none for other headers.
  std::string scheme;
};

struct JwtConfig {
  bool enabled = false;
  std::string algorithm = "RS256";  // RS256 | HS256
  std::string public_key_file;      // RS256: PEM
  std::string secret;               // HS256 (from `secret` or `secret_file`)
  std::string issuer;               // checked when not empty
  std::string audience;             // checked when not empty
  std::string user_claim = "sub";
  std::string tenant_claim = "tenant_id";
  // Claims that decide what the caller may read (OpenRisk: permissions, org_roles). A digest of their values
  // enters every `user` key, so a token minted after a role change never reads an entry of the old role,
  // and it is what `scope: role` shares by. Empty: no digest; `scope: role` is then unusable.
  std::vector<std::string> authz_claims;
  // The claim that lists the caller's permissions (an array of strings), read by a rule's `permission`.
  std::string permissions_claim = "permissions";
  Duration leeway{std::chrono::seconds(30)};
  SourcePos pos;
};

struct IdentityConfig {
  std::vector<CredentialSource> credential{{CredentialSource::Kind::header, "Authorization", "Bearer"}};
  JwtConfig jwt;
};

// cache.verify: a sampled share of fresh hits is fetched again in the background and compared with the entry
// (cache/verify.hpp). The limits are per process.
struct VerifyConfig {
  double sample = 0;              // share of fresh GET hits verified, 0 to 1; 0 = off
  double max_per_second = 10;     // verifies started per second
  std::uint32_t concurrency = 2;  // verifies under way at once
  std::uint32_t keep = 50;        // mismatches kept for GET /admin/verify
};

struct CacheEngineConfig {
  std::string key_secret;  // HMAC key of the `credential` scope (from key_secret or key_secret_file)
  std::uint64_t memory_budget = 256ull * 1024 * 1024;
  // The in-process L1 in front of Redis (cache/l1_cache.hpp); 0 = off. Used only with a `redis` section.
  std::uint64_t l1_budget = 0;
  Duration l1_max_age{std::chrono::seconds(30)};  // the longest an entry stays in the L1
  // The longest a fill may take from the read of its tags' generations to its store (cache/storage.hpp):
  // a slower one is not stored. A purge's new generation lives at least this long.
  Duration max_fill{std::chrono::minutes(2)};
  SourcePos max_fill_pos;  // where max_fill is set (line 0: the default)
  VerifyConfig verify;
};

// Redis behind Sentinel: the master's address comes from the sentinels, and follows their failovers.
struct RedisSentinelConfig {
  std::string master;              // the name the sentinels monitor; empty: no Sentinel
  std::vector<std::string> nodes;  // the sentinels, "host:port", asked in turn
  std::string password;            // the sentinels' own (requirepass); empty: no AUTH
  bool operator==(const RedisSentinelConfig&) const = default;
};

struct RedisConfig {
  bool enabled = false;
  // With `sentinel`, only the user, password and database of the URL are used: the master's address comes
  // from the sentinels.
  std::string url = "redis://127.0.0.1:6379/0";
  SourcePos url_pos;  // of `url` (or of the section when it has none): the storage's parser reports there
  RedisSentinelConfig sentinel;
  // A Redis Cluster: the seed nodes, "host:port", asked for the slot map (the URL's host and port unused,
  // its database must be 0). Empty: one server, or Sentinel.
  std::vector<std::string> cluster;
  // Replicas a purge must reach (WAIT) before it counts as done, so that a failover cannot lose it.
  // Unset: 1 behind Sentinel or on a Cluster, 0 on one server.
  std::optional<std::uint32_t> wait_replicas;
  std::uint32_t purge_replicas() const {
    return wait_replicas.value_or(sentinel.master.empty() && cluster.empty() ? 0 : 1);
  }
  std::string key_prefix = "orc:";
  std::uint32_t pool_size = 4;
  Duration connect_timeout{std::chrono::seconds(1)};
  Duration command_timeout{std::chrono::milliseconds(50)};
};

// How request paths meet the rules' patterns.
struct RoutingConfig {
  // Literal segments match in any ASCII case (Fiber's default routing, which OpenRisk keeps) and a match
  // enters the key in the rule's spelling, so "/risks/UNMAPPED" is the entry of "/risks/unmapped".
  bool case_insensitive = false;
};

struct AdminConfig {
  std::string listen = "127.0.0.1:9464";
  std::string token;  // from token or token_file; empty = the mutating admin endpoints are off
};

}  // namespace orc::config
