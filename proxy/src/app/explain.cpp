// `openrisk-cache explain`: what the proxy would do with one request, without sending it anywhere.
#include "app/explain.hpp"

#include <boost/json.hpp>
#include <ostream>

#include "cache/cache_key.hpp"
#include "identity/caller.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"

namespace orc::app {

namespace json = boost::json;

namespace {

std::string position(const config::SourcePos& p) {
  return p.file + ":" + std::to_string(p.line) + ":" + std::to_string(p.column);
}

json::array rendered_tags(const rules::CompiledRule& rule, const rules::TagContext& ctx) {
  json::array out;
  for (const auto& t : rule.tags) {
    auto v = rules::render(t, ctx);
    out.emplace_back(v ? json::value(*v) : json::value(t.source + " (needs a verified JWT)"));
  }
  return out;
}

json::object explain_object(const Loaded& loaded, const ExplainRequest& req) {
  json::object out;
  std::string method = util::to_lower(req.method);
  for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));

  // Split the URL: absolute (http://host/path?q) or origin-form (/path?q).
  std::string_view url = req.url;
  std::string host;
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    auto start = url.find("://") + 3;
    auto slash = url.find_first_of("/?", start);
    host = std::string(url.substr(start, slash - start));
    url = slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
  }
  auto q = url.find('?');
  std::string path(url.substr(0, q));
  std::string query(q == std::string_view::npos ? std::string_view{} : url.substr(q + 1));
  if (path.empty()) path = "/";

  identity::HeaderLookup headers = [&](std::string_view name) -> std::optional<std::string_view> {
    for (const auto& [k, v] : req.headers)
      if (util::iequals(k, name)) return std::string_view(v);
    return std::nullopt;
  };
  if (host.empty())
    if (auto h = headers("Host")) host = std::string(*h);

  json::object request;
  request["method"] = method;
  request["path"] = path;
  request["query"] = query;
  out["request"] = request;

  rules::RequestView view{method, path, query, host,
                          [&](std::string_view name) { return headers(name).has_value(); }};
  auto match = loaded.rulebook->match(view);
  if (!match) {
    out["rule"] = nullptr;
    out["action"] = "pass";
    out["why"] = "no rule matches: the request is forwarded and never cached";
    return out;
  }
  const auto& rule = *match->rule;
  const auto& cfg = *loaded.config;
  out["rule"] = rule.cfg.name;
  out["defined_at"] = position(rule.cfg.pos);
  out["action"] = std::string(config::to_string(rule.cfg.action));
  json::object params;
  for (const auto& [k, v] : match->params) params[k] = v;
  out["params"] = params;

  // Identity: what the scope keys on. A credential is only ever shown as a short HMAC prefix.
  auto scope =
      rule.cfg.action == config::ActionKind::cache ? rule.cfg.cache.scope : config::Scope::credential;
  auto id = identity::resolve_scope(scope, cfg.identity, loaded.verifier.get(), cfg.cache.key_secret, headers,
                                    query);
  json::object ident;
  if (id.credential) {
    ident["credential_from"] = id.credential->describe();
    ident["credential_hmac_prefix"] = id.credential_fingerprint.empty()
                                          ? json::value("(no cache.key_secret)")
                                          : json::value(id.credential_fingerprint);
  } else {
    ident["credential_from"] = nullptr;
  }
  if (id.claims) {
    ident["jwt"] = "verified";
    ident["user"] = id.claims->user;
    ident["tenant"] = id.claims->tenant;
  } else if (loaded.verifier && id.credential) {
    ident["jwt"] = "not verified";
  }
  out["identity"] = ident;

  rules::TagContext ctx{&match->params, query,
                        id.claims ? std::string_view(id.claims->tenant) : std::string_view{},
                        id.claims ? std::string_view(id.claims->user) : std::string_view{}};

  switch (rule.cfg.action) {
    case config::ActionKind::cache: {
      const auto& c = rule.cfg.cache;
      out["scope"] = std::string(config::to_string(c.scope));
      out["ttl"] = c.ttl_origin ? std::string("origin") : util::format_duration(c.ttl);
      if (method != "GET" && method != "HEAD") {
        out["why"] = "only GET and HEAD are served from the cache";
        break;
      }
      auto kq = cache::key_query(c, query);
      if (!kq) {
        out["cacheable"] = false;
        out["why"] = "the query has a parameter the rule does not name, and key.other_query is bypass";
        break;
      }
      if (id.bypass) {
        out["cacheable"] = false;
        out["why"] = "bypass: " + id.bypass_reason;
        break;
      }
      auto key = cache::build_cache_key(rule, *match, *kq, headers, id.key_part, cfg.redis.key_prefix);
      out["cacheable"] = true;
      out["key_material"] = key.material;
      out["key"] = key.key;
      out["tags"] = rendered_tags(rule, ctx);
      break;
    }
    case config::ActionKind::invalidate: {
      out["purges_tags"] = rendered_tags(rule, ctx);
      json::array reached;
      for (const auto* r : loaded.rulebook->purged_by(rule)) reached.emplace_back(r->cfg.name);
      out["purges_entries_of"] = reached;
      // RFC 9111 section 4.4: a successful write also invalidates the cached GET of its own URI.
      rules::RequestView get{"GET", path, query, host, view.has_header};
      if (auto own = loaded.rulebook->match(get); own && own->rule->cfg.action == config::ActionKind::cache)
        out["also_purges_get_of"] = own->rule->cfg.name;
      out["why"] = "forwarded; when the backend answers 2xx the tags are purged before the response is sent";
      break;
    }
    case config::ActionKind::pass:
      out["why"] = "forwarded untouched and never cached";
      break;
    case config::ActionKind::stream:
      out["why"] = "forwarded without buffering and never cached";
      break;
  }
  return out;
}

void print_text(const json::object& o, std::ostream& out) {
  auto str = [](const json::value& v) -> std::string {
    if (v.is_string()) return std::string(v.as_string());
    if (v.is_null()) return "-";
    return json::serialize(v);
  };
  auto line = [&](std::string_view label, const json::value& v) {
    out << label << std::string(label.size() < 20 ? 20 - label.size() : 1, ' ') << str(v) << '\n';
  };
  const auto& r = o.at("request").as_object();
  out << "request             " << str(r.at("method")) << ' ' << str(r.at("path"))
      << (r.at("query").as_string().empty() ? "" : "?" + str(r.at("query"))) << '\n';
  for (const char* k : {"rule", "defined_at", "action", "scope", "ttl", "cacheable"})
    if (auto it = o.find(k); it != o.end()) line(k, it->value());
  if (auto it = o.find("params"); it != o.end() && !it->value().as_object().empty()) {
    std::string p;
    for (const auto& kv : it->value().as_object())
      p += (p.empty() ? "" : ", ") + std::string(kv.key()) + "=" + str(kv.value());
    line("params", json::value(p));
  }
  if (auto it = o.find("identity"); it != o.end()) {
    const auto& id = it->value().as_object();
    std::string s;
    if (id.at("credential_from").is_null())
      s = "no credential";
    else
      s = str(id.at("credential_from")) + ", hmac " + str(id.at("credential_hmac_prefix")) + "...";
    if (auto j = id.find("jwt"); j != id.end()) {
      s += "; jwt " + str(j->value());
      if (auto u = id.find("user"); u != id.end())
        s += " (user " + str(u->value()) + ", tenant " + str(id.at("tenant")) + ")";
    }
    line("identity", json::value(s));
  }
  if (auto it = o.find("key_material"); it != o.end()) {
    out << "key material\n";
    std::string m = str(it->value());
    for (auto piece : util::split_list(m, '\n')) out << "    " << piece << '\n';
  }
  for (const char* k : {"key", "tags", "purges_tags", "purges_entries_of", "also_purges_get_of", "why"})
    if (auto it = o.find(k); it != o.end()) {
      if (it->value().is_array()) {
        std::string s;
        for (const auto& v : it->value().as_array()) s += (s.empty() ? "" : ", ") + str(v);
        line(k, json::value(s.empty() ? "-" : s));
      } else {
        line(k, it->value());
      }
    }
}

}  // namespace

int explain(const Loaded& loaded, const ExplainRequest& req, std::ostream& out) {
  auto o = explain_object(loaded, req);
  if (req.json)
    out << json::serialize(o) << '\n';
  else
    print_text(o, out);
  return 0;
}

}  // namespace orc::app
