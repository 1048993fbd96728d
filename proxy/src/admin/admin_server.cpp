// The admin listener: metrics, health, readiness, purge, reload, the loaded rules and verify's mismatches.
#include "admin/admin_server.hpp"

#include <boost/url/parse.hpp>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "cache/plan.hpp"
#include "cache/storage.hpp"
#include "cache/verify.hpp"
#include "config/config_loader.hpp"
#include "http/server.hpp"
#include "http/worker.hpp"
#include "log/logging.hpp"
#include "metrics/metrics.hpp"
#include "redis/topology_stats.hpp"
#include "rules/path_pattern.hpp"
#include "util/digest.hpp"
#include "util/query.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"

namespace orc::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr auto kTimeout = std::chrono::seconds(10);
constexpr std::size_t kBodyLimit = 64 * 1024;

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

Response reply(const Request& req, unsigned status, std::string body,
               std::string_view type = "application/json") {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, type);
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

Response json_reply(const Request& req, unsigned status, const json::value& v) {
  return reply(req, status, json::serialize(v) + "\n");
}

Response error(const Request& req, unsigned status, std::string_view msg) {
  return json_reply(req, status, json::object{{"error", true}, {"msg", msg}});
}

// The purge itself, run on a worker: the storage (a Redis pool) belongs to a worker's executor. Plain
// pointers as parameters: GCC 12 mishandles moved-from class parameters of coroutine lambdas.
asio::awaitable<cache::StorageStatus> purge_in_worker(http::Worker* worker,
                                                      std::shared_ptr<const std::vector<std::string>> tags) {
  co_return co_await worker->flow().purge(*tags);
}

asio::awaitable<bool> backend_reachable(const config::UpstreamConfig& up) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(up.target.host, std::to_string(up.target.port), use_tuple);
  if (rec) co_return false;
  beast::tcp_stream s(ex);
  s.expires_after(up.connect_timeout);
  auto [cec, ep] = co_await s.async_connect(endpoints, use_tuple);
  co_return !cec;
}

asio::awaitable<Response> purge(http::Server& server, const Request& req) {
  boost::system::error_code ec;
  auto body = json::parse(req.body(), ec);
  if (ec || !body.is_object())
    co_return error(
        req, 400,
        R"(expected a JSON object: {"tags": [...]}, {"rule": "...", "path": "..."} or {"url": "..."})");
  const auto& o = body.as_object();
  // One selector, and no member it would not read: a purge that silently ignored half of what it was given
  // would look done.
  for (const auto& member : o)
    if (member.key() != "tags" && member.key() != "url" && member.key() != "path" && member.key() != "rule")
      co_return error(req, 400,
                      "unknown member '" + std::string(member.key()) + "': tags, rule and path, or url");
  if (o.contains("tags") + (o.contains("url") || o.contains("path") || o.contains("rule")) > 1 ||
      (o.contains("url") && o.contains("path")))
    co_return error(req, 400,
                    R"(give one of {"tags": [...]}, {"rule": "...", "path": "..."} or {"url": "..."})");
  auto rt = server.current_runtime();
  std::vector<std::string> tags;
  if (auto it = o.find("tags"); it != o.end()) {
    if (!it->value().is_array()) co_return error(req, 400, "'tags' must be a list of strings");
    for (const auto& t : it->value().as_array()) {
      if (!t.is_string() || t.as_string().empty())
        co_return error(req, 400, "'tags' must be a list of strings");
      tags.emplace_back(t.as_string());
    }
  } else if (o.contains("url") || o.contains("path")) {
    const auto& given = o.contains("url") ? o.at("url") : o.at("path");
    // An absolute URL or a path, with or without a query (RFC 3986 URI-reference): its path is purged.
    if (!given.is_string()) co_return error(req, 400, "'url' (or 'path') must be a string");
    const std::string_view text(given.as_string());
    constexpr std::string_view kNotAUri = "'url' (or 'path') must be a URL or a path (RFC 3986)";
    // A path, or an absolute URL with an authority (what else reaches Boost.URL 1.81 may make it assert).
    const bool a_path = !text.empty() && text.front() == '/' && util::uri_characters_only(text);
    if (!a_path && !util::uri_with_authority(text, "http") && !util::uri_with_authority(text, "https"))
      co_return error(req, 400, kNotAUri);
    auto url = boost::urls::parse_uri_reference(text);
    if (!url) co_return error(req, 400, kNotAUri);
    const auto encoded = url->encoded_path();
    std::string path(encoded.data(), encoded.size());
    // The rule that takes a GET of it: on the URL's host and query when it has them (a rule's header
    // conditions count as met).
    const auto query_text = url->encoded_query();
    const util::Query query(std::string_view(query_text.data(), query_text.size()));
    const auto host = url->encoded_host();
    std::optional<rules::Match> m;
    if (rt->rulebook)
      m = rt->rulebook->match({"GET", path, &query, std::string_view(host.data(), host.size()),
                               [](std::string_view) { return true; }});
    if (auto rule = o.find("rule"); rule != o.end()) {
      // By rule and path: the path must be one that rule caches.
      if (!rt->rulebook) co_return error(req, 404, "no rules are loaded");
      if (!m || !rule->value().is_string() || m->rule->cfg.name != rule->value().as_string())
        co_return error(req, 404, "that path is not cached by that rule");
    }
    auto segments = rules::split_request_path(path);
    if (!segments || path.empty() || path[0] != '/')
      co_return error(req, 400, "expected a path starting with '/'");
    // Every entry of that path, any query and scope: the tag its reads carry, in the rule's spelling of the
    // path when a rule takes it (with routing.case_insensitive, /API/V1/RISKS fills /api/v1/risks's entries).
    tags.push_back(m ? cache::uri_tag(*m) : "uri:" + rules::join_path(*segments));
  } else {
    co_return error(req, 400, "expected 'tags', 'url', or 'rule' with 'path'");
  }
  if (!server.first_worker().storage()) co_return error(req, 503, "caching is off");
  // A draining worker's loop ends with its last connection (and its storage closes): a purge posted to it
  // would never run. Purge through an instance that is not shutting down.
  if (server.shutting_down()) co_return error(req, 503, "shutting down: purge through another instance");
  // Run on a worker whose loop turns: one that stopped would never answer.
  auto* responsive = server.responsive_worker();
  if (!responsive) co_return error(req, 503, "no worker answers: see the daemon's log");
  auto& worker = *responsive;
  auto result = co_await asio::co_spawn(
      worker.context(), purge_in_worker(&worker, std::make_shared<const std::vector<std::string>>(tags)),
      asio::use_awaitable);
  if (result != cache::StorageStatus::ok)
    co_return error(req, 503, "storage " + std::string(cache::to_string(result)));
  json::array t;
  for (const auto& tag : tags) t.emplace_back(tag);
  spdlog::info("admin: purged the entries of {}", json::serialize(t));
  co_return json_reply(req, 200, json::object{{"purged", true}, {"tags", t}});
}

Response rules_listing(http::Server& server, const Request& req) {
  auto rt = server.current_runtime();
  json::array list;
  if (rt->rulebook)
    for (const auto& r : rt->rulebook->rules()) {
      json::object o{{"name", r.cfg.name}, {"path", r.cfg.path}, {"action", config::to_string(r.cfg.action)}};
      json::array methods;
      for (const auto& m : r.cfg.methods) methods.emplace_back(m);
      o["methods"] = methods;
      json::array tags;
      for (const auto& t : r.tags) tags.emplace_back(t.source);
      if (r.cfg.action == config::ActionKind::cache) {
        o["scope"] = config::to_string(r.cfg.cache.scope);
        if (!r.cfg.cache.permission.empty()) o["permission"] = r.cfg.cache.permission;
        o["ttl"] = r.cfg.cache.ttl_origin ? std::string("origin") : util::format_duration(r.cfg.cache.ttl);
        o["verify"] = r.cfg.cache.verify;
      }
      o["tags"] = tags;
      // A tag from the backend's answer ({answer.field}): the tag purged when the answer lacks the field.
      json::object fallbacks;
      for (std::size_t i = 0; i < r.tags.size() && i < r.fallbacks.size(); ++i)
        if (r.fallbacks[i]) fallbacks[r.tags[i].source] = r.fallbacks[i]->source;
      if (!fallbacks.empty()) o["fallbacks"] = fallbacks;
      o["defined_at"] = r.cfg.pos.file + ":" + std::to_string(r.cfg.pos.line);
      list.emplace_back(std::move(o));
    }
  json::array files;
  for (const auto& f : rt->config->files) files.emplace_back(f);
  return json_reply(req, 200,
                    json::object{{"source", rt->config->source_file},
                                 {"files", files},
                                 {"sha256", rt->config->content_sha256},
                                 {"rules", list}});
}

// The latest mismatches of verify mode (cache.verify), the newest first: never a key's material or a
// credential.
Response verify_listing(http::Server& server, const Request& req) {
  const auto config = server.current_config();  // kept: a reload may swap it meanwhile
  const auto& cfg = config->cache.verify;
  json::array list;
  for (const auto& m : server.verifier()->mismatches()) {
    json::array tags;
    for (const auto& t : m.tags)
      tags.emplace_back(
          json::object{{"tag", t.tag},
                       {"last_purged", t.purged_at_ms ? json::value(cache::rfc3339(*t.purged_at_ms))
                                                      : json::value(nullptr)}});
    list.emplace_back(json::object{{"rule", m.rule},
                                   {"key", m.key},
                                   {"at", cache::rfc3339(m.at_ms)},
                                   {"age_s", m.age_s},
                                   {"cached_status", m.cached_status},
                                   {"backend_status", m.backend_status},
                                   {"tags", tags}});
  }
  // The numbers in their shortest form (Boost.JSON would write 0.001 as 1E-3), then the list.
  return reply(req, 200,
               fmt::format(R"({{"sample":{},"max_per_second":{},"concurrency":{},"keep":{},"in_flight":{},)"
                           R"("mismatches":{}}})",
                           cfg.sample, cfg.max_per_second, cfg.concurrency, cfg.keep,
                           server.verifier()->in_flight(), json::serialize(list)) +
                   "\n");
}

// Waits for the reload's outcome without holding the thread (the file is read on another one).
asio::awaitable<ReloadOutcome> reload_outcome(const AdminServer::Reload& reload) {
  return asio::async_initiate<decltype(asio::use_awaitable), void(ReloadOutcome)>(
      [&reload](auto handler) {
        // std::function needs a copyable target; the coroutine's handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        reload([shared](ReloadOutcome outcome) { (*shared)(std::move(outcome)); });
      },
      asio::use_awaitable);
}

asio::awaitable<Response> route(http::Server& server, const AdminServer::Reload& reload, const Request& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  const bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
  if (path == "/healthz") co_return json_reply(req, 200, json::object{{"status", "ok"}});
  if (path == "/metrics" && get) {
    auto& m = metrics::Metrics::get();
    m.set_redis_up(server.first_worker().storage_up());
    m.set_access_log_dropped(log::access_log_dropped());
    m.update_process();
    const auto& t = redis::topology_stats();
    constexpr auto relaxed = std::memory_order_relaxed;
    m.set_redis_topology({t.cluster_moved.load(relaxed), t.cluster_ask.load(relaxed),
                          t.cluster_maps.load(relaxed), t.cluster_maps_failed.load(relaxed),
                          t.cluster_masters.load(relaxed), t.sentinel_failovers.load(relaxed)});
    co_return reply(req, 200, m.render(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (path == "/readyz" && get) {
    auto rt = server.current_runtime();
    bool backend = co_await backend_reachable(rt->config->upstream);
    auto* s = server.first_worker().storage();
    // A worker whose loop stopped would take its share of the connections and never answer them.
    const bool draining = server.shutting_down();  // a load balancer sends no new connection meanwhile
    // (A draining worker's status tick has stopped: it is not counted as stalled.)
    const std::size_t stalled = draining ? 0 : server.stalled_workers();
    const bool ready = backend && stalled == 0 && !draining;
    json::object o{{"ready", ready},
                   {"draining", draining},
                   {"config", rt->config->source_file},
                   {"backend", backend ? "up" : "down"},
                   {"storage", s ? json::value(std::string(s->name())) : json::value(nullptr)},
                   {"storage_up", server.first_worker().storage_up()},
                   {"workers_stalled", stalled}};
    co_return json_reply(req, ready ? 200 : 503, o);
  }
  if (path.rfind("/admin/", 0) == 0) {
    const std::string& token = server.current_config()->admin.token;
    if (token.empty())
      co_return error(req, 404, "admin endpoints are off: set admin.token (or admin.token_file)");
    std::string_view auth = req[bhttp::field::authorization];
    if (auth.size() < 7 || !util::iequals(auth.substr(0, 7), "bearer ") ||
        !util::secret_equal(token, util::trim(auth.substr(7)))) {
      spdlog::warn("admin: {} {} refused: missing or wrong bearer token", req.method_string(), path);
      Response res = error(req, 401, "missing or wrong bearer token");
      res.set(bhttp::field::www_authenticate, "Bearer");
      co_return res;
    }
    if (path == "/admin/purge" && req.method() == bhttp::verb::post) co_return co_await purge(server, req);
    if (path == "/admin/reload" && req.method() == bhttp::verb::post) {
      if (server.shutting_down())
        co_return error(req, 503, "shutting down: the configuration is not reloaded");
      auto outcome = co_await reload_outcome(reload);
      json::array errors, warnings;
      for (const auto& e : outcome.errors) errors.emplace_back(e);
      for (const auto& w : outcome.warnings) warnings.emplace_back(w);
      spdlog::info("admin: reload requested: {}", outcome.ok ? "ok" : "failed, previous configuration kept");
      co_return json_reply(req, outcome.ok ? 200 : 422,
                           json::object{{"ok", outcome.ok}, {"errors", errors}, {"warnings", warnings}});
    }
    if (path == "/admin/rules" && get) co_return rules_listing(server, req);
    if (path == "/admin/verify" && get) co_return verify_listing(server, req);
  }
  // A known path asked with another method: 405 with the methods it takes (RFC 9110 section 15.5.6).
  for (auto [known, allow] :
       {std::pair{"/metrics", "GET, HEAD"}, std::pair{"/readyz", "GET, HEAD"},
        std::pair{"/admin/purge", "POST"}, std::pair{"/admin/reload", "POST"},
        std::pair{"/admin/rules", "GET, HEAD"}, std::pair{"/admin/verify", "GET, HEAD"}})
    if (path == known) {
      Response res = error(req, 405, std::string("method not allowed: ") + allow);
      res.set(bhttp::field::allow, allow);
      co_return res;
    }
  co_return error(req, 404, "not found");
}

asio::awaitable<void> session(tcp::socket socket, http::Server& server, AdminServer::Reload reload) {
  beast::tcp_stream stream(std::move(socket));
  // Bounded (below config::kMaxReadBuffer): a chunk-size line or a trailer section gets 400 past it.
  constexpr std::size_t kReadBuffer = 16 * 1024;
  static_assert(kReadBuffer <= config::kMaxReadBuffer);
  beast::flat_buffer buf(kReadBuffer);
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(8 * 1024);
    parser.body_limit(kBodyLimit);
    stream.expires_after(kTimeout);
    auto [ec, n] = co_await bhttp::async_read(stream, buf, parser, use_tuple);
    if (ec) {
      if (ec != bhttp::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::eof) {
        Request dummy;
        auto res = ec == bhttp::error::body_limit     ? error(dummy, 413, "request body too large")
                   : ec == bhttp::error::header_limit ? error(dummy, 431, "request header fields too large")
                                                      : error(dummy, 400, "malformed request");
        res.keep_alive(false);
        co_await bhttp::async_write(stream, res, use_tuple);
      }
      break;
    }
    Request req = parser.release();
    Response res = co_await route(server, reload, req);
    if (req.method() == bhttp::verb::head) res.body().clear();
    stream.expires_after(kTimeout);
    auto [wec, wn] = co_await bhttp::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

AdminServer::AdminServer(asio::io_context& ctx, http::Server& server, Reload reload)
    : ctx_(ctx), server_(server), reload_(std::move(reload)), acceptor_(ctx) {}

void AdminServer::start(const config::HostPort& listen) {
  tcp::endpoint ep(asio::ip::make_address(listen.host), listen.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen();
  accept();
}

config::HostPort AdminServer::bound_address() const {
  auto ep = acceptor_.local_endpoint();
  return {ep.address().to_string(), ep.port()};
}

void AdminServer::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void AdminServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) asio::co_spawn(ctx_, session(std::move(socket), server_, reload_), asio::detached);
    accept();
  });
}

}  // namespace orc::admin
