// `openrisk-cache explain`: what the proxy would do with one request, without sending it anywhere.
#include "app/explain.hpp"

#include <boost/json.hpp>
#include <ostream>

#include <deque>

#include "cache/plan.hpp"
#include "http/request_checks.hpp"
#include "identity/caller.hpp"
#include "log/access_log.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"

namespace orc::app {

namespace json = boost::json;

namespace {

std::string position(const config::SourcePos& p) {
  return p.file + ":" + std::to_string(p.line) + ":" + std::to_string(p.column);
}

json::array json_tags(const std::vector<std::string>& tags) {
  json::array out;
  for (const auto& t : tags) out.emplace_back(t);
  return out;
}

json::object explain_object(const Loaded& loaded, const ExplainRequest& req) {
  json::object out;
  std::string method = util::to_lower(req.method);
  for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));

  // A field given more than once is one list, as the daemon sees it (RFC 9110 section 5.3).
  std::deque<std::string> joined;
  identity::HeaderLookup headers = [&](std::string_view name) -> std::optional<std::string_view> {
    std::optional<std::string_view> first;
    std::string all;
    int n = 0;
    for (const auto& [k, v] : req.headers)
      if (util::iequals(k, name)) {
        if (n++ == 0) first = v;
        util::append_field_value(all, name, v);
      }
    if (n < 2) return first;
    return joined.emplace_back(std::move(all));
  };
  // The target as the daemon forwards it: absolute-form (http://host/path?q) to origin-form, the path
  // normalised (http::origin_form_target, the same function).
  // The Host field when given (an absolute-form target naming another authority is then rejected, as the
  // daemon does), else the target's authority.
  std::string_view url = req.url;
  std::string host;
  if (auto h = headers("Host")) {
    host = std::string(*h);
  } else if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    auto start = url.find("://") + 3;
    host = std::string(url.substr(start, url.find_first_of("/?", start) - start));
  }
  // The request as shown: query values of logging.redact_query redacted, as in the access log (the key and
  // the decision are made on the request as it is).
  const auto& redact = loaded.config->logging.redact_query;
  auto target = http::origin_form_target(url, host);
  if (!target) {
    out["request"] =
        json::object{{"method", method}, {"path", log::redact_target(req.url, redact)}, {"query", ""}};
    out["rule"] = nullptr;
    out["action"] = "reject";
    out["x_cache"] = nullptr;
    out["why"] =
        "the daemon answers 400: the target is not origin-form or absolute-form for this host, or its "
        "path does not normalise";
    return out;
  }
  auto q = target->find('?');
  std::string path = target->substr(0, q);
  std::string query = q == std::string::npos ? std::string() : target->substr(q + 1);

  json::object request;
  request["method"] = method;
  request["path"] = path;
  const auto shown = log::redact_target(*target, redact);
  request["query"] = q == std::string::npos ? std::string() : shown.substr(shown.find('?') + 1);
  out["request"] = request;

  // A body as the daemon would see it: Content-Length above zero, or chunked.
  bool has_body = false;
  if (auto cl = headers("Content-Length")) has_body = util::trim(*cl) != "0";
  if (auto te = headers("Transfer-Encoding")) has_body = has_body || !util::trim(*te).empty();

  const auto& cfg = *loaded.config;
  cache::RequestFacts facts{method, path, query, host, has_body, headers};
  // The daemon always has a storage (Redis, or the in-process one); explain knows of no owed purge.
  auto plan = cache::plan({facts, cfg, true, loaded.rulebook.get(), loaded.verifier.get(), nullptr,
                           util::SystemClock::instance().now_s()});
  auto predicted = cache::predict(plan);
  out["decision"] = std::string(cache::to_string(plan.action));
  out["x_cache"] = predicted.x_cache;
  out["cache_status"] =
      predicted.cache_status.empty() ? json::value(nullptr) : json::value(predicted.cache_status);
  const auto* rule = plan.rule();
  // A write that no invalidate rule takes still purges the path's cached GETs (RFC 9111 section 4.4).
  if (plan.action == cache::Action::invalidate &&
      (!rule || rule->cfg.action != config::ActionKind::invalidate))
    out["purges_tags"] = json_tags(plan.tags);
  if (!rule) {
    out["rule"] = nullptr;
    out["action"] = "pass";
    out["why"] = std::string(plan.why);
    return out;
  }
  out["rule"] = rule->cfg.name;
  out["defined_at"] = position(rule->cfg.pos);
  out["action"] = std::string(config::to_string(rule->cfg.action));
  json::object params;
  for (const auto& [k, v] : plan.match->params) params[k] = v;
  out["params"] = params;

  // Identity: what the scope keys on (the plan's; for pass and stream, shown for information). A credential
  // is only ever shown as a short HMAC prefix.
  auto id = plan.identity;
  if (plan.action == cache::Action::pass || plan.action == cache::Action::stream)
    id = identity::resolve_scope(config::Scope::public_, cfg.identity, loaded.verifier.get(),
                                 cfg.cache.key_secret, headers, util::Query(query));
  json::object ident;
  if (id.credential && id.credential->malformed) {
    ident["credential_from"] = id.credential->describe();
    ident["credential"] = "malformed: not '" + id.credential->source.scheme + " <token>'";
  } else if (id.credential) {
    ident["credential_from"] = id.credential->describe();
    ident["credential_hmac_prefix"] =
        cfg.cache.key_secret.empty()
            ? json::value("(no cache.key_secret)")
            : json::value(
                  identity::hmac_sha256_hex(cfg.cache.key_secret, id.credential->value).substr(0, 12));
  } else {
    ident["credential_from"] = nullptr;
  }
  if (id.claims) {
    ident["jwt"] = "verified";
    ident["user"] = id.claims->user;
    ident["tenant"] = id.claims->tenant;
    if (!id.claims->authz.empty()) ident["authz"] = id.claims->authz;
  } else if (loaded.verifier && id.credential && !id.credential->malformed) {
    ident["jwt"] = "not verified";
  }
  out["identity"] = ident;

  switch (rule->cfg.action) {
    case config::ActionKind::cache: {
      const auto& c = rule->cfg.cache;
      out["scope"] = std::string(config::to_string(c.scope));
      if (!c.permission.empty()) out["permission"] = c.permission;
      out["ttl"] = c.ttl_origin ? std::string("origin") : util::format_duration(c.ttl);
      if (plan.action == cache::Action::bypass) {
        out["cacheable"] = false;
        out["bypass"] = std::string(cache::to_string(plan.bypass));
        out["why"] =
            "bypass: " + std::string(cache::to_string(plan.bypass)) + " (" + std::string(plan.why) + ")";
      } else if (plan.action == cache::Action::lookup) {
        out["cacheable"] = true;
        out["key_material"] = plan.key.material;
        out["key"] = plan.key.key;
        out["tags"] = json_tags(plan.tags);
        out["why"] = std::string(plan.why);
      } else {
        out["why"] = std::string(plan.why);
      }
      break;
    }
    case config::ActionKind::invalidate: {
      // A conditional tag says so, rendered or not (an item's source is unique enough to find it by).
      const auto condition = [](const std::vector<std::string>& fields) {
        std::string out = " (unless the JSON body names only: ";
        for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? ", " : "") + fields[i];
        return out + ")";
      };
      const auto or_else = [](std::string_view fallback) {
        return " (from the backend's answer; when it lacks the field: " + std::string(fallback) + ")";
      };
      json::array purged = json_tags(plan.tags);
      for (const auto& t : plan.unrendered) {
        std::string shown = t + " (needs a verified JWT)";
        for (const auto& item : rule->cfg.invalidate) {
          if (item.value == t && !item.unless_body_only.empty()) shown += condition(item.unless_body_only);
          if (item.value == t && !item.fallback.empty()) shown += or_else(item.fallback);
        }
        purged.emplace_back(shown);
      }
      for (const auto& c : plan.conditional) purged.emplace_back(c.tag + condition(*c.unless_body_only));
      for (const auto& a : plan.answered) {
        std::string shown = a.tag.pieces.front();
        for (std::size_t i = 0; i < a.tag.fields.size(); ++i)
          shown += "{answer." + a.tag.fields[i] + "}" + a.tag.pieces[i + 1];
        purged.emplace_back(shown + or_else(a.fallback));
      }
      out["purges_tags"] = purged;
      json::array reached;
      for (const auto* r : loaded.rulebook->purged_by(*rule)) reached.emplace_back(r->cfg.name);
      out["purges_entries_of"] = reached;
      // RFC 9111 section 4.4: a successful write also invalidates the cached GET of its own URI (its uri:
      // tag).
      const util::Query split(query);
      const auto forwarded = cache::as_forwarded(headers);  // as the daemon reads them
      rules::RequestView get{"GET", path, &split, host,
                             [&](std::string_view n) { return forwarded(n).has_value(); }};
      if (auto own = loaded.rulebook->match(get); own && own->rule->cfg.action == config::ActionKind::cache)
        out["also_purges_get_of"] = own->rule->cfg.name;
      out["why"] = std::string(plan.why);
      break;
    }
    case config::ActionKind::pass:
    case config::ActionKind::stream:
      out["why"] = std::string(plan.why);
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
  for (const char* k :
       {"rule", "defined_at", "action", "decision", "scope", "permission", "ttl", "cacheable", "bypass"})
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
    else if (auto m = id.find("credential"); m != id.end())
      s = str(id.at("credential_from")) + ", " + str(m->value());
    else
      s = str(id.at("credential_from")) + ", hmac " + str(id.at("credential_hmac_prefix")) + "...";
    if (auto j = id.find("jwt"); j != id.end()) {
      s += "; jwt " + str(j->value());
      if (auto u = id.find("user"); u != id.end()) {
        s += " (user " + str(u->value()) + ", tenant " + str(id.at("tenant"));
        if (auto a = id.find("authz"); a != id.end()) s += ", authz " + str(a->value());
        s += ")";
      }
    }
    line("identity", json::value(s));
  }
  if (auto it = o.find("key_material"); it != o.end()) {
    out << "key material\n";
    std::string m = str(it->value());
    for (auto piece : util::split_list(m, '\n')) out << "    " << piece << '\n';
  }
  for (const char* k : {"key", "tags", "purges_tags", "purges_entries_of", "also_purges_get_of", "x_cache",
                        "cache_status", "why"})
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
