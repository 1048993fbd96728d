// The compiled rulebook: semantic checks, warnings, and the per-method trie.
#include "rules/rulebook.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "util/strings.hpp"
#include "util/units.hpp"

namespace orc::rules {

namespace {

constexpr std::string_view kMethodSlots[] = {"GET",   "HEAD",   "POST",    "PUT",
                                             "PATCH", "DELETE", "OPTIONS", "TRACE"};
constexpr std::size_t kSlots = std::size(kMethodSlots) + 1;  // + every other method
constexpr std::uint32_t kAllMethods = (1u << kSlots) - 1;

std::size_t method_slot(std::string_view method) {
  for (std::size_t i = 0; i < std::size(kMethodSlots); ++i)
    if (kMethodSlots[i] == method) return i;
  return kSlots - 1;
}

config::Diagnostic at(const config::SourcePos& pos, std::string message, bool warning = false) {
  return {pos.file, pos.line, pos.column, std::move(message), warning};
}

bool valid_rule_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.'))
      return false;
  return true;
}

// A rule's `permission`: one name as tokens list it (visible ASCII, no '*': a wildcard is what a token
// holds, never what a route needs), at most 256 bytes.
bool is_permission_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (char c : name)
    if (c <= ' ' || c > '~' || c == '*') return false;
  return true;
}

std::string leading_literals(const PathPattern& p, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < p.segments.size() && i < n; ++i) {
    if (p.segments[i].kind != Segment::Kind::literal) break;
    out += "/" + p.segments[i].text;
  }
  return out;
}

bool has_literal_segment(const PathPattern& p, std::string_view text) {
  for (const auto& s : p.segments)
    if (s.kind == Segment::Kind::literal && s.text == text) return true;
  return false;
}

// Whether a write rule's purge may reach a stored tag: one of its tags, or of their fallbacks, renders to it.
bool may_purge(const CompiledRule& write, const TagTemplate& stored) {
  const auto glob = stored.glob();
  for (std::size_t i = 0; i < write.tags.size(); ++i) {
    if (globs_intersect(write.tags[i].glob(), glob)) return true;
    if (i < write.fallbacks.size() && write.fallbacks[i] && globs_intersect(write.fallbacks[i]->glob(), glob))
      return true;
  }
  return false;
}

}  // namespace

std::uint32_t method_bit(std::string_view method) {
  return 1u << method_slot(method);
}

struct Rulebook::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>> literal;
  std::unique_ptr<Node> param;
  std::vector<std::size_t> end_rules;   // patterns ending here, file order
  std::vector<std::size_t> rest_rules;  // patterns with ** here, file order
};

Rulebook::Rulebook() = default;
Rulebook::~Rulebook() = default;
Rulebook::Rulebook(Rulebook&&) noexcept = default;

CompileResult Rulebook::compile(const config::Config& cfg) {
  CompileResult result;
  auto& errors = result.errors;
  auto& warnings = result.warnings;
  Rulebook book;
  book.case_insensitive_ = cfg.routing.case_insensitive;
  const bool jwt = cfg.identity.jwt.enabled;

  std::map<std::string, const config::RuleConfig*> names;
  for (std::size_t i = 0; i < cfg.rules.size(); ++i) {
    const auto& rc = cfg.rules[i];
    CompiledRule rule;
    rule.cfg = rc;
    rule.index = i;
    bool ok = true;

    if (!valid_rule_name(rc.name)) {
      errors.push_back(at(rc.pos, "rule name '" + rc.name + "': expected letters, digits, '-', '_' or '.'"));
      ok = false;
    } else if (auto [it, inserted] = names.emplace(rc.name, &rc); !inserted) {
      errors.push_back(at(rc.pos, "duplicate rule name '" + rc.name + "' (first defined at " +
                                      it->second->pos.file + ":" + std::to_string(it->second->pos.line) +
                                      ")"));
      ok = false;
    }

    std::string perr;
    auto pattern = parse_path_pattern(rc.path, perr);
    if (!pattern) {
      errors.push_back(at(rc.path_pos, "rule '" + rc.name + "': match.path: expected " + perr));
      ok = false;
    } else {
      rule.pattern = std::move(*pattern);
    }

    rule.method_mask = 0;
    for (const auto& m : rc.methods) rule.method_mask |= method_bit(m);
    if (rule.method_mask & method_bit("GET"))
      rule.method_mask |= method_bit("HEAD");  // HEAD is served like GET
    if (rc.methods.empty()) rule.method_mask = kAllMethods;

    // A template's checks: its parameters are the path's, and {tenant}/{user} are there to render it.
    auto compile_template = [&](const std::string& text,
                                const config::SourcePos& pos) -> std::optional<TagTemplate> {
      std::string terr;
      auto tag = parse_tag_template(text, terr);
      if (!tag) {
        errors.push_back(at(pos, "rule '" + rc.name + "': tag: expected " + terr));
        ok = false;
        return std::nullopt;
      }
      for (const auto& part : tag->parts) {
        if (part.kind == TemplatePart::Kind::param && pattern && !rule.pattern.has_param(part.text)) {
          std::vector<std::string> known;
          for (const auto& s : rule.pattern.segments)
            if (s.kind == Segment::Kind::param) known.push_back(s.text);
          std::string msg = "rule '" + rc.name + "': tag '" + text + "' uses {" + part.text +
                            "}, which is not a parameter of the path '" + rc.path + "'";
          auto suggestion = util::closest_match(part.text, known);
          if (!suggestion.empty()) msg += "; did you mean {" + suggestion + "}?";
          errors.push_back(at(pos, msg));
          ok = false;
        }
      }
      bool needs_tenant = tag->uses(TemplatePart::Kind::tenant);
      bool needs_user = tag->uses(TemplatePart::Kind::user);
      if (rc.action == config::ActionKind::cache && (needs_tenant || needs_user)) {
        auto scope = rc.cache.scope;
        bool provided = (scope == config::Scope::user) ||
                        ((scope == config::Scope::tenant || scope == config::Scope::role) && !needs_user);
        if (!provided) {
          errors.push_back(at(pos, "rule '" + rc.name + "': tag '" + text + "' uses {" +
                                       (needs_user ? "user" : "tenant") + "}, which scope '" +
                                       std::string(config::to_string(scope)) + "' does not provide"));
          ok = false;
        }
      }
      if (rc.action == config::ActionKind::invalidate && (needs_tenant || needs_user) && !jwt) {
        errors.push_back(
            at(pos, "rule '" + rc.name + "': tag '" + text +
                        "' needs the writer's verified JWT, but 'identity.jwt' is not configured"));
        ok = false;
      }
      return tag;
    };
    const auto& templates = rc.action == config::ActionKind::cache ? rc.cache.tags : rc.invalidate;
    for (const auto& t : templates) {
      auto tag = compile_template(t.value, t.pos);
      if (!tag) continue;
      // {answer.field}: a member of the backend's answer to a write, so only an invalidate tag has one, and
      // it needs a fallback for the answers that lack it (a 204, another shape, a body too long to read).
      std::optional<TagTemplate> fallback;
      const bool answered = tag->uses(TemplatePart::Kind::answer);
      auto answer_placeholder = [](const TagTemplate& tt) {
        for (const auto& part : tt.parts)
          if (part.kind == TemplatePart::Kind::answer) return "{answer." + part.text + "}";
        return std::string();
      };
      if (answered && rc.action == config::ActionKind::cache) {
        errors.push_back(at(t.pos, "rule '" + rc.name + "': tag '" + t.value + "' uses " +
                                       answer_placeholder(*tag) +
                                       ", a field of the backend's answer to a write: only an invalidate "
                                       "rule's tag can"));
        ok = false;
      } else if (answered && t.fallback.empty()) {
        errors.push_back(
            at(t.pos, "rule '" + rc.name + "': tag '" + t.value +
                          "' is rendered from the answer: write it as { tag: \"" + t.value +
                          "\", fallback: F }, F being the tag to purge when the answer lacks the "
                          "field"));
        ok = false;
      } else if (!answered && !t.fallback.empty()) {
        errors.push_back(at(t.pos, "rule '" + rc.name + "': tag '" + t.value +
                                       "' has a fallback but no {answer.field} (a fallback is what is purged "
                                       "when the answer lacks the field)"));
        ok = false;
      } else if (answered) {
        fallback = compile_template(t.fallback, t.pos);
        if (fallback && fallback->uses(TemplatePart::Kind::answer)) {
          errors.push_back(at(t.pos, "rule '" + rc.name + "': fallback '" + t.fallback + "' uses " +
                                         answer_placeholder(*fallback) +
                                         ": it is purged when the answer cannot be read"));
          ok = false;
        }
      }
      rule.tags.push_back(std::move(*tag));
      if (rc.action == config::ActionKind::invalidate) rule.fallbacks.push_back(std::move(fallback));
    }

    if (rc.action == config::ActionKind::cache) {
      auto scope = rc.cache.scope;
      if ((scope == config::Scope::user || scope == config::Scope::tenant || scope == config::Scope::role) &&
          !jwt) {
        errors.push_back(at(rc.cache.scope_pos.line ? rc.cache.scope_pos : rc.pos,
                            "rule '" + rc.name + "': scope '" + std::string(config::to_string(scope)) +
                                "' needs JWT verification: configure 'identity.jwt'"));
        ok = false;
      } else if (scope == config::Scope::role && cfg.identity.jwt.authz_claims.empty()) {
        errors.push_back(at(rc.cache.scope_pos.line ? rc.cache.scope_pos : rc.pos,
                            "rule '" + rc.name +
                                "': scope 'role' shares by the permission claims: list them in "
                                "'identity.jwt.authz_claims' (e.g. [permissions, org_roles])"));
        ok = false;
      }
      if (const auto& perm = rc.cache.permission; !perm.empty() || rc.cache.permission_pos.line != 0) {
        const auto where = rc.cache.permission_pos.line ? rc.cache.permission_pos : rc.pos;
        if (!is_permission_name(perm)) {
          errors.push_back(at(where, "rule '" + rc.name + "': permission '" + perm +
                                         "': expected one permission name such as risks:read (no blanks, "
                                         "no '*')"));
          ok = false;
        } else if (scope != config::Scope::tenant) {
          errors.push_back(at(where, "rule '" + rc.name +
                                         "': 'permission' shares an entry among the tenant's members that "
                                         "hold it: it needs scope 'tenant', not '" +
                                         std::string(config::to_string(scope)) + "'"));
          ok = false;
        } else if (cfg.identity.jwt.permissions_claim.empty()) {
          errors.push_back(at(where, "rule '" + rc.name +
                                         "': 'permission' reads the token's permissions: set "
                                         "'identity.jwt.permissions_claim' (e.g. permissions)"));
          ok = false;
        }
      }
      // Key material is stored with each entry: a credential never enters it raw.
      for (const auto& h : rc.cache.key_headers) {
        const bool source =
            std::any_of(cfg.identity.credential.begin(), cfg.identity.credential.end(),
                        [&](const config::CredentialSource& c) {
                          return c.kind == config::CredentialSource::Kind::header && util::iequals(c.name, h);
                        });
        if (source || util::iequals(h, "Authorization") || util::iequals(h, "Proxy-Authorization") ||
            util::iequals(h, "Cookie")) {
          errors.push_back(at(rc.pos, "rule '" + rc.name + "': key.headers names '" + h +
                                          "', which carries a credential: a key never holds one; use scope "
                                          "'credential' (it keys on the credential's HMAC) or a JWT scope"));
          ok = false;
        }
      }
      if (scope == config::Scope::credential && cfg.cache.key_secret.empty()) {
        errors.push_back(
            at(rc.cache.scope_pos.line ? rc.cache.scope_pos : rc.pos,
               "rule '" + rc.name +
                   "': scope 'credential' keys on an HMAC of the credential: set 'cache.key_secret' "
                   "(or cache.key_secret_file)"));
        ok = false;
      }
    }
    (void)ok;
    book.rules_.push_back(std::move(rule));
  }

  // Warnings: valid, but probably not what the author meant.
  std::vector<const CompiledRule*> cache_rules, write_rules;
  for (const auto& r : book.rules_) {
    if (r.cfg.action == config::ActionKind::cache) cache_rules.push_back(&r);
    if (r.cfg.action == config::ActionKind::invalidate) write_rules.push_back(&r);
  }
  // A fill slower than max_fill is not stored: when the backend may take that long to start answering, slow
  // responses are served and never cached, without a word.
  const auto first_byte = cfg.upstream.connect_timeout + cfg.upstream.first_byte_timeout;
  if (!cache_rules.empty() && cfg.cache.max_fill <= first_byte)
    warnings.push_back(at(
        cfg.cache.max_fill_pos.line != 0 ? cfg.cache.max_fill_pos : config::SourcePos{cfg.source_file, 0, 0},
        "cache.max_fill (" + util::format_duration(cfg.cache.max_fill) +
            ") is not above upstream.connect_timeout + upstream.first_byte_timeout (" +
            util::format_duration(first_byte) +
            "): a response that takes longer than max_fill is served but never stored",
        true));
  for (const auto* r : cache_rules) {
    const auto& c = r->cfg.cache;
    if (has_literal_segment(r->pattern, "auth"))
      warnings.push_back(at(r->cfg.path_pos,
                            "rule '" + r->cfg.name +
                                "' caches a route under /auth/: authentication responses carry "
                                "tokens and cookies",
                            true));
    for (unsigned s : c.statuses)
      if (s >= 500)
        warnings.push_back(at(c.statuses_pos.line ? c.statuses_pos : r->cfg.pos,
                              "rule '" + r->cfg.name + "' caches status " + std::to_string(s) +
                                  ": a backend failure would be served from the cache",
                              true));
    if (!c.ttl_origin && c.ttl.count() == 0)
      warnings.push_back(at(c.ttl_pos.line ? c.ttl_pos : r->cfg.pos,
                            "rule '" + r->cfg.name + "' has ttl 0: nothing is ever fresh", true));
    if (c.scope == config::Scope::public_) {
      auto prefix = leading_literals(r->pattern, 3);
      for (const auto* other : cache_rules) {
        if (other == r || other->cfg.cache.scope == config::Scope::public_) continue;
        if (!prefix.empty() && leading_literals(other->pattern, 3) == prefix) {
          warnings.push_back(at(c.scope_pos.line ? c.scope_pos : r->cfg.pos,
                                "rule '" + r->cfg.name + "' caches with scope public, but rule '" +
                                    other->cfg.name + "' treats " + prefix + " as authenticated (scope " +
                                    std::string(config::to_string(other->cfg.cache.scope)) + ")",
                                true));
          break;
        }
      }
    }
    for (std::size_t t = 0; t < r->tags.size(); ++t) {
      bool purged = std::any_of(write_rules.begin(), write_rules.end(),
                                [&](const CompiledRule* w) { return may_purge(*w, r->tags[t]); });
      if (!purged)
        warnings.push_back(at(c.tags[t].pos,
                              "rule '" + r->cfg.name + "': no invalidate rule ever purges tag '" +
                                  r->tags[t].source + "' (entries only expire)",
                              true));
    }
  }
  for (const auto* w : write_rules) {
    auto carried = [&](const TagTemplate& wt) {
      return std::any_of(cache_rules.begin(), cache_rules.end(), [&](const CompiledRule* r) {
        return std::any_of(r->tags.begin(), r->tags.end(),
                           [&](const TagTemplate& ct) { return globs_intersect(ct.glob(), wt.glob()); });
      });
    };
    for (std::size_t t = 0; t < w->tags.size(); ++t) {
      for (const auto* wt : {&w->tags[t], w->fallbacks[t] ? &*w->fallbacks[t] : nullptr})
        if (wt && !carried(*wt))
          warnings.push_back(at(w->cfg.invalidate[t].pos,
                                "rule '" + w->cfg.name + "': no cache rule carries tag '" + wt->source +
                                    "' (the purge can never remove anything)",
                                true));
    }
  }
  // Shadowed: an earlier rule of the same shape, without conditions, takes every method of a later one.
  for (std::size_t j = 0; j < book.rules_.size(); ++j) {
    const auto& later = book.rules_[j];
    for (std::size_t i = 0; i < j; ++i) {
      const auto& earlier = book.rules_[i];
      if (earlier.has_conditions() ||
          book.trie_key(earlier.pattern.shape()) != book.trie_key(later.pattern.shape()))
        continue;
      if ((later.method_mask & ~earlier.method_mask) != 0) continue;
      warnings.push_back(
          at(later.cfg.pos,
             "rule '" + later.cfg.name + "' can never match: rule '" + earlier.cfg.name +
                 "' has the same path pattern, every one of its methods and no other condition",
             true));
      break;
    }
  }

  if (!errors.empty()) return result;

  book.tries_.resize(kSlots);
  for (auto& t : book.tries_) t = std::make_unique<Node>();
  for (const auto& r : book.rules_) {
    for (std::size_t slot = 0; slot < kSlots; ++slot) {
      if (!(r.method_mask & (1u << slot))) continue;
      Node* n = book.tries_[slot].get();
      bool rest = false;
      for (const auto& s : r.pattern.segments) {
        if (s.kind == Segment::Kind::rest) {
          rest = true;
          break;
        }
        auto& next = s.kind == Segment::Kind::literal ? n->literal[book.trie_key(s.text)] : n->param;
        if (!next) next = std::make_unique<Node>();
        n = next.get();
      }
      (rest ? n->rest_rules : n->end_rules).push_back(r.index);
    }
  }
  result.rulebook = std::make_shared<const Rulebook>(std::move(book));
  return result;
}

std::optional<Match> Rulebook::match(const RequestView& req) const {
  auto segments = split_request_path(req.path);
  if (!segments) return std::nullopt;
  const Node* root = tries_[method_slot(req.method)].get();
  // The trie's spelling of each segment: the segments themselves unless case folding changes one.
  std::vector<std::string> folded;
  if (case_insensitive_ && std::any_of(segments->begin(), segments->end(), [](const std::string& s) {
        return std::any_of(s.begin(), s.end(), util::is_upper_ascii);
      })) {
    folded.reserve(segments->size());
    for (const auto& s : *segments) folded.push_back(util::to_lower(s));
  }
  const std::vector<std::string>& keys = folded.empty() ? *segments : folded;

  // Host without its port ("api.example.com:8443", "[::1]:80").
  std::string_view host = req.host;
  if (auto colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos)
    host = host.substr(0, colon);
  auto conditions_hold = [&](const CompiledRule& r) {
    if (!r.cfg.host.empty() && !util::iequals(r.cfg.host, host)) return false;
    for (const auto& q : r.cfg.require_query)
      if (!req.query || !req.query->raw_value(q)) return false;
    for (const auto& h : r.cfg.require_headers)
      if (!req.has_header || !req.has_header(h)) return false;
    return true;
  };
  auto first_holding = [&](const std::vector<std::size_t>& candidates) -> const CompiledRule* {
    for (auto idx : candidates)
      if (conditions_hold(rules_[idx])) return &rules_[idx];
    return nullptr;
  };
  // Depth first, literal before :param before **: the first rule found is the most specific.
  std::function<const CompiledRule*(const Node&, std::size_t)> walk =
      [&](const Node& n, std::size_t i) -> const CompiledRule* {
    if (i == segments->size()) {
      if (auto* r = first_holding(n.end_rules)) return r;
    } else {
      if (auto it = n.literal.find(keys[i]); it != n.literal.end())
        if (auto* r = walk(*it->second, i + 1)) return r;
      if (n.param)
        if (auto* r = walk(*n.param, i + 1)) return r;
    }
    return first_holding(n.rest_rules);
  };
  const CompiledRule* rule = walk(*root, 0);
  if (!rule) return std::nullopt;

  Match m;
  m.rule = rule;
  for (std::size_t k = 0; k < rule->pattern.segments.size(); ++k) {
    const auto& s = rule->pattern.segments[k];
    if (s.kind == Segment::Kind::param) m.params.emplace_back(s.text, (*segments)[k]);
    if (s.kind == Segment::Kind::literal) (*segments)[k] = s.text;  // the key names the rule's spelling
    if (s.kind == Segment::Kind::rest) {
      std::vector<std::string> rest(segments->begin() + static_cast<std::ptrdiff_t>(k), segments->end());
      m.params.emplace_back("**", rest.empty() ? std::string() : join_path(rest).substr(1));
    }
  }
  m.segments = std::move(*segments);
  return m;
}

std::string Rulebook::trie_key(std::string_view literal) const {
  return case_insensitive_ ? util::to_lower(literal) : std::string(literal);
}

std::vector<const CompiledRule*> Rulebook::purged_by(const CompiledRule& write) const {
  std::vector<const CompiledRule*> out;
  for (const auto& r : rules_) {
    if (r.cfg.action != config::ActionKind::cache) continue;
    bool hit = std::any_of(r.tags.begin(), r.tags.end(),
                           [&](const TagTemplate& ct) { return may_purge(write, ct); });
    if (hit) out.push_back(&r);
  }
  return out;
}

}  // namespace orc::rules
