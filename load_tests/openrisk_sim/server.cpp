// Connections, one coroutine each on its own strand: read a request (bounded head and body), count it,
// apply the injected fault and the latency with a timer, run the router, write the answer (buffered,
// generated in chunks, or as an SSE stream fed by the hub through the connection's strand).
#include "openrisk_sim/server.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <deque>
#include <sstream>
#include <thread>

#include "openrisk_sim/faults.hpp"
#include "openrisk_sim/handlers.hpp"
#include "openrisk_sim/jwt.hpp"
#include "openrisk_sim/request_counters.hpp"
#include "openrisk_sim/router.hpp"
#include "openrisk_sim/sse_hub.hpp"

namespace orc::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kDefaultHang = std::chrono::hours(1);
constexpr std::size_t kFillerBlock = 64 * 1024;

// helmet defaults (both revisions) plus HEAD's CSP: what every backend response carries.
void add_backend_headers(http::fields& f, bool head_revision) {
  f.set("X-XSS-Protection", "0");
  f.set("X-Content-Type-Options", "nosniff");
  f.set("X-Frame-Options", "SAMEORIGIN");
  f.set("Referrer-Policy", "no-referrer");
  f.set("Cross-Origin-Embedder-Policy", "require-corp");
  f.set("Cross-Origin-Opener-Policy", "same-origin");
  f.set("Cross-Origin-Resource-Policy", "same-origin");
  f.set("Origin-Agent-Cluster", "?1");
  f.set("X-DNS-Prefetch-Control", "off");
  f.set("X-Download-Options", "noopen");
  f.set("X-Permitted-Cross-Domain-Policies", "none");
  if (head_revision)
    f.set("Content-Security-Policy",
          "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
}

const std::string& filler() {
  static const std::string block = [] {
    std::string b;
    while (b.size() < kFillerBlock)
      b += "% openrisk-sim export filler 0123456789abcdefghijklmnopqrstuvwxyz\n";
    b.resize(kFillerBlock);
    return b;
  }();
  return block;
}

// Tokens travel in the SSE query string: keep them out of the log.
std::string redact(std::string_view target) {
  std::string out(target);
  auto pos = out.find("token=");
  if (pos != std::string::npos && (pos == 0 || out[pos - 1] == '?' || out[pos - 1] == '&')) {
    auto end = out.find('&', pos);
    out.replace(pos + 6, (end == std::string::npos ? out.size() : end) - pos - 6, "REDACTED");
  }
  return out;
}

bool quiet_end(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == http::error::partial_message;
}

}  // namespace

struct SimServer::Impl {
  Impl(const SimContext& c, const Router& r, int threads)
      : ctx(c), router(r), latency(c.opts), ioc(threads), acceptor(ioc), signals(ioc, SIGINT, SIGTERM) {}

  const SimContext& ctx;
  const Router& router;
  LatencyModel latency;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  std::atomic<bool> stopping{false};

  bool head_revision() const { return ctx.jwt.mode() == JwtMode::rs256; }

  http::response<http::string_body> make_response(Response& res, unsigned version, bool keep_alive) const {
    http::response<http::string_body> r{static_cast<http::status>(res.status), version};
    add_backend_headers(r, head_revision());
    if (!res.content_type.empty()) r.set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) r.insert(k, v);
    r.set("X-Sim-Version", std::to_string(res.version));
    r.keep_alive(keep_alive);
    r.body() = std::move(res.body);
    if (res.status != 204) r.prepare_payload();
    return r;
  }

  asio::awaitable<bool> write_buffered(beast::tcp_stream& stream, Response& res, unsigned version,
                                       bool keep_alive, bool head) {
    auto r = make_response(res, version, keep_alive);
    if (head) r.body().clear();  // Content-Length stays that of the GET
    stream.expires_after(kWriteTimeout);
    auto [ec, n] = co_await http::async_write(stream, r, use_tuple);
    co_return !ec;
  }

  // The head, then `body` as a prefix and filler up to `generated_size`; stops after `limit` body bytes.
  asio::awaitable<bool> write_generated(beast::tcp_stream& stream, Response& res, unsigned version,
                                        bool keep_alive, bool head, std::uint64_t limit) {
    http::response<http::empty_body> r{static_cast<http::status>(res.status), version};
    add_backend_headers(r, head_revision());
    r.set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) r.insert(k, v);
    r.set("X-Sim-Version", std::to_string(res.version));
    r.keep_alive(keep_alive);
    r.content_length(res.generated_size);
    http::response_serializer<http::empty_body> sr{r};
    stream.expires_after(kWriteTimeout);
    auto [ec, n] = co_await http::async_write_header(stream, sr, use_tuple);
    if (ec) co_return false;
    if (head) co_return true;
    std::uint64_t total = std::min(res.generated_size, limit);
    std::uint64_t sent = 0;
    while (sent < total) {
      asio::const_buffer chunk;
      if (sent < res.body.size())
        chunk = asio::buffer(res.body.data() + sent,
                             std::min<std::uint64_t>(res.body.size() - sent, total - sent));
      else
        chunk = asio::buffer(filler().data(), std::min<std::uint64_t>(filler().size(), total - sent));
      stream.expires_after(kWriteTimeout);
      auto [wec, wn] = co_await asio::async_write(stream, chunk, use_tuple);
      if (wec) co_return false;
      sent += wn;
    }
    co_return sent == res.generated_size;
  }

  // Fault `close`: a truncated answer, then the connection goes away.
  asio::awaitable<void> write_truncated(beast::tcp_stream& stream, Response& res, unsigned version,
                                        std::int64_t after_bytes) {
    if (res.kind == BodyKind::generated) {
      std::uint64_t limit =
          after_bytes >= 0 ? static_cast<std::uint64_t>(after_bytes) : res.generated_size / 2;
      co_await write_generated(stream, res, version, true, false,
                               std::min(limit, res.generated_size ? res.generated_size - 1 : 0));
    } else {
      auto r = make_response(res, version, true);
      std::ostringstream head;
      head << r.base();
      std::string bytes = head.str();
      std::size_t cut;
      if (r.body().empty()) {
        cut = bytes.size() / 2;
      } else {
        std::size_t want = after_bytes >= 0 ? static_cast<std::size_t>(after_bytes) : r.body().size() / 2;
        cut = bytes.size() + std::min(want, r.body().size() - 1);
        bytes += r.body();
      }
      stream.expires_after(kWriteTimeout);
      co_await asio::async_write(stream, asio::buffer(bytes.data(), cut), use_tuple);
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
  }

  // Fault `hang`: never answer; keep reading (and discarding) until the client leaves or time runs out.
  asio::awaitable<void> hang(beast::tcp_stream& stream, std::chrono::milliseconds d) {
    stream.expires_after(d.count() > 0 ? std::chrono::steady_clock::duration(d) : kDefaultHang);
    char sink[1024];
    for (;;) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
      if (ec) break;
    }
  }

  struct SseState {
    SseState(asio::any_io_executor ex, std::size_t lim) : timer(std::move(ex)), limit(lim) {}
    asio::steady_timer timer;
    std::deque<SseHub::Frame> queue;
    std::size_t limit;
    bool overflow = false;
  };

  asio::awaitable<void> run_sse(beast::tcp_stream& stream, Response& res, unsigned version, bool head) {
    asio::any_io_executor ex = co_await asio::this_coro::executor;  // this connection's strand
    auto st = std::make_shared<SseState>(ex, ctx.opts.sse_queue_limit);
    std::weak_ptr<SseState> weak = st;
    // Subscribe before the head goes out, so every write after the client sees ": connected" is delivered.
    auto id = ctx.hub.subscribe(res.tenant_id, [weak, ex](SseHub::Frame f) {
      asio::post(ex, [weak, f = std::move(f)]() mutable {
        auto s = weak.lock();
        if (!s) return;
        if (s->queue.size() >= s->limit)
          s->overflow = true;  // a subscriber that cannot keep up is dropped, not buffered without end
        else
          s->queue.push_back(std::move(f));
        s->timer.cancel();
      });
    });
    if (!id) {
      Response busy = fiber_error(503, "Too many event stream subscribers");
      co_await write_buffered(stream, busy, version, false, head);
      co_return;
    }
    struct Unsubscribe {
      SseHub& hub;
      std::uint64_t id;
      ~Unsubscribe() { hub.unsubscribe(id); }
    } guard{ctx.hub, *id};

    http::response<http::empty_body> r{http::status::ok, version};
    add_backend_headers(r, head_revision());
    r.set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) r.set(k, v);
    r.set("X-Sim-Version", std::to_string(res.version));
    r.chunked(true);
    http::response_serializer<http::empty_body> sr{r};
    stream.expires_after(kWriteTimeout);
    auto [ec, n] = co_await http::async_write_header(stream, sr, use_tuple);
    if (ec || head) co_return;
    auto send = [&](std::string_view frame) -> asio::awaitable<bool> {
      stream.expires_after(kWriteTimeout);
      auto [wec, wn] = co_await asio::async_write(
          stream, http::make_chunk(asio::buffer(frame.data(), frame.size())), use_tuple);
      co_return !wec;
    };
    if (!co_await send(": connected\n\n")) co_return;
    for (;;) {
      while (!st->queue.empty()) {
        SseHub::Frame f = std::move(st->queue.front());
        st->queue.pop_front();
        if (!co_await send(*f)) co_return;
      }
      if (st->overflow || stopping) break;
      st->timer.expires_after(ctx.opts.sse_keepalive);
      auto [tec] = co_await st->timer.async_wait(use_tuple);
      if (!tec && !co_await send(": keepalive\n\n")) co_return;  // a failed write is how a gone client shows
    }
    stream.expires_after(kWriteTimeout);
    co_await asio::async_write(stream, http::make_chunk_last(), use_tuple);
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buf;
    const SimOptions& opts = ctx.opts;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(opts.max_header));
      parser.body_limit(opts.max_body);
      stream.expires_after(opts.idle_timeout);
      auto [ec, n] = co_await http::async_read(stream, buf, parser, use_tuple);
      if (ec) {
        if (quiet_end(ec)) break;
        Response err = fiber_error(ec == http::error::body_limit     ? 413
                                   : ec == http::error::header_limit ? 431
                                                                     : 400,
                                   ec == http::error::body_limit     ? "Request Entity Too Large"
                                   : ec == http::error::header_limit ? "Request Header Fields Too Large"
                                                                     : "Bad Request");
        co_await write_buffered(stream, err, 11, false, false);
        break;
      }
      auto& msg = parser.get();
      Request req;
      req.method = std::string(msg.method_string());
      std::string_view target = msg.target();
      auto q = target.find('?');
      req.path = std::string(target.substr(0, q));
      if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
      req.authorization = std::string(msg[http::field::authorization]);
      // Every Cookie line, as one: fasthttp collects the cookies of each (and HTTP/2 splits one into several,
      // RFC 9113 section 8.2.3), so a credential in a second line counts as the backend counts it.
      for (auto [it, end] = msg.equal_range(http::field::cookie); it != end; ++it) {
        if (!req.cookie.empty()) req.cookie += "; ";
        req.cookie.append(it->value().data(), it->value().size());
      }
      req.csrf_token = std::string(msg["X-CSRF-Token"]);
      req.body = std::move(msg.body());
      bool keep_alive = msg.keep_alive();
      bool head = msg.method() == http::verb::head;
      unsigned version = msg.version();

      Router::Match match = router.match(req);
      RouteClass cls = router.route_class(match);
      std::optional<FaultHit> fault;
      if (cls != RouteClass::sim) {
        ctx.counters.count(match.route);
        fault = ctx.faults.take(router.route_name(match));
        auto delay = latency.draw(cls);
        if (fault && fault->mode == FaultMode::slow) delay += fault->delay;
        if (delay.count() > 0) {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          timer.expires_after(delay);
          co_await timer.async_wait(use_tuple);
        }
        if (fault && fault->mode == FaultMode::hang) {
          co_await hang(stream, fault->delay);
          break;
        }
      }
      Response res = fault && fault->mode == FaultMode::error ? router.fault_response(fault->status)
                                                              : router.handle(match, req);
      if (opts.log_requests)
        spdlog::info("{} {} -> {} [{}] v{}", req.method, redact(target), res.status, router.route_name(match),
                     res.version);
      if (fault && fault->mode == FaultMode::close) {
        co_await write_truncated(stream, res, version, fault->after_bytes);
        co_return;
      }
      if (res.kind == BodyKind::sse) {
        co_await run_sse(stream, res, version, head);
        break;
      }
      bool ok = res.kind == BodyKind::generated
                    ? co_await write_generated(stream, res, version, keep_alive, head, res.generated_size)
                    : co_await write_buffered(stream, res, version, keep_alive, head);
      if (!ok || !keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      tcp::socket socket(asio::make_strand(ioc));
      auto [ec] = co_await acceptor.async_accept(socket, use_tuple);
      if (ec) {
        if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
        // Out of descriptors and the like: back off briefly instead of spinning.
        asio::steady_timer t(ioc, std::chrono::milliseconds(50));
        co_await t.async_wait(use_tuple);
        continue;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto ex = socket.get_executor();
      asio::co_spawn(ex, session(std::move(socket)), asio::detached);
    }
  }
};

SimServer::SimServer(const SimContext& ctx, const Router& router)
    : impl_(std::make_unique<Impl>(ctx, router, ctx.opts.threads)) {}

SimServer::~SimServer() = default;

std::uint16_t SimServer::listen(const std::string& host, std::uint16_t port) {
  tcp::endpoint ep(asio::ip::make_address(host), port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol());
  a.set_option(asio::socket_base::reuse_address(true));
  a.bind(ep);
  a.listen(asio::socket_base::max_listen_connections);
  return a.local_endpoint().port();
}

void SimServer::run(int threads) {
  impl_->signals.async_wait([this](const beast::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {} received, stopping", sig);
    stop();
  });
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : pool) t.join();
}

void SimServer::stop() {
  impl_->stopping = true;
  asio::post(impl_->ioc, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->ioc.stop();
  });
}

}  // namespace orc::sim
