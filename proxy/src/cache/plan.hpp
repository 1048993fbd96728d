// The cache's one decision about a request, as a pure function (Envoy's CacheabilityUtils): which rule,
// what to do, and for a cached read the scope identity, the key and the tags. No I/O and no clock of its
// own: the daemon (http/session.cpp, then the cache flow) and `openrisk-cache explain` call the same
// function, so they cannot disagree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_key.hpp"
#include "cache/cache_policy.hpp"
#include "config/config.hpp"
#include "identity/caller.hpp"
#include "rules/rulebook.hpp"

namespace orc::cache {

class PendingPurges;

// The request as the plan sees it: views into the request, valid while it is served.
struct RequestFacts {
  std::string_view method;  // as sent, upper case for the standard methods
  std::string_view path;    // the normalised origin-form path, without the query: what the backend receives
  std::string_view query;   // without the '?'
  std::string_view host;    // the Host header
  bool has_body = false;    // Content-Length > 0 or chunked
  identity::HeaderLookup header;  // the first value of a request header (case-insensitive), or none
  bool is_get() const { return method == "GET"; }
  bool is_head() const { return method == "HEAD"; }
};

enum class Action {
  pass,        // no rule, a pass rule, or a method the matched rule does not cache: forwarded untouched
  stream,      // a stream rule: forwarded without buffering, never cached
  invalidate,  // a write rule: forwarded; a 2xx answer purges the tags before the client sees it
  bypass,      // a cache rule that cannot serve this request from the cache: forwarded, never stored
  lookup,      // a cache rule: looked up, served or fetched and stored
};
std::string_view to_string(Action a);

// Why a request of a cache rule bypasses the cache. The names are the `Cache-Status` detail, the access log's
// and the `openrisk_cache_bypasses_total` metric's `reason`.
enum class Bypass {
  none,
  request_body,          // request-body: a GET or HEAD with a body
  rewrite_header,        // rewrite-header: a header that can make the backend answer another URL or method
  no_store,              // no-store: the request's Cache-Control says so
  precondition,          // precondition: If-Match or If-Unmodified-Since (the backend may answer 412 for it)
  no_credential,         // no_credential: the scope needs a credential and there is none (or no key_secret)
  malformed_credential,  // malformed_credential: a credential header not in its scheme ("bearer x")
  jwt_malformed,         // jwt_<error>: the scope needs verified claims and the token does not verify
  jwt_wrong_algorithm,
  jwt_bad_signature,
  jwt_expired,
  jwt_not_yet_valid,
  jwt_wrong_issuer,
  jwt_wrong_audience,
  jwt_not_access_token,
  jwt_unverified,       // jwt_unverified: the scope needs claims and no JWT verification is configured
  missing_claim,        // missing_claim: the token lacks the claim the scope keys on
  no_permission,        // no_permission: the token does not grant the rule's `permission`
  other_query,          // other-query: a query parameter the rule does not name, with other_query: bypass
  invalid_query,        // invalid-query: the query is not RFC 3986 (its parameters cannot be read)
  tag_needs_identity,   // tag-needs-identity: a tag template needs {tenant} or {user} and there is no claim
  purge_pending,        // purge-pending: a purge of one of the tags failed and is owed
  storage_unavailable,  // storage-unavailable: the storage did not answer the lookup (decided by the flow)
};
inline constexpr std::size_t kBypassReasons = static_cast<std::size_t>(Bypass::storage_unavailable) + 1;
std::string_view to_string(Bypass b);

struct PlanInput {
  const RequestFacts& request;
  const config::Config& config;
  bool caching = true;                              // false without storage: cache rules pass
  const rules::Rulebook* rulebook = nullptr;        // null: no rules (everything is passed)
  const identity::JwtVerifier* verifier = nullptr;  // null without identity.jwt
  const PendingPurges* owed = nullptr;              // the purges owed now (null: none)
  std::int64_t now_s = 0;                           // for the JWT's exp and nbf
};

struct Plan {
  Action action = Action::pass;
  Bypass bypass = Bypass::none;
  std::string_view why;  // a sentence for explain (and the logs) saying what the action means here
  std::optional<rules::Match> match;
  identity::ScopeIdentity identity;  // lookup and bypass: what the scope keys on (or why it cannot)
  CacheKey key;                      // lookup
  // lookup: the tags the entry is stored under; invalidate: the tags purged. Rendered, the `uri:` tag last.
  std::vector<std::string> tags;
  std::vector<std::string> unrendered;  // invalidate: templates that need a verified JWT (not purged)
  // invalidate: tags with a condition (`unless_body_only`), rendered; not in `tags`: the flow adds each one
  // whose condition the write's body does not meet (skips_purge).
  struct ConditionalTag {
    std::string tag;
    const std::vector<std::string>* unless_body_only = nullptr;  // the rule's field names
  };
  std::vector<ConditionalTag> conditional;
  // invalidate: tags rendered from the backend's answer to the write (`{answer.field}`), rendered but for
  // those fields, each with the tag purged instead when the answer does not give them; not in `tags`: the
  // flow adds them (answer_tags).
  struct AnswerTag {
    rules::PartialTag tag;
    std::string fallback;
  };
  std::vector<AnswerTag> answered;
  bool revalidate = false;       // the request's no-cache: skip the lookup, fetch and store
  RequestDirectives directives;  // lookup: the request's Cache-Control (max-age, max-stale, ...)
  bool fill = false;             // a miss may be stored (GET; a HEAD miss is only relayed)

  const rules::CompiledRule* rule() const { return match ? match->rule : nullptr; }
  // The rule's cache settings (lookup and bypass).
  const config::CacheAction& policy() const { return match->rule->cfg.cache; }
};

Plan plan(const PlanInput& in);

// Whether a write's body lets an `unless_body_only` tag go unpurged: a complete JSON object (the request's
// Content-Type application/json or a +json type) whose every member is one of `fields`, so the write can only
// have changed those fields. Anything else (no body captured, a body over the capture limit, another media
// type, invalid JSON, not an object, any other member) purges.
bool skips_purge(std::optional<std::string_view> body, std::string_view content_type,
                 const std::vector<std::string>& fields);

// The tags of `answered` for the backend's answer to a write: each rendered from the answer's members when
// `body` is a complete JSON object (Content-Type application/json or a +json type, no Content-Encoding) that
// has every field the tag names as a string (1 to 256 bytes, none of them a control character) or an integer;
// its fallback otherwise. `fallbacks` counts the tags that fell back.
std::vector<std::string> answer_tags(const std::vector<Plan::AnswerTag>& answered,
                                     std::optional<std::string_view> body, std::string_view content_type,
                                     bool encoded, std::size_t& fallbacks);

// The tag that every entry of a path carries and every successful write to it purges (RFC 9111 section 4.4).
std::string uri_tag(const rules::Match& m);

// The uri: tag of a normalised path (and its query) when a cache rule stores GETs of it; empty otherwise.
// The request's `header` answers the rules' header conditions.
std::optional<std::string> cached_uri_tag(const rules::Rulebook& book, std::string_view path,
                                          const util::Query& query, std::string_view host,
                                          const identity::HeaderLookup& header);

// The request's fields as the backend gets them: without the hop-by-hop ones (RFC 9110 section 7.6.1), which
// the proxy removes, and without those its Connection header names (but Host and Content-Length, which the
// proxy keeps). Views `header`: use it while that lives.
identity::HeaderLookup as_forwarded(const identity::HeaderLookup& header);

// Whether the request carries a header that can make the backend answer for another URL, host or method than
// the key names (X-Original-URL, X-HTTP-Method-Override, Forwarded, ...), or a Connection field naming an
// end-to-end field (the hop removes it, so the backend would not see what the key or Vary recorded).
bool rewrites_outside_the_key(const identity::HeaderLookup& header);

// What the response to a request of this plan says of the cache, as far as it is known before the lookup:
// `X-Cache` (BYPASS, MISS for no-cache, else "HIT or MISS" for a lookup) and `Cache-Status` where it does not
// depend on the lookup (a bypass, a no-cache read). explain prints it.
struct Predicted {
  std::string x_cache;
  std::string cache_status;  // empty: none, or it depends on the lookup
};
Predicted predict(const Plan& p);

}  // namespace orc::cache
