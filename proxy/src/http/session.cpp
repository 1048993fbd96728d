// One downstream connection. Requests are handled one after another, so pipelined requests are answered
// strictly in order; each request is validated, matched against the rulebook and handed to its flow.
#include "http/session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <optional>

#include "http/error_response.hpp"
#include "http/exchange.hpp"
#include "http/header_rewrite.hpp"
#include "http/relay.hpp"
#include "http/request_checks.hpp"
#include "http/server.hpp"
#include "http/worker.hpp"
#include "log/access_log.hpp"
#include "util/query.hpp"
#include "util/random_id.hpp"
#include "util/strings.hpp"

namespace orc::http {

using tcp = asio::ip::tcp;

void Exchange::record() {
  if (status == 0 && method == "-") return;  // the client left before sending a request: nothing to count
  auto result = metrics::result_of(cache, outcome);
  rule_metrics->request(metrics::method_index(method), result,
                        std::chrono::duration<double>(Clock::now() - start).count());
  metrics::Metrics::get().served_bytes(result, bytes_sent);
  log_access();
}

void Exchange::log_access() {
  log::AccessRecord rec{peer,          method,     target,  status, bytes_sent, since(start),
                        upstream_time, request_id, outcome, rule,   cache};
  log::write_access(rec, cfg.logging);
}

std::string Exchange::safe_target() const {
  return log::redact_target(target, cfg.logging.redact_query);
}

asio::awaitable<bool> Exchange::send_error(unsigned code, std::string_view message, bool keep_alive) {
  if (request_id.empty()) request_id = util::random_request_id();
  co_return co_await send_own(
      make_error_response(code, message, request_id, keep_alive && !worker.draining()));
}

asio::awaitable<bool> Exchange::send_own(bhttp::response<bhttp::string_body> res) {
  status = res.result_int();
  client.expires_after(cfg.timeouts.client_send);
  auto [ec, n] = co_await bhttp::async_write(client, res, use_tuple);
  if (!ec) bytes_sent += res.body().size();  // (a client timeout closed the socket: nothing was sent)
  co_return !ec && res.keep_alive();
}

std::optional<std::string_view> HeaderView::operator()(std::string_view name) const {
  auto [first, last] = fields_.equal_range(name);
  if (first == last) return std::nullopt;
  if (std::next(first) == last) return std::string_view(first->value().data(), first->value().size());
  std::string all;
  for (auto it = first; it != last; ++it)
    util::append_field_value(all, name, std::string_view(it->value().data(), it->value().size()));
  return joined_.emplace_back(std::move(all));
}

namespace {

constexpr std::size_t kLingerBytes = 1024 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(2);

// RFC 9112 section 2.2: empty lines (CRLF) received before a request line are ignored (a client may end a
// body with an extra CRLF). Bounded by the head's deadline like any other byte of it.
void skip_empty_lines(beast::flat_buffer& buf) {
  const auto* data = static_cast<const char*>(buf.data().data());
  std::size_t n = 0;
  while (n + 2 <= buf.size() && data[n] == '\r' && data[n + 1] == '\n') n += 2;
  buf.consume(n);
}

// Refuses the request with `problem`'s status and closes the connection: the info line names the request id
// of its access line (a new one when the head gave none), and says why (`detail`, when there is more to say).
asio::awaitable<bool> reject(Exchange& x, RequestProblem problem, std::string_view detail = {}) {
  x.outcome = "rejected";
  if (x.request_id.empty()) x.request_id = util::random_request_id();
  spdlog::info("rejected request {} from {}: {}{}{}{}", x.request_id, x.peer, describe(problem),
               detail.empty() ? "" : " (", detail, detail.empty() ? "" : ")");
  co_await x.send_error(status_for(problem), describe(problem), false);
  co_return false;
}

// Handles one request on the connection. Returns whether the connection may carry another one.
asio::awaitable<bool> handle_request(Exchange& x) {
  const auto& limits = x.cfg.limits;
  bhttp::request_parser<bhttp::buffer_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
  parser.body_limit(limits.request_body);

  x.client.expires_after(x.cfg.timeouts.client_header);
  // The raw head first (see scan_request_head); then Beast parses it from the buffer. Past the header limit
  // the scan stops and the parser reports the limit.
  beast::error_code hec;
  bool head_in_buffer = false;
  for (;;) {
    skip_empty_lines(x.client_buf);
    const auto* data = static_cast<const char*>(x.client_buf.data().data());
    auto scan = scan_request_head(std::string_view(data, x.client_buf.size()));
    head_in_buffer = scan == HeadScan::complete;
    if (scan == HeadScan::bad)
      co_return co_await reject(x, RequestProblem::bad_framing,
                                "bare CR or LF, folded line or control byte in the head");
    if (scan == HeadScan::complete && unsupported_version(std::string_view(data, x.client_buf.size())))
      co_return co_await reject(x, RequestProblem::version);
    if (scan == HeadScan::complete || x.client_buf.size() > limits.header_bytes) break;
    auto [rec, rn] = co_await x.client.async_read_some(x.client_buf.prepare(4096), use_tuple);
    if (rec) {
      hec = rec;
      break;
    }
    x.client_buf.commit(rn);
  }
  // A head that is whole in the buffer (nearly always) is parsed where it lies: async_read_header would parse
  // the same bytes, but post its completion and resume this request only after every other ready
  // connection's work (docs/performance.md, "Responses that leave at once"). Otherwise (a head over the
  // limit, or one the parser wants more of) it reads and reports as before.
  bool parsed = false;
  if (!hec && head_in_buffer) {
    beast::error_code pec;
    x.client_buf.consume(parser.put(x.client_buf.data(), pec));  // as Beast's own read does
    if (pec != bhttp::error::need_more && (pec || parser.is_header_done())) {
      hec = pec;
      parsed = true;
    }
  }
  if (!hec && !parsed) {
    auto [ec, hn] = co_await bhttp::async_read_header(x.client, x.client_buf, parser, use_tuple);
    hec = ec;
  }
  if (hec) {
    if (hec == bhttp::error::end_of_stream || hec == asio::error::eof || hec == asio::error::connection_reset)
      co_return false;                     // the client went away between or inside a request head
    if (!parser.get().target().empty()) {  // the request line parsed: log what was asked
      x.method = std::string(parser.get().method_string());
      x.target = std::string(parser.get().target());
    }
    RequestProblem problem = is_timeout(hec) ? RequestProblem::client_timeout
                                             : classify_parse_error(hec, parser.get().target(), limits);
    co_return co_await reject(x, problem, hec.message());
  }

  auto& req = parser.get();
  x.method = std::string(req.method_string());
  x.target = std::string(req.target());
  auto incoming_id = req["X-Request-ID"];
  x.request_id = valid_request_id(incoming_id) ? std::string(incoming_id) : util::random_request_id();

  std::optional<std::uint64_t> content_length;
  if (auto cl = parser.content_length()) content_length = *cl;
  RequestProblem problem = check_request_head(req.base(), parser.chunked(), content_length, limits);
  if (problem == RequestProblem::none) {
    auto target = origin_form_target(req.target(), req[bhttp::field::host]);
    if (target)
      x.origin_target = std::move(*target);
    else
      problem = RequestProblem::bad_target;
  }
  if (problem != RequestProblem::none) co_return co_await reject(x, problem);

  // Max-Forwards: 0 on OPTIONS or TRACE (RFC 9110 section 7.6.2): this hop is the final recipient. OPTIONS
  // gets the methods the proxy relays; TRACE a 405, as from nginx (an echoed request can hand its cookies to
  // a script). A value above 0 goes on decremented (write_forwarded_head).
  // Answered without reading a body: the connection then closes, or the body would be read as the next
  // request (found by a probe: an OPTIONS with Max-Forwards: 0 smuggled a DELETE in its body).
  const bool has_body = announces_body(parser);
  if (max_forwards_of(req.base()) == 0) {
    x.outcome = "rejected";
    const bool trace = req.method() == bhttp::verb::trace;
    co_return co_await x.send_own(make_final_response(trace ? 405 : 200, x.request_id,
                                                      req.keep_alive() && !has_body && !x.worker.draining()));
  }

  // The plan decides (cache/plan.hpp); the worker's cache flow carries it out (cache/flow.hpp) over a Relay:
  // pass or stream (forwarded as they are), invalidate (writes), bypass or lookup (reads of a cache rule).
  auto& flow = x.worker.flow();
  auto* storage = flow.storage();
  auto& owed = x.worker.server().pending_purges();
  if (storage && !owed.empty()) co_await flow.replay_owed();  // first: the plan bypasses what is still owed
  const auto q = x.origin_target.find('?');
  const std::string_view origin_target = x.origin_target;
  const HeaderView headers(req.base());
  cache::RequestFacts facts{req.method_string(),
                            origin_target.substr(0, q),
                            q == std::string::npos ? std::string_view{} : origin_target.substr(q + 1),
                            req[bhttp::field::host],
                            has_body,
                            std::cref(headers)};
  auto plan = cache::plan({facts, x.cfg, storage != nullptr, x.rt.rulebook.get(), x.rt.verifier.get(), &owed,
                           x.worker.server().clock().now_s()});
  if (const auto* rule = plan.rule()) {
    x.rule = rule->cfg.name;
    x.rule_metrics = x.rt.rule_metrics[rule->index];
  }
  cache::Request request{req.method() == bhttp::verb::get,
                         facts.header,
                         x.request_id,
                         x.target,
                         x.cfg.logging.redact_query,
                         *x.rule_metrics,
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             x.cfg.upstream.first_byte_timeout + x.cfg.upstream.read_timeout)};
  // A write's answer may name other URIs of this host whose entries it changed (RFC 9111 section 4.4).
  if (plan.action == cache::Action::invalidate && x.rt.rulebook)
    request.uri_tag_of = [&](std::string_view reference) -> std::optional<std::string> {
      auto target = origin_form_target(reference, facts.host);
      if (!target) return std::nullopt;
      const auto q = target->find('?');
      const util::Query query(q == std::string::npos ? std::string_view{}
                                                     : std::string_view(*target).substr(q + 1));
      return cache::cached_uri_tag(*x.rt.rulebook, std::string_view(*target).substr(0, q), query, facts.host,
                                   cache::as_forwarded(facts.header));
    };
  Relay relay(x, parser, headers);
  auto served = co_await flow.serve(plan, request, relay, relay);
  x.cache = served.cache;
  co_return served.keep_alive;
}

}  // namespace

asio::awaitable<void> run_session(tcp::socket socket, Worker& worker) {
  beast::tcp_stream client(std::move(socket));
  ConnectionState state{&client, false};
  worker.register_connection(&state);
  struct Unregister {
    Worker& w;
    ConnectionState* s;
    ~Unregister() { w.unregister_connection(s); }
  } unregister{worker, &state};

  beast::error_code ec;
  auto remote = client.socket().remote_endpoint(ec);
  const std::string peer = ec ? std::string("-") : remote.address().to_string();
  client.socket().set_option(tcp::no_delay(true), ec);

  // Bounded (config::kMaxReadBuffer): a chunk-size line or a trailer section cannot outgrow it (400), and
  // the largest head (limits.header_bytes) and one more 4 KiB read of it fit.
  beast::flat_buffer buf(config::kMaxReadBuffer);
  std::string scratch;
  bool first = true;
  for (;;) {
    auto rt = worker.runtime();
    if (buf.size() == 0) {
      // Between requests: wait for the first byte under the keep-alive (or first-request) deadline. The
      // configuration is not held meanwhile: an idle connection keeps no reloaded-away one alive.
      if (worker.draining()) break;
      state.idle = true;
      const auto& timeouts = rt->config->timeouts;
      client.expires_after(first ? timeouts.client_header : timeouts.keepalive);
      rt.reset();
      auto [rec, n] = co_await client.async_read_some(buf.prepare(4096), use_tuple);
      state.idle = false;
      if (rec) break;  // closed, timed out, or cancelled by a drain: nothing in flight
      buf.commit(n);
      // The request starts now: a reload while the connection waited applies to it (the rules, the JWT
      // key, the limits), as to a request on a new connection.
      rt = worker.runtime();
    }
    const auto* cfg = rt->config.get();
    first = false;
    Exchange x{client, buf, worker, *rt, *cfg, peer, scratch};
    x.rule_metrics = rt->unmatched_metrics;
    auto& m = metrics::Metrics::get();
    m.inflight().Increment();
    bool keep = co_await handle_request(x);
    m.inflight().Decrement();
    x.record();
    if (!keep) break;
  }
  // Lingering close: half-close, then read and discard for a moment, so that unread request bytes do not
  // make the kernel answer with a reset that destroys the response the client has not read yet.
  client.socket().shutdown(tcp::socket::shutdown_send, ec);
  std::size_t discarded = 0;
  std::array<char, 4096> sink;
  while (discarded < kLingerBytes) {
    client.expires_after(kLingerTime);
    auto [rec, n] = co_await client.async_read_some(asio::buffer(sink), use_tuple);
    if (rec) break;
    discarded += n;
  }
  client.close();
}

}  // namespace orc::http
