// The cache's decision about a request (plan.hpp): pure, shared by the daemon and `explain`.
#include "cache/plan.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include "cache/pending_purges.hpp"
#include "util/strings.hpp"

namespace orc::cache {

std::string_view to_string(Action a) {
  switch (a) {
    case Action::pass:
      return "pass";
    case Action::stream:
      return "stream";
    case Action::invalidate:
      return "invalidate";
    case Action::bypass:
      return "bypass";
    case Action::lookup:
      return "lookup";
  }
  return "pass";
}

std::string_view to_string(Bypass b) {
  switch (b) {
    case Bypass::none:
      return "none";
    case Bypass::request_body:
      return "request-body";
    case Bypass::rewrite_header:
      return "rewrite-header";
    case Bypass::no_store:
      return "no-store";
    case Bypass::precondition:
      return "precondition";
    case Bypass::no_credential:
      return "no_credential";
    case Bypass::jwt_malformed:
      return "jwt_malformed";
    case Bypass::jwt_wrong_algorithm:
      return "jwt_wrong_algorithm";
    case Bypass::jwt_bad_signature:
      return "jwt_bad_signature";
    case Bypass::jwt_expired:
      return "jwt_expired";
    case Bypass::jwt_not_yet_valid:
      return "jwt_not_yet_valid";
    case Bypass::jwt_wrong_issuer:
      return "jwt_wrong_issuer";
    case Bypass::jwt_wrong_audience:
      return "jwt_wrong_audience";
    case Bypass::jwt_not_access_token:
      return "jwt_not_access_token";
    case Bypass::jwt_unverified:
      return "jwt_unverified";
    case Bypass::malformed_credential:
      return "malformed_credential";
    case Bypass::missing_claim:
      return "missing_claim";
    case Bypass::no_permission:
      return "no_permission";
    case Bypass::other_query:
      return "other-query";
    case Bypass::invalid_query:
      return "invalid-query";
    case Bypass::tag_needs_identity:
      return "tag-needs-identity";
    case Bypass::purge_pending:
      return "purge-pending";
    case Bypass::storage_unavailable:
      return "storage-unavailable";
  }
  return "none";
}

namespace {

// identity::resolve_scope names its reasons (a closed set of its own); they are Bypass values by name.
Bypass from_identity(std::string_view reason) {
  for (std::size_t i = 1; i < kBypassReasons; ++i)
    if (to_string(static_cast<Bypass>(i)) == reason) return static_cast<Bypass>(i);
  return Bypass::no_credential;  // unreachable for resolve_scope's reasons; the safe answer regardless
}

// Renders `rule`'s templates for this request. `missing` receives the ones that need a claim it lacks. For a
// write (`write` set), the tags with a condition go to its `conditional`, those rendered from the answer to
// its `answered`.
std::vector<std::string> render_tags(const rules::CompiledRule& rule, const rules::Match& m,
                                     const util::Query& query, const identity::ScopeIdentity& id,
                                     std::vector<std::string>& missing, Plan* write = nullptr) {
  std::string_view tenant, user;
  if (id.claims) {
    tenant = id.claims->tenant;
    user = id.claims->user;
  }
  rules::TagContext ctx{&m.params, &query, tenant, user};
  std::vector<std::string> out;
  out.reserve(rule.tags.size() + 1);
  // An invalidate rule's templates are its `invalidate` items, in order (rules/rulebook.cpp).
  const auto& items = rule.cfg.invalidate;
  for (std::size_t i = 0; i < rule.tags.size(); ++i) {
    const auto& t = rule.tags[i];
    const auto* fallback =
        write && i < rule.fallbacks.size() && rule.fallbacks[i] ? &*rule.fallbacks[i] : nullptr;
    if (fallback) {
      auto partial = rules::render_partial(t, ctx);
      auto instead = rules::render(*fallback, ctx);
      if (partial && instead)
        write->answered.push_back({std::move(*partial), std::move(*instead)});
      else
        missing.push_back(t.source);
      continue;
    }
    auto v = rules::render(t, ctx);
    if (!v)
      missing.push_back(t.source);
    else if (write && i < items.size() && !items[i].unless_body_only.empty())
      write->conditional.push_back({std::move(*v), &items[i].unless_body_only});
    else
      out.push_back(std::move(*v));
  }
  out.push_back(uri_tag(m));
  return out;
}

// Why a bypass, in a sentence (explain's "why").
std::string_view describe(Bypass b) {
  switch (b) {
    case Bypass::request_body:
      return "a GET or HEAD with a body: the backend may answer by it, the key does not name it";
    case Bypass::rewrite_header:
      return "a header that can make the backend answer another URL, host or method than the key names";
    case Bypass::no_store:
      return "the request's Cache-Control says no-store";
    case Bypass::precondition:
      return "the request has If-Match or If-Unmodified-Since: the backend's answer (a 412 or not) "
             "depends on it, and the key does not name it";
    case Bypass::no_credential:
      return "the scope keys on a credential and there is none (or no cache.key_secret)";
    case Bypass::jwt_unverified:
      return "the scope keys on JWT claims and no identity.jwt verification is configured";
    case Bypass::malformed_credential:
      return "the credential header is there but not '<scheme> <token>' as the backend reads it (it answers "
             "401), and no other source is consulted";
    case Bypass::missing_claim:
      return "the token lacks the claim the scope keys on";
    case Bypass::other_query:
      return "the query has a parameter the rule does not name, and key.other_query is bypass";
    case Bypass::invalid_query:
      return "the query is not an RFC 3986 query (a stray '%', a space, '\"', '[' or a byte >= 0x80): its "
             "parameters cannot be read as the backend reads them";
    case Bypass::tag_needs_identity:
      return "a tag template needs {tenant} or {user} and the request has no verified claim";
    case Bypass::purge_pending:
      return "a purge of one of the tags failed and is owed: nothing under them is served or stored";
    case Bypass::storage_unavailable:
      return "the storage did not answer";
    case Bypass::none:
      break;
    default:
      return "the scope keys on JWT claims and the token does not verify";
  }
  return "";
}

Plan bypass(Plan p, Bypass why) {
  p.action = Action::bypass;
  p.bypass = why;
  p.why = describe(why);
  return p;
}

// RFC 9111 section 4.4: a non-error answer to an unsafe method (any but GET, HEAD, OPTIONS and TRACE)
// invalidates what is stored for its URI. An invalidate rule purges the URI with its tags; a write that
// matches no rule, a pass rule or a cache rule purges the URI when a cache rule stores GETs of it. (A stream
// rule's write is left alone: it is forwarded unbuffered, and its purge would hold its answer.)
bool purges_uri(Plan& p, const PlanInput& in, const util::Query& query,
                const identity::HeaderLookup& forwarded) {
  const auto& req = in.request;
  if (!in.rulebook || !in.caching || req.is_get() || req.is_head() || req.method == "OPTIONS" ||
      req.method == "TRACE")
    return false;
  auto tag = cached_uri_tag(*in.rulebook, req.path, query, req.host, forwarded);
  if (!tag) return false;
  p.action = Action::invalidate;
  p.tags = {std::move(*tag)};
  p.why =
      "an unsafe method on a path whose GETs are cached: forwarded; when the backend answers 2xx or 3xx, "
      "the path's entries are purged before the response is sent";
  return true;
}

}  // namespace

namespace {

// A body that is a JSON object: application/json or application/<anything>+json, parameters aside (RFC 6839
// section 3.1), that parses to an object. Empty for anything else.
std::optional<boost::json::object> json_object(std::optional<std::string_view> body,
                                               std::string_view content_type) {
  if (!body) return std::nullopt;
  auto media = util::trim(content_type.substr(0, content_type.find(';')));
  const auto slash = media.find('/');
  if (slash == std::string_view::npos || !util::iequals(media.substr(0, slash), "application"))
    return std::nullopt;
  const auto subtype = media.substr(slash + 1);
  if (!util::iequals(subtype, "json") &&
      !(subtype.size() > 5 && util::iequals(subtype.substr(subtype.size() - 5), "+json")))
    return std::nullopt;
  boost::system::error_code ec;
  auto value = boost::json::parse(*body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.get_object());
}

// The member at `path` ("a.b": member b of member a) as tag text: a string of 1 to 256 bytes without a
// control character, or an integer. Names compare byte for byte.
std::optional<std::string> answer_field(const boost::json::object& answer, std::string_view path) {
  const boost::json::object* at = &answer;
  const boost::json::value* v = nullptr;
  for (;;) {
    const auto dot = path.find('.');
    if (!at) return std::nullopt;
    v = at->if_contains(path.substr(0, dot));
    if (!v) return std::nullopt;
    if (dot == std::string_view::npos) break;
    at = v->if_object();
    path.remove_prefix(dot + 1);
  }
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  if (!v->is_string()) return std::nullopt;
  std::string_view text = v->get_string();
  if (text.empty() || text.size() > 256 || std::any_of(text.begin(), text.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      }))
    return std::nullopt;
  return std::string(text);
}

}  // namespace

bool skips_purge(std::optional<std::string_view> body, std::string_view content_type,
                 const std::vector<std::string>& fields) {
  const auto object = json_object(body, content_type);
  if (!object) return false;
  // Member names compare byte for byte: a backend that matches them case-insensitively (Go's encoding/json)
  // reads "Status" as status, which is then not a listed name, so it purges.
  return std::all_of(object->begin(), object->end(), [&](const auto& member) {
    return std::find(fields.begin(), fields.end(), std::string_view(member.key())) != fields.end();
  });
}

std::vector<std::string> answer_tags(const std::vector<Plan::AnswerTag>& answered,
                                     std::optional<std::string_view> body, std::string_view content_type,
                                     bool encoded, std::size_t& fallbacks) {
  std::vector<std::string> out;
  if (answered.empty()) return out;
  const auto object = encoded ? std::nullopt : json_object(body, content_type);
  for (const auto& a : answered) {
    std::optional<std::string> tag;
    if (object)
      tag = rules::complete(a.tag, [&](std::string_view field) { return answer_field(*object, field); });
    if (!tag) ++fallbacks;
    out.push_back(tag ? std::move(*tag) : a.fallback);
  }
  return out;
}

std::string uri_tag(const rules::Match& m) {
  return "uri:" + rules::join_path(m.segments);
}

std::optional<std::string> cached_uri_tag(const rules::Rulebook& book, std::string_view path,
                                          const util::Query& query, std::string_view host,
                                          const identity::HeaderLookup& header) {
  auto get = book.match(
      {"GET", path, &query, host, [&header](std::string_view n) { return header(n).has_value(); }});
  if (!get || get->rule->cfg.action != config::ActionKind::cache) return std::nullopt;
  return uri_tag(*get);
}

bool rewrites_outside_the_key(const identity::HeaderLookup& header) {
  static constexpr std::string_view kRewriting[] = {"X-Original-URL",
                                                    "X-Rewrite-URL",
                                                    "X-HTTP-Method-Override",
                                                    "X-HTTP-Method",
                                                    "X-Method-Override",
                                                    "Forwarded",
                                                    "X-Forwarded-Port",
                                                    "X-Forwarded-Prefix",
                                                    "X-Forwarded-Server",
                                                    "X-Forwarded-Scheme",
                                                    "X-Host",
                                                    "X-Original-Host"};
  for (auto name : kRewriting)
    if (header(name)) return true;
  // X-Forwarded-Host and X-Forwarded-Proto need no check: the proxy sets them itself.
  if (auto connection = header("Connection"))
    for (auto token : util::split_list(*connection, ','))
      if (!util::iequals(token, "close") && !util::iequals(token, "keep-alive") &&
          !util::iequals(token, "te") && !util::iequals(token, "upgrade"))
        return true;
  return false;
}

identity::HeaderLookup as_forwarded(const identity::HeaderLookup& header) {
  static constexpr std::string_view kHopByHop[] = {
      "Connection", "Keep-Alive", "Proxy-Connection",   "TE",
      "Trailer",    "Upgrade",    "Proxy-Authenticate", "Proxy-Authorization"};
  return [&header](std::string_view name) -> std::optional<std::string_view> {
    for (auto hop : kHopByHop)
      if (util::iequals(name, hop)) return std::nullopt;
    if (auto connection = header("Connection"))
      for (auto token : util::split_list(*connection, ','))
        if (util::iequals(token, name) && !util::iequals(name, "Host") &&
            !util::iequals(name, "Content-Length"))
          return std::nullopt;
    return header(name);
  };
}

Plan plan(const PlanInput& in) {
  Plan p;
  const auto& req = in.request;
  // The query, split once: the rules' conditions, the credential, the key and the tags read this split.
  const util::Query query(req.query);
  // A rule's `headers` condition holds on what the backend gets: without what Connection names (a read
  // with such a field bypasses; a write is judged as the backend judges it).
  const auto forwarded = as_forwarded(req.header);
  if (in.rulebook)
    p.match =
        in.rulebook->match({req.method, req.path, &query, req.host,
                            [&forwarded](std::string_view name) { return forwarded(name).has_value(); }});
  if (!p.match) {
    if (purges_uri(p, in, query, forwarded)) return p;
    p.why = "no rule matches: the request is forwarded and never cached";
    return p;
  }
  const auto& rule = *p.match->rule;
  const auto& cfg = in.config;
  switch (rule.cfg.action) {
    case config::ActionKind::pass:
      if (purges_uri(p, in, query, forwarded)) return p;
      p.why = "forwarded untouched and never cached";
      return p;
    case config::ActionKind::stream:
      p.action = Action::stream;
      p.why = "forwarded without buffering and never cached";
      return p;
    case config::ActionKind::invalidate: {
      p.action = Action::invalidate;
      p.why =
          "forwarded; when the backend answers 2xx or 3xx the tags are purged before the response is sent";
      // Claims only help render tags here: a write is never refused for its identity. They are those of the
      // credential the backend gets: `Connection: Authorization` makes the proxy drop the header, and the
      // backend then reads the cookie, maybe another tenant's.
      p.identity = identity::resolve_scope(config::Scope::public_, cfg.identity, in.verifier,
                                           cfg.cache.key_secret, forwarded, query, in.now_s);
      p.tags = render_tags(rule, *p.match, query, p.identity, p.unrendered, &p);
      return p;
    }
    case config::ActionKind::cache:
      break;
  }
  if (!req.is_get() && !req.is_head()) {
    if (purges_uri(p, in, query, forwarded)) return p;
    p.why = "only GET and HEAD are served from the cache";
    return p;
  }
  if (!in.caching) {
    p.why = "caching is off (no storage configured): forwarded untouched";
    return p;
  }
  const auto& c = rule.cfg.cache;
  // Read before any bypass: a request that bypasses still says only-if-cached (the flow answers it 504).
  p.directives =
      request_directives(req.header("Cache-Control").value_or(""), req.header("Pragma").value_or(""));
  if (req.has_body) return bypass(std::move(p), Bypass::request_body);
  if (rewrites_outside_the_key(req.header)) return bypass(std::move(p), Bypass::rewrite_header);
  if (p.directives.no_store) return bypass(std::move(p), Bypass::no_store);
  if (req.header("If-Match") || req.header("If-Unmodified-Since"))
    return bypass(std::move(p), Bypass::precondition);
  if (!query.valid()) return bypass(std::move(p), Bypass::invalid_query);
  p.identity = identity::resolve_scope(c.scope, cfg.identity, in.verifier, cfg.cache.key_secret, req.header,
                                       query, in.now_s, c.permission);
  if (p.identity.bypass) {
    // Read before p is moved: the order in which a call's arguments are evaluated is unspecified.
    const auto why = from_identity(p.identity.bypass_reason);
    return bypass(std::move(p), why);
  }
  auto kq = key_query(c, query);
  if (!kq) return bypass(std::move(p), Bypass::other_query);
  std::vector<std::string> missing;
  p.tags = render_tags(rule, *p.match, query, p.identity, missing);
  if (!missing.empty()) return bypass(std::move(p), Bypass::tag_needs_identity);
  p.key = build_cache_key(rule, *p.match, *kq, req.header, p.identity.key_part, cfg.redis.key_prefix);
  p.key.secret = cfg.cache.key_secret;
  // A write's purge of one of these tags failed: nothing cached under them may be served or stored until a
  // replay of that purge succeeds.
  if (in.owed && !in.owed->empty() && in.owed->any(p.tags))
    return bypass(std::move(p), Bypass::purge_pending);
  p.action = Action::lookup;
  p.revalidate = p.directives.no_cache;
  p.fill = req.is_get();
  p.why = p.revalidate ? "no-cache: fetched from the backend and stored, never served from the cache"
                       : "served from the cache when a fresh entry exists, else fetched and stored";
  return p;
}

Predicted predict(const Plan& p) {
  switch (p.action) {
    case Action::lookup:
      // no-cache never reads the cache (it may still wait for a concurrent fetch: "...; collapsed").
      if (p.revalidate) return {"MISS", "openrisk-cache; fwd=miss"};
      return {"HIT or MISS", ""};
    case Action::bypass:
      // only-if-cached is answered by the cache itself (504, neither field) rather than forwarded.
      if (p.directives.only_if_cached) return {"", ""};
      return {"BYPASS", "openrisk-cache; fwd=bypass; detail=" + std::string(to_string(p.bypass))};
    default:
      return {"BYPASS", ""};
  }
}

}  // namespace orc::cache
