// The cache flow's ports over Beast: see relay.hpp.
#include "http/relay.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>

#include "http/error_response.hpp"
#include "http/header_rewrite.hpp"
#include "http/request_checks.hpp"
#include "http/response_head.hpp"
#include "http/send_now.hpp"
#include "http/upstream_pool.hpp"
#include "http/worker.hpp"
#include "util/strings.hpp"

namespace orc::http {

namespace {

constexpr std::size_t kUpstreamHeaderLimit = 64 * 1024;
// The pieces a request body is read and relayed in, as a response's are (ReadBuffers::kChunk).
constexpr std::size_t kBodyPiece = ReadBuffers::kChunk;

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

// Why the backend's final response cannot be relayed (the client gets 502, the connection is dropped), or
// nothing when it can:
// - 101: it switches the connection to another protocol, which the proxy never asks for (it drops Upgrade);
//   what follows is not HTTP and must never reach another request (RFC 9110 section 15.2.2);
// - a status outside 100..599 (RFC 9110 section 15);
// - a transfer coding other than chunked alone ("gzip, chunked", or one close-delimited): the hop removes
//   Transfer-Encoding, so its bytes would reach the client, or the cache, still coded and unreadable.
std::optional<std::string> unrelayable(const bhttp::response_header<>& h) {
  const unsigned code = h.result_int();
  if (code == 101) return "101 Switching Protocols, for a request that asked for no upgrade";
  if (code < 100 || code > 599) return "the invalid status " + std::to_string(code);
  const auto codings = h.equal_range(bhttp::field::transfer_encoding);
  if (codings.first != codings.second && (std::next(codings.first) != codings.second ||
                                          !util::iequals(util::trim(codings.first->value()), "chunked")))
    return "Transfer-Encoding '" + std::string(codings.first->value()) + "', which the proxy does not relay";
  return std::nullopt;
}

// Whether the backend's connection may carry another request once this response is read whole: not after an
// HTTP/1.0 response with Transfer-Encoding, whose framing RFC 9112 section 6.1 calls faulty.
bool reusable_after(const bhttp::response_header<>& h) {
  return h.version() >= 11 || h.find(bhttp::field::transfer_encoding) == h.end();
}

// One gather write of a message: the head if still pending, a piece of the body (framed as a chunk when the
// body goes chunked: an empty piece is no chunk, which would end the body) and, when `last`, the last chunk.
// The buffers point into `size_line`: built in place, never copied.
struct Frame {
  Frame(std::string_view head, std::string_view piece, bool chunked, bool last) {
    static constexpr std::string_view kCrlf = "\r\n";
    static constexpr std::string_view kLastChunk = "0\r\n\r\n";
    const bool chunk = chunked && !piece.empty();
    std::size_t size_len = 0;
    if (chunk) {
      auto [end, ec] = std::to_chars(size_line, size_line + sizeof size_line - 2, piece.size(), 16);
      *end++ = '\r';
      *end++ = '\n';
      size_len = static_cast<std::size_t>(end - size_line);
    }
    buffers = {asio::buffer(head.data(), head.size()), asio::buffer(size_line, size_len),
               asio::buffer(piece.data(), piece.size()), chunk ? asio::buffer(kCrlf) : asio::const_buffer(),
               last && chunked ? asio::buffer(kLastChunk) : asio::const_buffer()};
  }
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

  char size_line[20];
  std::array<asio::const_buffer, 5> buffers;
};

// Reads more of the request body from the client into `into` (at most its size). Returns the bytes read, or
// the problem on the client side.
asio::awaitable<std::pair<RequestProblem, std::size_t>> read_body_piece(Exchange& x, RequestParser& parser,
                                                                        std::span<char> into) {
  parser.get().body().data = into.data();
  parser.get().body().size = into.size();
  x.client.expires_after(x.cfg.timeouts.client_body);
  auto [ec, n] = co_await bhttp::async_read_some(x.client, x.client_buf, parser, use_tuple);
  if (ec == bhttp::error::need_buffer) ec = {};
  if (ec)
    co_return std::pair{
        is_timeout(ec) ? RequestProblem::client_timeout : classify_parse_error(ec, {}, x.cfg.limits),
        std::size_t{0}};
  co_return std::pair{RequestProblem::none, into.size() - parser.get().body().size};
}

// Reads the request body from the client into `out` until its end, or until `out` holds more than `limit`
// bytes (a chunked body, whose length nothing announced, that outgrew it). Returns the problem on the client
// side, if any.
asio::awaitable<RequestProblem> buffer_request_body(Exchange& x, RequestParser& parser, std::size_t limit,
                                                    std::string& out) {
  constexpr std::size_t kStep = kBodyPiece;
  while (!parser.is_done() && out.size() <= limit) {
    const std::size_t have = out.size();
    // The body grows a step at a time, as its bytes come: an announced length allocates nothing ahead of
    // them. A chunked body's last step goes a byte past the limit at most (which tells a body of exactly
    // `limit` bytes from a longer one).
    const auto remaining = parser.content_length_remaining();
    out.resize(have + (remaining ? std::clamp<std::uint64_t>(*remaining, 1, kStep)
                                 : std::min(kStep, limit + 1 - have)));
    auto [problem, got] = co_await read_body_piece(x, parser, std::span(out).subspan(have));
    out.resize(have + got);
    if (problem != RequestProblem::none) co_return problem;
  }
  co_return RequestProblem::none;
}

// Relays the request body from the client to the backend, piece by piece (chunked when `chunked`): first
// `prefix` (what was read of it already), with `head` when it is not sent yet. Returns the problem on the
// client side (none when all went well) and sets `upstream_ec` when the backend side failed.
asio::awaitable<RequestProblem> relay_request_body(Exchange& x, RequestParser& parser, std::string_view head,
                                                   std::string_view prefix, bool chunked,
                                                   UpstreamConnection& up, beast::error_code& upstream_ec,
                                                   KeptBody& kept) {
  bool overflow = false;
  std::array<char, kBodyPiece> data;
  bool ended = false;  // the whole message went out
  while (!ended) {
    std::string_view piece = prefix;
    prefix = {};
    if (piece.empty() && !parser.is_done()) {
      auto [problem, got] = co_await read_body_piece(x, parser, data);
      if (problem != RequestProblem::none) co_return problem;
      piece = std::string_view(data.data(), got);
    }
    const std::size_t got = piece.size();
    if (kept.limit && !overflow) {
      if (kept.data.size() + got > kept.limit)
        overflow = true;
      else
        kept.data.append(piece);
    }
    kept.whole = kept.limit && !overflow && parser.is_done();
    if (got == 0 && !parser.is_done()) continue;
    ended = parser.is_done();
    beast::error_code wec;
    if (head.empty() && !chunked) {  // the usual piece: one buffer, asio's smallest write operation
      std::array<asio::const_buffer, 1> piece_buf{asio::buffer(piece.data(), got)};
      if (!send_now(up.stream.socket(), piece_buf)) {
        up.stream.expires_after(x.cfg.upstream.send_timeout);
        auto [ec, wn] = co_await asio::async_write(up.stream, piece_buf[0], use_tuple);
        wec = ec;
      }
    } else {
      Frame frame(head, piece, chunked, ended);
      if (!send_now(up.stream.socket(), frame.buffers)) {
        up.stream.expires_after(x.cfg.upstream.send_timeout);
        auto [ec, wn] = co_await asio::async_write(up.stream, frame.buffers, use_tuple);
        wec = ec;
      }
    }
    if (wec) {
      upstream_ec = wec;
      co_return RequestProblem::none;
    }
    head = {};
  }
  co_return RequestProblem::none;
}

// The backend's end-to-end fields: never a hop-by-hop field (Connection and what it names, Keep-Alive,
// Transfer-Encoding, TE, Trailer, Upgrade, Proxy-*), which belongs to the backend's connection, not the
// response: a stored one would be replayed on every hit.
cache::HeaderList end_to_end_headers(const bhttp::response_header<>& h) {
  const HopByHop hop(h);
  cache::HeaderList out;
  for (const auto& f : h)
    if (!hop(f)) out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

// A GET for the cache alone: the client's request without its validators, sent on the worker's pool (an idle
// connection when there is one, as a client's request), the body read whole up to a limit. Keeps the runtime
// it was made under, so it outlives the request. Counted in the rule's upstream metrics like a client's
// request (its duration runs to the end of the body, read whole).
class DetachedGet final : public cache::Origin {
 public:
  // `req`: the client's request head, for request_header(); `head`: the GET as it leaves; `metrics`: the
  // rule's (the process keeps every rule's metrics).
  // `request_id` and `safe_target`: the client's request's, for the log line of a failure.
  DetachedGet(Worker& worker, std::shared_ptr<const Runtime> rt, metrics::RuleMetrics* metrics,
              bhttp::request_header<> req, std::string head, std::uint64_t body_limit, std::string request_id,
              std::string safe_target)
      : worker_(worker),
        rt_(std::move(rt)),
        metrics_(metrics),
        req_(std::move(req)),
        head_(std::move(head)),
        headers_(req_),
        body_limit_(body_limit),
        request_id_(std::move(request_id)),
        safe_target_(std::move(safe_target)) {}

  asio::awaitable<unsigned> open(const cache::Ask&) override {
    const auto start = Clock::now();
    const unsigned status = co_await fetch();
    if (metrics_ != nullptr) metrics_->upstream(status, std::chrono::duration<double>(since(start)).count());
    co_return status;
  }
  unsigned failure() const override { return 0; }  // nobody to answer
  cache::HeaderList head() const override { return end_to_end_headers(rp_->get().base()); }
  asio::awaitable<Piece> read() override {
    if (rp_->keep_alive() && reusable_after(rp_->get()) && buf_.size() == 0)
      worker_.pool().release(std::move(up_), rt_->config->upstream);
    co_return Piece{rp_->get().body(), true};
  }
  std::optional<std::string_view> request_header(std::string_view name) const override {
    return headers_(name);
  }
  std::unique_ptr<cache::Origin> detached_get(std::uint64_t) const override { return nullptr; }

 private:
  // The exchange: the response's status, or 0 when there is none (connect, send or read failed). A pooled
  // connection the backend closed meanwhile fails before any byte of an answer: the GET is sent again, once,
  // on a new connection (Relay::open does the same for a client's idempotent request).
  asio::awaitable<unsigned> fetch() {
    const auto& up = rt_->config->upstream;
    for (int attempt = 0;; ++attempt) {
      auto [aec, conn] = co_await worker_.pool().acquire(up, attempt > 0);
      if (aec) {
        failed(aec, true);
        co_return 0;
      }
      up_ = std::move(conn);
      buf_.clear();
      beast::error_code ec;
      std::array<asio::const_buffer, 1> head{asio::buffer(head_)};
      if (!send_now(up_->stream.socket(), head)) {
        up_->stream.expires_after(up.send_timeout);
        auto [wec, wn] = co_await asio::async_write(up_->stream, head[0], use_tuple);
        ec = wec;
      }
      bool answered = false;  // some byte of an answer came (an interim one counts)
      if (!ec) {
        // Interim (1xx) responses are read past, as a client's request does (RFC 9110 section 15.2): a 103
        // Early Hints taken for the answer would leave the real one on the connection, for the next request.
        up_->stream.expires_after(up.first_byte_timeout + up.read_timeout);
        for (;;) {
          rp_.emplace();
          rp_->header_limit(kUpstreamHeaderLimit);
          rp_->body_limit(body_limit_);
          auto [rec, rn] = co_await bhttp::async_read_header(up_->stream, buf_, *rp_, use_tuple);
          answered = answered || rp_->got_some();
          ec = rec;
          if (ec) break;
          const unsigned code = rp_->get().result_int();
          if (code < 100 || code >= 200 || code == 101) break;
        }
      }
      if (!ec) {
        if (auto why = unrelayable(rp_->get())) {
          spdlog::warn(
              "request {} GET {}: the cache's own request (a refresh or a verify) to upstream {} got {}",
              request_id_, safe_target_, rt_->config->upstream.target.to_string(), *why);
          up_.reset();  // what follows on that connection is never read
          co_return 0;
        }
        auto [rec, rn] = co_await bhttp::async_read(up_->stream, buf_, *rp_, use_tuple);
        ec = rec;
      }
      if (!ec) co_return rp_->get().result_int();
      const bool retry = up_->reused && attempt == 0 && !answered && dead_connection_error(ec);
      up_.reset();
      if (retry) continue;
      failed(ec, false);
      co_return 0;
    }
  }
  // The client was served (a stale entry, or the hit a verify checks): only this line and the upstream
  // metrics tell that the backend failed.
  void failed(const beast::error_code& ec, bool connecting) const {
    spdlog::warn(
        "request {} GET {}: the cache's own request (a refresh or a verify) to upstream {} failed: {}",
        request_id_, safe_target_, rt_->config->upstream.target.to_string(),
        is_timeout(ec) ? (connecting ? "connect timeout" : "timeout waiting for the response")
                       : ec.message());
  }

  Worker& worker_;
  std::shared_ptr<const Runtime> rt_;
  metrics::RuleMetrics* metrics_;
  bhttp::request_header<> req_;
  std::string head_;
  HeaderView headers_;
  std::unique_ptr<UpstreamConnection> up_;
  beast::flat_buffer buf_{ReadBuffers::kReadCapacity};  // bounded as a relay's (ReadBuffers)
  std::uint64_t body_limit_;
  std::string request_id_, safe_target_;
  std::optional<bhttp::response_parser<bhttp::string_body>> rp_;  // one per attempt
};

}  // namespace

Relay::Relay(Exchange& x, RequestParser& parser, const HeaderView& headers)
    : x_(x),
      parser_(parser),
      headers_(headers),
      has_body_(announces_body(parser)),
      body_consumed_(!has_body_),
      client_keep_alive_(parser.get().keep_alive() && !x.worker.draining()) {
  if (!parser.chunked()) return;  // only a chunked body has a trailer section
  for (const auto& f : parser.get()) head_fields_.push_back(&f);
  std::sort(head_fields_.begin(), head_fields_.end());
}

void Relay::drop_trailers() {
  if (head_fields_.empty()) return;
  // Known by their nodes, not their places: Beast inserts a field next to the head's of the same name.
  auto& fields = parser_.get().base();
  for (auto it = fields.begin(); it != fields.end();)
    it =
        std::binary_search(head_fields_.begin(), head_fields_.end(), &*it) ? std::next(it) : fields.erase(it);
}

Relay::~Relay() = default;

bool Relay::cut_by_shutdown() {
  if (!x_.worker.cut_by_shutdown()) return false;
  x_.outcome = "shutdown";
  spdlog::info("request {} {} {}: cut by the shutdown after {} bytes", x_.request_id, x_.method,
               x_.safe_target(), x_.bytes_sent);
  return true;
}

asio::awaitable<unsigned> Relay::fail(beast::error_code ec, bool connecting) {
  x_.upstream_time = since(upstream_start_);
  x_.rule_metrics->upstream(0, std::chrono::duration<double>(x_.upstream_time).count());
  const bool timed_out = is_timeout(ec);
  failure_ = timed_out ? 504 : 502;
  failure_message_ = timed_out ? (connecting ? "upstream connect timeout" : "upstream timeout")
                               : (connecting ? "upstream unavailable" : "upstream connection failed");
  if (cut_by_shutdown()) co_return 0;
  spdlog::warn(
      "request {} {} {}: upstream {} failed: {}", x_.request_id, x_.method, x_.safe_target(),
      x_.cfg.upstream.target.to_string(),
      timed_out ? (connecting ? "connect timeout" : "timeout waiting for the response") : ec.message());
  co_return 0;
}

asio::awaitable<bool> Relay::send_continue() {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  x_.client.expires_after(x_.cfg.timeouts.client_send);
  auto [ec, n] = co_await asio::async_write(x_.client, asio::buffer(kContinue), use_tuple);
  co_return !ec;
}

asio::awaitable<unsigned> Relay::body_refused(RequestProblem problem) {
  body_broke_off_ = true;
  x_.outcome = "rejected";
  spdlog::info("request {} from {}: {} while reading the body", x_.request_id, x_.peer, describe(problem));
  co_await x_.send_error(status_for(problem), describe(problem), false);
  co_return 0;
}

asio::awaitable<unsigned> Relay::open(const cache::Ask& ask) {
  auto& req = parser_.get();
  const bhttp::verb method = req.method();
  const unsigned client_version = req.version();
  // An HTTP/1.0 client's expectation is ignored (RFC 9110 10.1.1): it cannot read an interim response.
  const bool expect_continue =
      has_body_ && client_version == 11 && util::iequals(req[bhttp::field::expect], "100-continue");

  // A body of at most limits.request_buffer bytes is read whole before a backend connection is taken (as
  // nginx's request buffering does): a slow upload holds no backend connection, a body that breaks off never
  // reaches the backend, and the message leaves in one write, a chunked one with its Content-Length. A longer
  // body streams: the head goes as soon as the backend connection is there, the body follows as it arrives.
  std::string body;        // what was read of the body before the backend was asked
  bool continued = false;  // 100 Continue went to the client
  if (has_body_ && x_.cfg.limits.request_buffer > 0 &&
      (parser_.chunked() || *parser_.content_length() <= x_.cfg.limits.request_buffer)) {
    if (expect_continue) {
      if (!co_await send_continue()) co_return 0;
      continued = true;
    }
    if (RequestProblem problem =
            co_await buffer_request_body(x_, parser_, x_.cfg.limits.request_buffer, body);
        problem != RequestProblem::none)
      co_return co_await body_refused(problem);
  }
  const bool whole = !has_body_ || parser_.is_done();
  if (whole) {
    body_consumed_ = true;
    drop_trailers();
    // Kept for request_body() (a conditional purge), where it is then sent from.
    if (has_body_ && ask.keep_body && body.size() <= ask.keep_body)
      kept_ = KeptBody{ask.keep_body, std::move(body), true};
  }
  const std::string_view whole_body = kept_.whole ? kept_.data : body;

  // The request's head as it leaves for the backend, in the connection's buffer (free until the response's
  // head is written there). A revalidation asks with the stored response's validators (RFC 9111 section
  // 4.3.1).
  std::string& head = x_.scratch;
  head.clear();
  write_forwarded_head(head, req.base(),
                       {.target = x_.origin_target,
                        .authority = x_.cfg.upstream.authority,
                        .strip_validators = ask.unconditional,
                        .if_none_match = ask.if_none_match,
                        .if_modified_since = ask.if_modified_since,
                        .chunked = parser_.chunked() && !whole,
                        .content_length = has_body_ && parser_.chunked() && whole
                                              ? std::optional<std::uint64_t>(whole_body.size())
                                              : std::nullopt,
                        .ctx = {x_.peer, x_.request_id}});
  if (!bufs_) bufs_ = x_.worker.pool().take_buffers();

  for (int attempt = 0;; ++attempt) {
    upstream_start_ = Clock::now();
    auto [aec, conn] = co_await x_.worker.pool().acquire(x_.cfg.upstream, attempt > 0);
    if (aec) co_return co_await fail(aec, true);
    up_ = std::move(conn);
    // From here the request is sent: the backend may act on it whatever happens next (a retry included).
    may_have_arrived_ = true;
    // A pooled connection the backend closed meanwhile: an idempotent request whose message is here whole
    // goes again, once, on a new connection (RFC 9110 section 9.2.2).
    const bool retryable = up_->reused && attempt == 0 && whole && idempotent(method);

    beast::error_code send_ec;
    bool interim = false;  // a 1xx came: the backend has the request, which is never sent again
    if (whole) {
      std::array<asio::const_buffer, 2> message{asio::buffer(head),
                                                asio::buffer(whole_body.data(), whole_body.size())};
      if (!send_now(up_->stream.socket(), message)) {
        up_->stream.expires_after(x_.cfg.upstream.send_timeout);
        auto [wec, wn] = co_await asio::async_write(up_->stream, message, use_tuple);
        send_ec = wec;
      }
    } else {
      // A body that came with its head leaves with the head. One still on its way (a client that waits for
      // 100 Continue, a slow upload): the head goes first, as soon as the backend connection is there.
      bool head_sent = false;
      if (body.empty() && x_.client_buf.size() == 0) {
        std::array<asio::const_buffer, 1> alone{asio::buffer(head)};
        if (!send_now(up_->stream.socket(), alone)) {
          up_->stream.expires_after(x_.cfg.upstream.send_timeout);
          auto [wec, wn] = co_await asio::async_write(up_->stream, alone[0], use_tuple);
          if (wec) co_return co_await fail(wec, false);
        }
        head_sent = true;
      }
      if (expect_continue && !continued && !co_await send_continue()) co_return 0;
      kept_ = KeptBody{ask.keep_body, {}, false};
      RequestProblem body_problem = co_await relay_request_body(
          x_, parser_, head_sent ? std::string_view() : head, body, parser_.chunked(), *up_, send_ec, kept_);
      if (body_problem != RequestProblem::none) co_return co_await body_refused(body_problem);
      // The backend may have failed before the body's end: what is left of it was never read, so the
      // connection cannot carry another request (it would be read from the body's bytes).
      body_consumed_ = parser_.is_done();
      if (body_consumed_) drop_trailers();
    }

    if (!send_ec) {
      // Response head; informational (1xx) responses are relayed and the real one awaited.
      up_->stream.expires_after(x_.cfg.upstream.first_byte_timeout);
      for (;;) {
        rp_.emplace();
        rp_->header_limit(kUpstreamHeaderLimit);
        rp_->body_limit(boost::none);
        if (method == bhttp::verb::head) rp_->skip(true);
        auto [rec, rn] = co_await bhttp::async_read_header(up_->stream, bufs_->in, *rp_, use_tuple);
        if (rec) {
          send_ec = rec;
          break;
        }
        unsigned code = rp_->get().result_int();
        if (code < 100 || code >= 200 || code == 101) break;
        interim = true;
        if (code != 100 && client_version == 11) {
          // Written as a final response's head is: no hop-by-hop field, no Content-Length (a 1xx has no
          // content: RFC 9110 section 8.6), Via and X-Request-ID (found by a probe: a 103 went out with the
          // backend's Content-Length, and without this hop's Via).
          std::string info;
          write_relayed_head(info, rp_->get().base(), {}, RelayFraming{}, x_.request_id);
          x_.client.expires_after(x_.cfg.timeouts.client_send);
          auto [iec, in] = co_await asio::async_write(x_.client, asio::buffer(info), use_tuple);
          if (iec) co_return 0;
        }
      }
    }

    if (send_ec) {
      if (retryable && !interim && bufs_->in.size() == 0 && dead_connection_error(send_ec)) {
        spdlog::debug("request {}: pooled upstream connection was closed ({}); retrying on a new one",
                      x_.request_id, send_ec.message());
        continue;
      }
      co_return co_await fail(send_ec, false);
    }
    break;
  }

  if (auto why = unrelayable(rp_->get())) {
    x_.upstream_time = since(upstream_start_);
    x_.rule_metrics->upstream(0, std::chrono::duration<double>(x_.upstream_time).count());
    failure_ = 502;
    failure_message_ = "upstream sent a response the proxy does not relay";
    spdlog::warn("request {} {} {}: upstream answered with {}", x_.request_id, x_.method, x_.safe_target(),
                 *why);
    up_.reset();  // the rest of that response is never read: the connection is not reused
    co_return 0;
  }

  const unsigned code = rp_->get().result_int();
  x_.rule_metrics->upstream(code, std::chrono::duration<double>(since(upstream_start_)).count());
  x_.status = code;
  no_body_ = method == bhttp::verb::head || code == 204 || code == 304;
  co_return code;
}

cache::HeaderList Relay::head() const {
  return end_to_end_headers(rp_->get().base());
}

void Relay::release_upstream() {
  if (!up_) return;
  x_.upstream_time = since(upstream_start_);
  if (rp_->is_done() && rp_->keep_alive() && reusable_after(rp_->get()) && bufs_->in.size() == 0)
    x_.worker.pool().release(std::move(up_), x_.cfg.upstream);
  up_.reset();
}

asio::awaitable<cache::Origin::Piece> Relay::read() {
  auto& up_res = rp_->get();
  for (;;) {
    // The backend is done: its connection can serve the next request (of any client) before the last
    // piece reaches this one.
    if (no_body_ || rp_->is_done()) {
      release_upstream();
      co_return Piece{{}, true};
    }
    up_res.body().data = bufs_->chunk.data();
    up_res.body().size = bufs_->chunk.size();
    up_->stream.expires_after(x_.cfg.upstream.read_timeout);
    auto [rec, rn] = co_await bhttp::async_read_some(up_->stream, bufs_->in, *rp_, use_tuple);
    if (rec == bhttp::error::need_buffer) rec = {};
    if (rec) {
      // Headers are gone already: the only honest signal left is an incomplete body.
      x_.upstream_time = since(upstream_start_);
      if (cut_by_shutdown()) co_return Piece{{}, false, true};
      x_.outcome = "upstream_error";
      spdlog::warn("request {} {} {}: upstream failed mid-body after {} bytes: {}", x_.request_id, x_.method,
                   x_.safe_target(), x_.bytes_sent, rec.message());
      // Nothing reached the client yet (the head waits for the first body bytes): it gets a 502, not a
      // closed connection, and the log says so.
      if (head_pending_) {
        head_pending_ = false;
        co_await x_.send_error(502, "upstream connection failed", false);
      }
      co_return Piece{{}, false, true};
    }
    const std::size_t got = bufs_->chunk.size() - up_res.body().size;
    const bool last = rp_->is_done();
    if (last) release_upstream();
    if (got > 0 || last) co_return Piece{std::string_view(bufs_->chunk.data(), got), last};
  }
}

asio::awaitable<bool> Relay::start(std::span<const cache::Field> fields) {
  if (!no_body_ && (rp_->chunked() || !rp_->content_length())) {
    if (parser_.get().version() == 11)
      chunked_ = true;  // keep chunked framing; a close-delimited body becomes chunked too
    else
      client_keep_alive_ = false;  // HTTP/1.0 has no chunked encoding: the close delimits the body
  }
  if (x_.worker.draining()) client_keep_alive_ = false;
  // The head written straight into the connection's buffer (as a hit's is). It goes out on its own only when
  // no body bytes came with it (a stream, a slow backend): else it leaves with the first body bytes, in one
  // write.
  x_.scratch.clear();
  RelayFraming framing{chunked_, client_keep_alive_};
  framing.http10 = parser_.get().version() == 10;
  if (auto length = rp_->content_length()) framing.content_length = *length;
  write_relayed_head(x_.scratch, rp_->get().base(), fields, framing, x_.request_id);
  head_pending_ = true;
  if (!no_body_ && bufs_->in.size() != 0) co_return true;
  std::array<asio::const_buffer, 1> head{asio::buffer(x_.scratch)};
  if (send_now(x_.client.socket(), head)) co_return written({}, 0);
  x_.client.expires_after(x_.cfg.timeouts.client_send);
  auto [ec, n] = co_await asio::async_write(x_.client, head[0], use_tuple);
  co_return written(ec, 0);
}

bool Relay::written(const beast::error_code& ec, std::size_t body_bytes) {
  if (ec) {
    x_.outcome = "client_gone";
    if (up_) x_.upstream_time = since(upstream_start_);  // else it ended when the backend's response did
    return false;
  }
  head_pending_ = false;
  x_.bytes_sent += body_bytes;
  return true;
}

// write() and end() write inline, not through a shared helper coroutine, and a piece that needs no framing
// goes out as one buffer: one more coroutine frame per chunk, or asio's write operation for a general buffer
// sequence (a kilobyte), is memory that ASan's quarantine keeps, which
// ProxyTest.LargeDownloadStreamsWithBoundedMemory (1 GiB relayed) measures.
asio::awaitable<bool> Relay::write(std::string_view piece) {
  if (piece.empty() && !head_pending_) co_return true;
  if (!head_pending_ && !chunked_) {  // the usual piece: one buffer, asio's smallest write operation
    std::array<asio::const_buffer, 1> one{asio::buffer(piece.data(), piece.size())};
    if (send_now(x_.client.socket(), one)) co_return written({}, piece.size());
    x_.client.expires_after(x_.cfg.timeouts.client_send);
    auto [ec, n] = co_await asio::async_write(x_.client, one[0], use_tuple);
    co_return written(ec, piece.size());
  }
  Frame frame(head_pending_ ? std::string_view(x_.scratch) : std::string_view(), piece, chunked_, false);
  if (send_now(x_.client.socket(), frame.buffers)) co_return written({}, piece.size());
  x_.client.expires_after(x_.cfg.timeouts.client_send);
  auto [ec, n] = co_await asio::async_write(x_.client, frame.buffers, use_tuple);
  co_return written(ec, piece.size());
}

asio::awaitable<bool> Relay::end() {
  if (no_body_) co_return client_keep_alive_;
  if (head_pending_ || chunked_) {
    Frame frame(head_pending_ ? std::string_view(x_.scratch) : std::string_view(), {}, chunked_, true);
    beast::error_code ec;
    if (!send_now(x_.client.socket(), frame.buffers)) {
      x_.client.expires_after(x_.cfg.timeouts.client_send);
      auto [wec, n] = co_await asio::async_write(x_.client, frame.buffers, use_tuple);
      ec = wec;
    }
    if (!written(ec, 0)) co_return false;
  }
  co_return client_keep_alive_;
}

asio::awaitable<bool> Relay::send_error(unsigned status, std::string_view why) {
  // A 502 / 504 for the backend's failure (or a broken 304), or the cache's own 504 for only-if-cached,
  // which no backend was asked for.
  if (x_.outcome != "shutdown" && (why.empty() || status != 504)) x_.outcome = "upstream_error";
  co_return co_await x_.send_error(status, why.empty() ? failure_message_ : why,
                                   client_keep_alive_ && body_consumed_);
}

asio::awaitable<bool> Relay::send(const cache::Reply& r) {
  const bool head_only = parser_.get().method() == bhttp::verb::head;
  // body_consumed_: a request whose body was never read closes (the plan bypasses lookups of requests with a
  // body today, so none is answered from the cache; this keeps that true whatever the plan becomes).
  const bool keep_alive = parser_.get().keep_alive() && body_consumed_ && !x_.worker.draining();
  // The head written straight into the connection's buffer, then head and body in one gather write: at once
  // when the socket takes it all (send_now.hpp), else the rest awaited.
  std::string& head = x_.scratch;
  head.clear();
  write_stored_head(head, r, keep_alive, x_.request_id, parser_.get().version() == 10);
  const bool with_body = r.has_body && !head_only;
  std::array<asio::const_buffer, 2> pieces{asio::buffer(head),
                                           with_body ? asio::buffer(r.body) : asio::const_buffer()};
  x_.status = r.status;
  beast::error_code ec;
  if (!send_now(x_.client.socket(), pieces)) {
    x_.client.expires_after(x_.cfg.timeouts.client_send);
    auto [wec, n] = co_await asio::async_write(x_.client, pieces, use_tuple);
    ec = wec;
  }
  if (!ec && with_body) x_.bytes_sent += r.body.size();
  if (ec) x_.outcome = "client_gone";
  co_return !ec && keep_alive;
}

std::unique_ptr<cache::Origin> Relay::detached_get(std::uint64_t body_limit) const {
  const auto& req = parser_.get();
  std::string head;
  write_forwarded_head(head, req.base(),
                       {.method = "GET",  // a refresh needs the whole response: a GET, without validators
                        .target = x_.origin_target,
                        .authority = x_.cfg.upstream.authority,
                        .strip_validators = true,
                        .ctx = {x_.peer, x_.request_id}});
  return std::make_unique<DetachedGet>(x_.worker, x_.worker.runtime(), x_.rule_metrics, req.base(),
                                       std::move(head), body_limit, x_.request_id, x_.safe_target());
}

}  // namespace orc::http
