// Forwarding: the request to the backend (head, then the body in chunks) and the response back to the
// client (head, then the body in chunks), with hooks for the cache flows. Bodies are never held whole.
#include <spdlog/spdlog.h>
#include <boost/asio/write.hpp>

#include <array>

#include "http/error_response.hpp"
#include "http/exchange.hpp"
#include "http/header_rewrite.hpp"
#include "http/request_checks.hpp"
#include "http/upstream_pool.hpp"
#include "http/worker.hpp"
#include "util/strings.hpp"

namespace orc::http {

namespace {

constexpr std::size_t kChunk = 16 * 1024;
constexpr std::size_t kUpstreamHeaderLimit = 64 * 1024;
constexpr std::size_t kUpstreamBuffer = 64 * 1024;

bool idempotent(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::options:
    case bhttp::verb::trace:
    case bhttp::verb::put:
    case bhttp::verb::delete_:
      return true;
    default:
      return false;
  }
}

// The connection died under a pooled request before the backend said anything: safe to retry once.
bool dead_connection_error(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
}

// Relays the request body from the client to the backend, chunk by chunk. Returns the problem on the
// client side (none when all went well) and sets `upstream_ec` when the backend side failed.
asio::awaitable<RequestProblem> relay_request_body(Exchange& x,
                                                   bhttp::request_parser<bhttp::buffer_body>& parser,
                                                   bhttp::request<bhttp::buffer_body>& up_req,
                                                   bhttp::request_serializer<bhttp::buffer_body>& sr,
                                                   UpstreamConnection& up, beast::error_code& upstream_ec) {
  std::array<char, kChunk> data;
  while (!parser.is_done()) {
    parser.get().body().data = data.data();
    parser.get().body().size = data.size();
    x.client.expires_after(x.cfg.timeouts.client_body);
    auto [ec, n] = co_await bhttp::async_read_some(x.client, x.client_buf, parser, use_tuple);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      if (is_timeout(ec)) co_return RequestProblem::client_timeout;
      co_return classify_parse_error(ec, {}, x.cfg.limits);
    }
    std::size_t got = data.size() - parser.get().body().size;
    if (got == 0 && !parser.is_done()) continue;
    up_req.body().data = got ? data.data() : nullptr;
    up_req.body().size = got;
    up_req.body().more = !parser.is_done();
    up.stream.expires_after(x.cfg.upstream.send_timeout);
    auto [wec, wn] = co_await bhttp::async_write(up.stream, sr, use_tuple);
    if (wec == bhttp::error::need_buffer) wec = {};
    if (wec) {
      upstream_ec = wec;
      co_return RequestProblem::none;
    }
  }
  if (!sr.is_done()) {
    // The last read completed the message with no new bytes: finish the upstream message (last chunk).
    up_req.body().data = nullptr;
    up_req.body().size = 0;
    up_req.body().more = false;
    up.stream.expires_after(x.cfg.upstream.send_timeout);
    auto [wec, wn] = co_await bhttp::async_write(up.stream, sr, use_tuple);
    if (wec == bhttp::error::need_buffer) wec = {};
    if (wec) upstream_ec = wec;
  }
  co_return RequestProblem::none;
}

}  // namespace

asio::awaitable<ForwardResult> forward(Exchange& x, RequestParser& parser, ForwardHooks& hooks) {
  auto& req = parser.get();
  const bool has_body = parser.chunked() || (parser.content_length() && *parser.content_length() > 0);
  const bhttp::verb method = req.method();
  bool client_keep_alive = req.keep_alive() && !x.worker.draining();
  const unsigned client_version = req.version();
  const bool expect_continue = has_body && util::iequals(req[bhttp::field::expect], "100-continue");

  // The request as it leaves for the backend.
  bhttp::request<bhttp::buffer_body> up_req;
  up_req.base() = req.base();
  up_req.version(11);
  up_req.target(x.origin_target);
  strip_hop_by_hop(up_req.base());
  up_req.erase(bhttp::field::expect);  // the proxy answers 100-continue itself
  if (hooks.unconditional) strip_validators(up_req.base());
  if (up_req.find(bhttp::field::host) == up_req.end())
    up_req.set(bhttp::field::host, x.cfg.upstream.authority);
  add_forwarding_headers(up_req.base(), {x.peer, x.request_id});
  if (parser.chunked()) up_req.chunked(true);

  std::unique_ptr<UpstreamConnection> up;
  beast::flat_buffer up_buf;
  up_buf.reserve(kUpstreamBuffer);  // Beast reads at most the free capacity: a small buffer means tiny reads
  std::optional<bhttp::response_parser<bhttp::buffer_body>> rp;
  auto upstream_start = Clock::now();
  bool body_consumed = !has_body;

  // The backend could not be reached or did not answer: 502 / 504 in its error shape (or a stale entry).
  auto fail = [&](beast::error_code ec, bool connecting) -> asio::awaitable<ForwardResult> {
    x.upstream_time = since(upstream_start);
    x.rule_metrics->upstream(0, std::chrono::duration<double>(x.upstream_time).count());
    x.outcome = "upstream_error";
    const bool timed_out = is_timeout(ec);
    const unsigned code = timed_out ? 504 : 502;
    spdlog::warn(
        "request {} {} {}: upstream {} failed: {}", x.request_id, x.method, x.safe_target(),
        x.cfg.upstream.target.to_string(),
        timed_out ? (connecting ? "connect timeout" : "timeout waiting for the response") : ec.message());
    if (hooks.on_failure && body_consumed)
      if (auto handled = co_await hooks.on_failure(code)) co_return ForwardResult{*handled, false};
    std::string_view msg = timed_out ? (connecting ? "upstream connect timeout" : "upstream timeout")
                                     : (connecting ? "upstream unavailable" : "upstream connection failed");
    bool keep = co_await x.send_error(code, msg, client_keep_alive && body_consumed);
    co_return ForwardResult{keep, false};
  };

  for (int attempt = 0;; ++attempt) {
    upstream_start = Clock::now();
    auto [aec, conn] = co_await x.worker.pool().acquire(x.cfg.upstream, attempt > 0);
    if (aec) co_return co_await fail(aec, true);
    up = std::move(conn);
    const bool retryable = up->reused && attempt == 0 && !has_body && idempotent(method);

    bhttp::request_serializer<bhttp::buffer_body> sr(up_req);
    up_req.body().data = nullptr;
    up_req.body().size = 0;
    up_req.body().more = has_body;
    up->stream.expires_after(x.cfg.upstream.send_timeout);
    beast::error_code send_ec;
    if (has_body) {
      auto [wec, wn] = co_await bhttp::async_write_header(up->stream, sr, use_tuple);
      send_ec = wec;
    } else {
      auto [wec, wn] = co_await bhttp::async_write(up->stream, sr, use_tuple);
      send_ec = wec;
    }
    if (send_ec && retryable && dead_connection_error(send_ec)) continue;

    if (!send_ec && has_body) {
      if (expect_continue) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        x.client.expires_after(x.cfg.timeouts.client_send);
        auto [cec, cn] = co_await asio::async_write(x.client, asio::buffer(kContinue), use_tuple);
        if (cec) co_return ForwardResult{};
      }
      RequestProblem body_problem = co_await relay_request_body(x, parser, up_req, sr, *up, send_ec);
      if (body_problem != RequestProblem::none) {
        x.outcome = "rejected";
        spdlog::info("request {} from {}: {} while reading the body", x.request_id, x.peer,
                     describe(body_problem));
        co_await x.send_error(status_for(body_problem), describe(body_problem), false);
        co_return ForwardResult{};
      }
      body_consumed = true;
    }

    if (!send_ec) {
      // Response head; informational (1xx) responses are relayed and the real one awaited.
      up->stream.expires_after(x.cfg.upstream.first_byte_timeout);
      for (;;) {
        rp.emplace();
        rp->header_limit(kUpstreamHeaderLimit);
        rp->body_limit(boost::none);
        if (method == bhttp::verb::head) rp->skip(true);
        auto [rec, rn] = co_await bhttp::async_read_header(up->stream, up_buf, *rp, use_tuple);
        if (rec) {
          send_ec = rec;
          break;
        }
        unsigned code = rp->get().result_int();
        if (code < 100 || code >= 200 || code == 101) break;
        if (code != 100 && client_version == 11) {
          bhttp::response<bhttp::empty_body> info{rp->get().result(), 11};
          info.base() = rp->get().base();
          strip_hop_by_hop(info.base());
          x.client.expires_after(x.cfg.timeouts.client_send);
          auto [iec, in] = co_await bhttp::async_write(x.client, info, use_tuple);
          if (iec) co_return ForwardResult{};
        }
      }
    }

    if (send_ec) {
      if (retryable && up_buf.size() == 0 && dead_connection_error(send_ec)) {
        spdlog::debug("request {}: pooled upstream connection was closed ({}); retrying on a new one",
                      x.request_id, send_ec.message());
        continue;
      }
      co_return co_await fail(send_ec, false);
    }
    break;
  }

  // The response as it leaves for the client.
  auto& up_res = rp->get();
  const unsigned code = up_res.result_int();
  x.rule_metrics->upstream(code, std::chrono::duration<double>(since(upstream_start)).count());
  x.status = code;
  const bool no_body = method == bhttp::verb::head || code == 204 || code == 304;
  const bool up_chunked = rp->chunked();
  const bool up_has_length = rp->content_length().has_value();

  bhttp::response<bhttp::buffer_body> res;
  res.base() = up_res.base();
  res.version(11);
  strip_hop_by_hop(res.base());
  add_response_headers(res.base(), x.request_id);
  if (hooks.on_head) co_await hooks.on_head(up_res.base(), res.base());
  if (!no_body && (up_chunked || !up_has_length)) {
    if (client_version == 11)
      res.chunked(true);  // keep chunked framing; a close-delimited body becomes chunked too
    else
      client_keep_alive = false;  // HTTP/1.0 has no chunked encoding: the close delimits the body
  }
  if (x.worker.draining()) client_keep_alive = false;
  res.keep_alive(client_keep_alive);

  bhttp::response_serializer<bhttp::buffer_body> rs(res);
  res.body().data = nullptr;
  res.body().size = 0;
  res.body().more = !no_body;
  // The head goes out on its own only when no body bytes came with it (a stream, a slow backend): else it
  // leaves with the first body bytes, in one write.
  if (no_body || up_buf.size() == 0) {
    x.client.expires_after(x.cfg.timeouts.client_send);
    auto [wec, wn] = co_await bhttp::async_write_header(x.client, rs, use_tuple);
    if (wec) {
      x.outcome = "client_gone";
      co_return ForwardResult{};
    }
  }

  // Back to the pool only when the exchange ended cleanly and nothing unasked followed it.
  auto release_upstream = [&] {
    if (!up) return;
    x.upstream_time = since(upstream_start);
    if (rp->is_done() && rp->keep_alive() && up_buf.size() == 0)
      x.worker.pool().release(std::move(up), x.cfg.upstream);
    up.reset();
  };
  bool body_complete_called = false;
  if (!no_body) {
    std::array<char, kChunk> data;
    while (!rp->is_done()) {
      up_res.body().data = data.data();
      up_res.body().size = data.size();
      up->stream.expires_after(x.cfg.upstream.read_timeout);
      auto [rec, rn] = co_await bhttp::async_read_some(up->stream, up_buf, *rp, use_tuple);
      if (rec == bhttp::error::need_buffer) rec = {};
      if (rec) {
        // Headers are gone already: the only honest signal left is an incomplete body.
        x.outcome = "upstream_error";
        x.upstream_time = since(upstream_start);
        spdlog::warn("request {} {} {}: upstream failed mid-body after {} bytes: {}", x.request_id, x.method,
                     x.safe_target(), x.bytes_sent, rec.message());
        co_return ForwardResult{};
      }
      std::size_t got = data.size() - up_res.body().size;
      if (got > 0 && hooks.tee && !hooks.tee_overflow) {
        if (hooks.tee->size() + got > hooks.tee_limit) {
          hooks.tee_overflow = true;  // past the limit: stop caching, keep relaying
          hooks.tee->clear();
        } else {
          hooks.tee->append(data.data(), got);
        }
      }
      if (rp->is_done() && !body_complete_called && hooks.on_body_complete) {
        // Stored before the client has the last bytes: its next request finds the entry.
        body_complete_called = true;
        release_upstream();
        co_await hooks.on_body_complete();
      }
      if (got == 0) continue;
      res.body().data = data.data();
      res.body().size = got;
      res.body().more = true;
      x.client.expires_after(x.cfg.timeouts.client_send);
      auto [cec, cn] = co_await bhttp::async_write(x.client, rs, use_tuple);
      if (cec == bhttp::error::need_buffer) cec = {};
      if (cec) {
        x.outcome = "client_gone";
        x.upstream_time = since(upstream_start);
        co_return ForwardResult{};
      }
      x.bytes_sent += got;
    }
    // The backend is done: its connection can serve the next request (of any client) before the last
    // chunk reaches this one.
    release_upstream();
    if (!body_complete_called && hooks.on_body_complete) {
      body_complete_called = true;
      co_await hooks.on_body_complete();
    }
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    x.client.expires_after(x.cfg.timeouts.client_send);
    auto [fec, fn] = co_await bhttp::async_write(x.client, rs, use_tuple);
    if (fec == bhttp::error::need_buffer) fec = {};
    if (fec) {
      x.outcome = "client_gone";
      co_return ForwardResult{};
    }
  }
  release_upstream();
  co_return ForwardResult{client_keep_alive, true};
}

}  // namespace orc::http
