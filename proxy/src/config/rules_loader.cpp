// The YAML layer of the rulebook sections: identity, cache, redis, admin, defaults, include and rules.
// Syntax and types only; what the rules mean is checked by the rules layer (rules/rulebook.cpp).
#include "config/rules_loader.hpp"

#include <filesystem>

#include "util/files.hpp"
#include "util/strings.hpp"

namespace orc::config::detail {

namespace {

std::optional<std::string> read_secret_file(const std::string& path, std::string& error) {
  auto content = util::read_regular_file(path, util::max_secret_file_bytes, error);
  if (!content) return std::nullopt;
  std::string s = std::move(*content);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// `key: value` or `key_file: path` (the secret read from the file, trailing newline removed).
void secret(Section& sec, const std::string& key, std::string& out) {
  sec.string(key, out);
  std::string file;
  sec.string(key + "_file", file);
  if (file.empty()) return;
  if (!out.empty()) {
    sec.errors().add(sec.node()[key + "_file"].Mark(), "'" + sec.child_path(key) + "' and '" +
                                                           sec.child_path(key + "_file") + "' are exclusive");
    return;
  }
  std::string error;
  if (auto s = read_secret_file(file, error))
    out = *s;
  else
    sec.errors().add(sec.node()[key + "_file"].Mark(),
                     "'" + sec.child_path(key + "_file") + "': cannot read '" + file + "': " + error);
}

// `key`: a list of host:port, or one string of comma-separated ones (what `${ENV}` can give), into `out`.
void host_ports(Section& sec, const std::string& key, const std::string& label, const std::string& example,
                std::vector<std::string>& out) {
  sec.with(key, [&](const YAML::Node& n) {
    std::vector<std::pair<std::string, YAML::Mark>> items;
    if (n.IsSequence()) {
      for (const auto& item : n)
        items.emplace_back(item.IsScalar() ? item.Scalar() : std::string(), item.Mark());
    } else if (auto text = sec.scalar(n, key, "a list of host:port")) {
      for (auto part : util::split_list(*text, ',')) items.emplace_back(std::string(part), n.Mark());
    } else {
      return;
    }
    if (items.empty()) sec.errors().add(n.Mark(), label + ": expected a list of host:port");
    for (const auto& [text, mark] : items) {
      auto hp = parse_host_port(text);
      if (!hp || hp->host.empty() || hp->port == 0)
        sec.errors().add(mark, label + ": expected host:port such as " + example + ", got '" + text + "'");
      else
        out.push_back(text);
    }
  });
}

// A decimal number from `min` to `max`, written out whole ("0.001", "10"; no inf, nan or hex).
std::optional<double> parse_number(const std::string& s, double min, double max) {
  if (s.empty() || s.find_first_not_of("0123456789.eE+-") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end != '\0' || !(v >= min && v <= max)) return std::nullopt;
  return v;
}

const std::vector<std::string> kMethods{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"};

std::optional<Scope> parse_scope(const std::string& s) {
  if (s == "public") return Scope::public_;
  if (s == "credential") return Scope::credential;
  if (s == "user") return Scope::user;
  if (s == "tenant") return Scope::tenant;
  if (s == "role") return Scope::role;
  return std::nullopt;
}

void read_cache_fields(Section& c, CacheAction& a, bool allow_tags) {
  c.with("ttl", [&](const YAML::Node& n) {
    a.ttl_pos = c.errors().pos(n.Mark());
    auto s = c.scalar(n, "ttl", "a duration or 'origin'");
    if (!s) return;
    if (*s == "origin") {
      a.ttl_origin = true;
      return;
    }
    auto d = util::parse_duration(*s);
    if (!d) {
      c.errors().add(n.Mark(), "'" + c.child_path("ttl") +
                                   "': expected a duration such as 30s or 5m, or 'origin', got '" + *s + "'");
      return;
    }
    a.ttl_origin = false;
    a.ttl = *d;
  });
  c.with("scope", [&](const YAML::Node& n) { a.scope_pos = c.errors().pos(n.Mark()); });
  c.parsed<Scope>("scope", a.scope, "one of public, credential, user, tenant, role", parse_scope);
  c.with("permission", [&](const YAML::Node& n) { a.permission_pos = c.errors().pos(n.Mark()); });
  c.string("permission", a.permission);
  Section key = c.sub("key");
  key.with("query", [&](const YAML::Node& n) {
    if (n.IsScalar() && n.Scalar() == "all") {
      a.key_query_all = true;
      a.key_query.clear();
      return;
    }
    if (!n.IsSequence()) {
      c.errors().add(n.Mark(),
                     "'" + key.child_path("query") + "': expected 'all' or a list of parameter names");
      return;
    }
    a.key_query_all = false;
    key.string_list("query", a.key_query);
  });
  key.parsed<bool>("other_query", a.other_query_bypass, "ignore or bypass",
                   [](const std::string& s) -> std::optional<bool> {
                     if (s == "ignore") return false;
                     if (s == "bypass") return true;
                     return std::nullopt;
                   });
  key.string_list("headers", a.key_headers);
  key.finish();
  if (allow_tags) c.positioned_list("tags", a.tags);
  c.with("statuses", [&](const YAML::Node& n) {
    a.statuses_pos = c.errors().pos(n.Mark());
    if (!n.IsSequence()) {
      c.errors().add(n.Mark(), "'" + c.child_path("statuses") + "': expected a list of status codes");
      return;
    }
    std::vector<unsigned> codes;
    for (const auto& item : n) {
      auto s = c.scalar(item, "statuses", "a status code");
      if (!s) continue;
      char* end = nullptr;
      unsigned long v = std::strtoul(s->c_str(), &end, 10);
      if (s->empty() || *end != '\0' || v < 100 || v > 599)
        c.errors().add(item.Mark(), "'" + c.child_path("statuses") +
                                        "': expected a status code from 100 to 599, got '" + *s + "'");
      else
        codes.push_back(static_cast<unsigned>(v));
    }
    a.statuses = std::move(codes);
  });
  c.size("max_body", a.max_body);
  c.duration("stale_while_revalidate", a.stale_while_revalidate, true);
  c.duration("stale_if_error", a.stale_if_error, true);
  c.duration("heuristic_max", a.heuristic_max, true);
  c.with("targeted_field", [&](const YAML::Node& n) {
    auto s = c.scalar(n, "targeted_field", "a header field name");
    if (!s) return;
    if (s->empty() || s->find_first_of(" \t:,") != std::string::npos) {
      c.errors().add(n.Mark(), "'" + c.child_path("targeted_field") +
                                   "': expected a header field name, got '" + *s + "'");
      return;
    }
    a.targeted.assign({*s, "CDN-Cache-Control"});
  });
  c.boolean("forward_targeted", a.forward_targeted);
  c.duration("validation_window", a.validation_window, true);
  c.parsed<bool>("set_cookie", a.set_cookie_strip, "bypass or strip",
                 [](const std::string& s) -> std::optional<bool> {
                   if (s == "bypass") return false;
                   if (s == "strip") return true;
                   return std::nullopt;
                 });
  c.boolean("verify", a.verify);
  c.string_list("verify_ignore", a.verify_ignore);
}

// `invalidate:` a list of tag templates; an item may also be `{ tag: T, unless_body_only: [field, ...] }` or
// `{ tag: T, fallback: F }` (T renders fields of the backend's answer; the rulebook checks that it does).
void read_invalidate(Section& r, std::vector<Positioned>& out) {
  Errors& errors = r.errors();
  const std::string list_path = r.child_path("invalidate");
  r.with("invalidate", [&](const YAML::Node& n) {
    if (!n.IsSequence()) {
      errors.add(n.Mark(), "'" + list_path + "': expected a list of tags");
      return;
    }
    std::size_t i = 0;
    for (const auto& item : n) {
      const std::string path = list_path + "[" + std::to_string(i++) + "]";
      Positioned tag{{}, errors.pos(item.Mark()), {}, {}};
      if (item.IsScalar()) {
        Section one(YAML::Node(), list_path, errors);
        auto v = one.scalar(item, "", "a tag");
        if (!v) continue;
        tag.value = std::move(*v);
      } else if (item.IsMap()) {
        Section cond(item, path, errors);
        cond.string("tag", tag.value);
        cond.string_list("unless_body_only", tag.unless_body_only);
        cond.string("fallback", tag.fallback);
        cond.finish();
        if (tag.value.empty()) {
          errors.add(item.Mark(), "'" + path + ".tag': expected the tag to purge");
          continue;
        }
        const bool conditional = item["unless_body_only"].IsDefined();
        const bool answered = item["fallback"].IsDefined();
        if (conditional == answered) {
          errors.add(item.Mark(), "'" + path + "': expected either unless_body_only or fallback beside tag");
          continue;
        }
        if (conditional && tag.unless_body_only.empty()) {
          errors.add(item.Mark(),
                     "'" + path + ".unless_body_only': expected a list of at least one field name");
          continue;
        }
        for (const auto& f : tag.unless_body_only)
          if (f.empty()) errors.add(item.Mark(), "'" + path + ".unless_body_only': a field name is empty");
        if (answered && tag.fallback.empty()) {
          errors.add(item.Mark(), "'" + path +
                                      ".fallback': expected the tag to purge when the answer lacks "
                                      "the fields");
          continue;
        }
      } else {
        errors.add(
            item.Mark(),
            "'" + path + "': expected a tag, or a mapping { tag, unless_body_only } or { tag, fallback }");
        continue;
      }
      out.push_back(std::move(tag));
    }
  });
}

void read_rule(const YAML::Node& node, std::size_t index, const CacheAction& defaults, Config& c,
               Errors& errors) {
  RuleConfig rule;
  rule.pos = errors.pos(node.Mark());
  Section r(node, "rules[" + std::to_string(index) + "]", errors);
  r.string("name", rule.name);
  if (!r.has("name")) errors.add(node.Mark(), "'" + r.path() + "': every rule needs a 'name'");

  Section m = r.sub("match");
  if (!r.has("match")) errors.add(node.Mark(), "'" + r.path() + "': every rule needs a 'match'");
  m.one_or_many("method", rule.methods);
  for (auto& method : rule.methods) {
    method = util::to_lower(method);
    for (auto& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (std::find(kMethods.begin(), kMethods.end(), method) == kMethods.end()) {
      std::string message = "'" + m.child_path("method") + "': unknown method '" + method + "'";
      auto suggestion = util::closest_match(method, kMethods);
      if (!suggestion.empty()) message += "; did you mean '" + suggestion + "'?";
      errors.add(m.node()["method"].Mark(), message);
    }
  }
  m.with("path", [&](const YAML::Node& n) { rule.path_pos = errors.pos(n.Mark()); });
  m.string("path", rule.path);
  if (r.has("match") && !m.has("path"))
    errors.add(m.node().Mark(), "'" + m.path() + "': a 'path' is required");
  m.string("host", rule.host);
  m.string_list("query", rule.require_query);
  m.string_list("headers", rule.require_headers);
  m.finish();

  int actions = 0;
  if (r.has("cache")) {
    ++actions;
    rule.action = ActionKind::cache;
    rule.cache = defaults;
    Section cs = r.sub("cache");
    read_cache_fields(cs, rule.cache, true);
    // An origin rule keys on the whole target URI (RFC 9111 section 2) unless a query list is given.
    if (rule.cache.ttl_origin && !cs.sub("key").has("query") && rule.cache.key_query.empty())
      rule.cache.key_query_all = true;
    cs.finish();
  } else {
    r.sub("cache");  // known key
  }
  if (r.has("invalidate")) {
    ++actions;
    rule.action = ActionKind::invalidate;
    read_invalidate(r, rule.invalidate);
    if (rule.invalidate.empty())
      errors.add(node["invalidate"].Mark(),
                 "'" + r.child_path("invalidate") + "': expected at least one tag to purge");
  } else {
    r.sub("invalidate");
  }
  for (const char* flag : {"pass", "stream"}) {
    bool value = false;
    r.boolean(flag, value);
    if (!r.has(flag)) continue;
    ++actions;
    if (!value)
      errors.add(node[flag].Mark(),
                 "'" + r.child_path(flag) + "': write it as '" + flag + ": true' or remove it");
    rule.action = std::string_view(flag) == "pass" ? ActionKind::pass : ActionKind::stream;
  }
  if (actions != 1)
    errors.add(node.Mark(),
               "rule '" + (rule.name.empty() ? r.path() : rule.name) +
                   "': expected exactly one action of cache, invalidate, pass or stream, found " +
                   std::to_string(actions));
  r.finish();
  c.rules.push_back(std::move(rule));
}

void read_rule_list(const YAML::Node& list, const CacheAction& defaults, Config& c, Errors& errors) {
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) {
    errors.add(list.Mark(), "'rules': expected a list of rules");
    return;
  }
  std::size_t index = 0;  // in this file's list: how its author counts them
  for (const auto& item : list) {
    if (!item.IsMap()) {
      errors.add(item.Mark(),
                 "'rules': every item must be a rule (a mapping with name, match and an action)");
      ++index;
      continue;
    }
    read_rule(item, index++, defaults, c, errors);
  }
}

// `named_at`: the entry of `include` that names it, in the including file (where a file that cannot be read
// is reported).
void read_include(const std::string& path, const YAML::Mark& named_at, const CacheAction& defaults, Config& c,
                  Errors& errors) {
  std::string previous = errors.file();
  std::string error;
  auto text = util::read_regular_file(path, util::max_config_file_bytes, error);
  if (!text) {
    errors.add(named_at, "cannot read the included rule file '" + path + "': " + error);
    return;
  }
  errors.set_file(path);
  c.files.push_back(path);
  c.content_sha256 += "\n--- " + path + "\n" + *text;  // hashed once loading is done
  try {
    YAML::Node root = load_document(*text, errors);
    Section top(root, "", errors);
    top.with("rules", [&](const YAML::Node& n) { read_rule_list(n, defaults, c, errors); });
    top.finish();
  } catch (const YAML::Exception& e) {
    errors.add(e.mark, "invalid YAML: " + e.msg);
  }
  errors.set_file(previous);
}

}  // namespace

void read_rulebook_sections(Section& top, Config& c, Errors& errors, const std::string& base_dir) {
  Section id = top.sub("identity");
  id.with("credential", [&](const YAML::Node& n) {
    if (!n.IsSequence()) {
      errors.add(
          n.Mark(),
          "'identity.credential': expected a list such as [{header: Authorization}, {cookie: or_access}]");
      return;
    }
    std::vector<CredentialSource> sources;
    for (const auto& item : n) {
      Section src(item, "identity.credential[" + std::to_string(sources.size()) + "]", errors);
      CredentialSource cs;
      int kinds = 0;
      for (auto [key, kind] : {std::pair{"header", CredentialSource::Kind::header},
                               std::pair{"cookie", CredentialSource::Kind::cookie},
                               std::pair{"query", CredentialSource::Kind::query}}) {
        std::string name;
        src.string(key, name);
        if (name.empty()) continue;
        ++kinds;
        cs.kind = kind;
        cs.name = name;
      }
      bool has_scheme = src.has("scheme");
      std::string scheme;
      src.parsed<std::string>("scheme", scheme, "an authentication scheme such as Bearer, or none",
                              [](const std::string& s) -> std::optional<std::string> {
                                if (s == "none") return std::string();
                                if (!util::http_token(s)) return std::nullopt;
                                return s;
                              });
      src.finish();
      if (kinds != 1) {
        errors.add(item.Mark(),
                   "'identity.credential': each source is exactly one of header, cookie or query");
        continue;
      }
      if (has_scheme && cs.kind != CredentialSource::Kind::header) {
        errors.add(item.Mark(), "'identity.credential': 'scheme' belongs to a header source only");
        continue;
      }
      if (has_scheme)
        cs.scheme = scheme;
      else if (cs.kind == CredentialSource::Kind::header && util::iequals(cs.name, "Authorization"))
        cs.scheme = "Bearer";
      sources.push_back(cs);
    }
    c.identity.credential = std::move(sources);
  });
  Section jwt = id.sub("jwt");
  if (id.has("jwt")) {
    auto& j = c.identity.jwt;
    j.enabled = true;
    j.pos = jwt.pos();
    jwt.parsed<std::string>("algorithm", j.algorithm, "RS256 or HS256",
                            [](const std::string& s) -> std::optional<std::string> {
                              if (s == "RS256" || s == "HS256") return s;
                              return std::nullopt;
                            });
    jwt.string("public_key_file", j.public_key_file);
    secret(jwt, "secret", j.secret);
    jwt.string("issuer", j.issuer);
    jwt.string("audience", j.audience);
    jwt.string("user_claim", j.user_claim);
    jwt.string("tenant_claim", j.tenant_claim);
    jwt.string_list("authz_claims", j.authz_claims);
    jwt.string("permissions_claim", j.permissions_claim);
    jwt.duration("leeway", j.leeway, true);
    if (j.algorithm == "RS256" && j.public_key_file.empty())
      errors.add(jwt.node().Mark(), "'identity.jwt': RS256 needs 'public_key_file'");
    if (j.algorithm == "HS256" && j.secret.empty())
      errors.add(jwt.node().Mark(), "'identity.jwt': HS256 needs 'secret' or 'secret_file'");
  }
  jwt.finish();
  id.finish();

  Section cache = top.sub("cache");
  secret(cache, "key_secret", c.cache.key_secret);
  cache.size("memory_budget", c.cache.memory_budget);
  cache.size("l1_budget", c.cache.l1_budget, true);  // 0: the L1 is off
  cache.duration("l1_max_age", c.cache.l1_max_age);
  cache.duration("max_fill", c.cache.max_fill);
  if (cache.has("max_fill")) c.cache.max_fill_pos = errors.pos(cache.node()["max_fill"].Mark());
  Section verify = cache.sub("verify");
  auto& v = c.cache.verify;
  verify.parsed<double>("sample", v.sample, "a fraction from 0 to 1 such as 0.001 (0: off)",
                        [](const std::string& s) { return parse_number(s, 0, 1); });
  verify.parsed<double>("max_per_second", v.max_per_second, "a number of verifies per second greater than 0",
                        [](const std::string& s) -> std::optional<double> {
                          auto n = parse_number(s, 0, 1e6);
                          if (n && *n > 0) return n;
                          return std::nullopt;
                        });
  verify.count("concurrency", v.concurrency, 1, 1024);
  verify.count("keep", v.keep, 0, 10000);
  verify.finish();
  cache.finish();

  Section redis = top.sub("redis");
  if (top.has("redis")) {
    c.redis.enabled = true;
    redis.string("url", c.redis.url);
    const auto url_mark = redis.node()["url"] ? redis.node()["url"].Mark() : redis.node().Mark();
    c.redis.url_pos = errors.pos(url_mark);
    // A Unix domain socket: a Redis on this machine, one server only (docs/operations.md).
    const bool unix_socket = c.redis.url.rfind("unix://", 0) == 0;
    if (c.redis.url.rfind("redis://", 0) != 0 && !unix_socket)
      errors.add(url_mark,
                 "'redis.url': expected redis://[user:password@]host:port[/db] or "
                 "unix://[user:password@]/path/to/redis.sock[?db=N]");
    redis.string("key_prefix", c.redis.key_prefix);
    redis.count("pool_size", c.redis.pool_size, 1, 64);
    redis.duration("connect_timeout", c.redis.connect_timeout);
    redis.duration("command_timeout", c.redis.command_timeout);
    Section sentinel = redis.sub("sentinel");
    if (redis.has("sentinel") && sentinel.node().IsMap()) {
      auto& s = c.redis.sentinel;
      sentinel.string("master", s.master);
      if (s.master.empty())
        errors.add(sentinel.node()["master"] ? sentinel.node()["master"].Mark() : sentinel.node().Mark(),
                   "'redis.sentinel.master': expected the name the sentinels monitor");
      host_ports(sentinel, "nodes", "'redis.sentinel.nodes'", "10.0.0.5:26379", s.nodes);
      if (!sentinel.node()["nodes"])
        errors.add(sentinel.node().Mark(), "'redis.sentinel.nodes': expected a list of host:port");
      sentinel.string("password", s.password);
    }
    sentinel.finish();
    host_ports(redis, "cluster", "'redis.cluster'", "10.0.0.5:6379", c.redis.cluster);
    if (unix_socket && (!c.redis.sentinel.master.empty() || !c.redis.cluster.empty()))
      errors.add(url_mark,
                 "'redis.url': a unix:// socket is one server; with Sentinel or a Cluster the addresses come "
                 "from them: expected redis://[user:password@]host[/db] for the credentials");
    if (!c.redis.cluster.empty() && !unix_socket) {
      const auto mark = redis.node()["cluster"].Mark();
      if (!c.redis.sentinel.master.empty())
        errors.add(mark, "'redis.cluster': expected either a Cluster or Sentinel, not both");
      // The URL's database, the "/N" after its host (the URL itself is checked with the storage's parser).
      std::string_view rest =
          std::string_view(c.redis.url).substr(std::min<std::size_t>(8, c.redis.url.size()));
      if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
      if (auto slash = rest.find('/');
          slash != std::string_view::npos && rest.substr(slash + 1) != "" && rest.substr(slash + 1) != "0")
        errors.add(mark, "'redis.cluster': a Redis Cluster has database 0 only, and redis.url names " +
                             std::string(rest.substr(slash + 1)));
    }
    if (redis.has("wait_replicas")) {
      std::uint32_t n = 0;
      redis.count("wait_replicas", n, 0, 16);
      c.redis.wait_replicas = n;
    }
  }
  redis.finish();

  Section admin = top.sub("admin");
  admin.parsed<std::string>("listen", c.admin.listen, "host:port such as 127.0.0.1:9464",
                            [](const std::string& s) -> std::optional<std::string> {
                              if (parse_host_port(s)) return s;
                              return std::nullopt;
                            });
  secret(admin, "token", c.admin.token);
  admin.finish();

  Section routing = top.sub("routing");
  routing.boolean("case_insensitive", c.routing.case_insensitive);
  routing.finish();

  CacheAction defaults;
  Section def = top.sub("defaults");
  Section dc = def.sub("cache");
  read_cache_fields(dc, defaults, false);
  dc.finish();
  def.finish();

  top.with("rules", [&](const YAML::Node& n) { read_rule_list(n, defaults, c, errors); });

  std::vector<std::string> includes;
  top.string_list("include", includes);
  const YAML::Node listed = top.node().IsMap() ? top.node()["include"] : YAML::Node();
  for (std::size_t i = 0; i < includes.size(); ++i) {
    std::filesystem::path p(includes[i]);
    if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
    const YAML::Mark at =
        listed.IsSequence() && i < listed.size() ? listed[i].Mark() : YAML::Mark::null_mark();
    read_include(p.lexically_normal().string(), at, defaults, c, errors);
  }
}

}  // namespace orc::config::detail
