// Fuzzes the path matcher, the query split and the key builder (rules/path_pattern, util/query,
// rules/rulebook, identity/caller, cache/cache_key) the way a request reaches them. Input fields, one per
// line: method, request target, Authorization value, Accept-Language value, and a path pattern for the
// pattern parser. Invariants: path normalisation is idempotent (what is keyed is what would be forwarded
// again); keys are deterministic and carry the prefix; two different credentials never share a key of the
// credential scope, and a credential enters the key material only as its HMAC; a valid query is its params
// joined again, an invalid one has none.
#include <optional>
#include <string>

#include "cache/cache_key.hpp"
#include "config/config_loader.hpp"
#include "fuzz_check.hpp"
#include "identity/caller.hpp"
#include "rules/path_pattern.hpp"
#include "rules/rulebook.hpp"
#include "util/strings.hpp"

namespace {

using orc::util::iequals;

const char kRules[] = R"(cache: { key_secret: fuzz-key }
rules:
  - name: items
    match: { method: GET, path: "/api/v1/items/:id" }
    cache: { ttl: 1m, scope: credential, key: { query: [page, sort], headers: [Accept-Language] }, tags: ["item:{id}"] }
  - name: item-files
    match: { method: GET, path: "/api/v1/items/:id/files/**" }
    cache: { ttl: 1m, scope: credential, key: { query: [q], other_query: bypass } }
  - name: me
    match: { method: GET, path: /api/v1/users/me }
    cache: { ttl: 1m, scope: credential }
  - name: health
    match: { method: [GET, HEAD], path: /api/v1/health }
    cache: { ttl: 10s, scope: public }
  - name: static
    match: { method: GET, path: "/static/**" }
    cache: { ttl: 1h, scope: public }
  - name: item-write
    match: { method: [PATCH, DELETE], path: "/api/v1/items/:id" }
    invalidate: ["item:{id}"]
)";
constexpr std::string_view kPrefix = "orc:";

struct Loaded {
  orc::config::Config cfg;
  std::shared_ptr<const orc::rules::Rulebook> rulebook;
};

const Loaded& loaded() {
  static const Loaded l = [] {
    auto r = orc::config::load_config_string(kRules, "fuzz-rules.yaml");
    if (!r.config) orc::fuzz::fail("the fuzz rulebook does not load");
    auto c = orc::rules::Rulebook::compile(*r.config);
    if (!c.rulebook) orc::fuzz::fail("the fuzz rulebook does not compile");
    return Loaded{*r.config, c.rulebook};
  }();
  return l;
}

std::optional<orc::cache::CacheKey> key_for(const orc::rules::Match& match, const orc::util::Query& query,
                                            std::string_view authorization, std::string_view language) {
  orc::identity::HeaderLookup headers = [&](std::string_view name) -> std::optional<std::string_view> {
    if (iequals(name, "Authorization") && !authorization.empty()) return authorization;
    if (iequals(name, "Accept-Language") && !language.empty()) return language;
    return std::nullopt;
  };
  const auto& l = loaded();
  const auto& action = match.rule->cfg.cache;
  auto id = orc::identity::resolve_scope(action.scope, l.cfg.identity, nullptr, l.cfg.cache.key_secret,
                                         headers, query);
  if (id.bypass) return std::nullopt;
  auto kq = orc::cache::key_query(action, query);
  if (!kq) return std::nullopt;
  return orc::cache::build_cache_key(*match.rule, match, *kq, headers, id.key_part, kPrefix);
}

// The "scope=..." line of a key material.
std::string scope_line(const std::string& material) {
  auto at = material.starts_with("scope=") ? 0 : material.find("\nscope=");
  if (at == std::string::npos) return {};
  if (at != 0) ++at;
  return material.substr(at, material.find('\n', at) - at);
}

std::string without(const std::string& material, const std::string& line) {
  std::string out = material;
  out.erase(out.find(line), line.size());
  return out;
}

bool is_hex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto f = orc::fuzz::fields(orc::fuzz::as_text(data, size), 5);
  f.resize(5);
  std::string_view method = f[0], target = f[1], authorization = f[2], language = f[3], pattern = f[4];

  std::string error;
  if (auto p = orc::rules::parse_path_pattern(pattern, error)) {
    ORC_FUZZ_CHECK(p->shape().starts_with("/"));
    for (std::size_t i = 0; i + 1 < p->segments.size(); ++i)  // `**` only last
      ORC_FUZZ_CHECK(p->segments[i].kind != orc::rules::Segment::Kind::rest);
    for (const auto& seg : p->segments)
      ORC_FUZZ_CHECK(seg.kind != orc::rules::Segment::Kind::param || !seg.text.empty());
  } else {
    ORC_FUZZ_CHECK(!error.empty());
  }

  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  auto segments = orc::rules::split_request_path(path);
  if (!segments) return 0;
  auto normalised = orc::rules::join_path(*segments);
  auto again = orc::rules::split_request_path(normalised);
  ORC_FUZZ_CHECK(again.has_value());
  ORC_FUZZ_CHECK(*again == *segments);

  // The query split (Boost.URL): a valid one is its params joined again, byte for byte.
  const orc::util::Query split(query);
  if (split.valid()) {
    std::string joined;
    for (std::size_t i = 0; i < split.params().size(); ++i) {
      const auto& p = split.params()[i];
      if (i > 0) joined += '&';
      joined.append(p.raw_name);
      if (p.has_value) joined.append("=").append(p.raw_value);
    }
    ORC_FUZZ_CHECK(joined == query);
  } else {
    ORC_FUZZ_CHECK(split.params().empty());
  }

  orc::rules::RequestView req{method, path, &split, "fuzz.test", [&](std::string_view name) {
                                return (iequals(name, "Authorization") && !authorization.empty()) ||
                                       (iequals(name, "Accept-Language") && !language.empty());
                              }};
  auto match = loaded().rulebook->match(req);
  if (!match || match->rule->cfg.action != orc::config::ActionKind::cache) return 0;

  auto key = key_for(*match, split, authorization, language);
  if (!key) return 0;
  auto same = key_for(*match, split, authorization, language);
  ORC_FUZZ_CHECK(same && same->key == key->key && same->material == key->material);
  ORC_FUZZ_CHECK(key->key.starts_with(kPrefix));

  if (match->rule->cfg.cache.scope == orc::config::Scope::credential) {
    // Another caller's credential: one more token byte, before any trailing white space (the header's OWS,
    // which the credential's reader trims: after it, the byte would make the token contain white space).
    std::string_view mine_credential = authorization;
    while (!mine_credential.empty() && (mine_credential.back() == ' ' || mine_credential.back() == '\t'))
      mine_credential.remove_suffix(1);
    std::string other = std::string(mine_credential) + "x";
    auto theirs = key_for(*match, split, other, language);
    ORC_FUZZ_CHECK(theirs.has_value());
    ORC_FUZZ_CHECK(theirs->key != key->key);
    // The credential enters the material only as its HMAC on the scope line: the materials of two callers
    // differ there and nowhere else.
    auto mine = scope_line(key->material), their = scope_line(theirs->material);
    ORC_FUZZ_CHECK(mine.starts_with("scope=cred:") && their.starts_with("scope=cred:"));
    ORC_FUZZ_CHECK(is_hex(mine.substr(11)) && is_hex(their.substr(11)));
    ORC_FUZZ_CHECK(without(key->material, mine) == without(theirs->material, their));
  }
  return 0;
}
