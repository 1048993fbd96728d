// The test client: Beast over a private io_context per call, with tcp_stream deadlines.
#include "sim_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <limits>

namespace orc::sim::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void copy_head(const http::response_header<>& h, HttpResponse& out) {
  out.status = static_cast<int>(h.result_int());
  for (auto& f : h) {
    std::string name = lower(f.name_string());
    auto& slot = out.headers[name];
    if (!slot.empty()) slot += "\n";
    slot += std::string(f.value());
  }
}

http::request<http::string_body> make_request(const HttpRequest& r, std::uint16_t port) {
  http::request<http::string_body> req{http::string_to_verb(r.method), r.target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  for (auto h = r.headers.begin(); h != r.headers.end(); ++h) {
    // A name given twice goes out as two field lines; given once, it replaces the client's own (Host).
    const bool repeated = std::any_of(
        r.headers.begin(), h, [&](const auto& earlier) { return beast::iequals(earlier.first, h->first); });
    if (repeated) {
      req.insert(h->first, h->second);
    } else {
      req.set(h->first, h->second);
    }
  }
  req.body() = r.body;
  if (!r.body.empty() || r.method == "POST" || r.method == "PATCH" || r.method == "PUT") {
    if (req[http::field::content_type].empty()) req.set(http::field::content_type, "application/json");
    req.prepare_payload();
  }
  return req;
}

asio::awaitable<HttpResponse> fetch(std::uint16_t port, HttpRequest r) {
  HttpResponse out;
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(r.timeout);  // one deadline for the whole exchange
  auto [cec] =
      co_await stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), use_tuple);
  if (cec) {
    out.error = "connect: " + cec.message();
    out.timed_out = cec == beast::error::timeout;
    co_return out;
  }
  auto req = make_request(r, port);
  auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
  if (wec) {
    out.error = "write: " + wec.message();
    out.timed_out = wec == beast::error::timeout;
    co_return out;
  }
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (r.method == "HEAD") parser.skip(true);
  auto [rec, rn] = co_await http::async_read(stream, buf, parser, use_tuple);
  if (parser.is_header_done()) copy_head(parser.get().base(), out);
  out.body = parser.get().body();
  if (rec) {
    out.error = "read: " + rec.message();
    out.timed_out = rec == beast::error::timeout;
    out.truncated =
        parser.is_header_done() && (rec == http::error::partial_message || rec == asio::error::eof ||
                                    rec == asio::error::connection_reset);
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return out;
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::vector<std::string> HttpResponse::set_cookies() const {
  std::vector<std::string> out;
  std::string all = header("set-cookie");
  std::size_t pos = 0;
  while (!all.empty() && pos <= all.size()) {
    auto nl = all.find('\n', pos);
    out.push_back(all.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

HttpResponse http_call(std::uint16_t port, const HttpRequest& req) {
  return http_parallel(port, {req}).front();
}

std::vector<HttpResponse> http_parallel(std::uint16_t port, const std::vector<HttpRequest>& reqs) {
  asio::io_context ioc;
  std::vector<HttpResponse> out(reqs.size());
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    asio::co_spawn(ioc, fetch(port, reqs[i]), [&out, i](std::exception_ptr e, HttpResponse r) {
      if (e) r.error = "exception";
      out[i] = std::move(r);
    });
  }
  ioc.run();  // every fetch has its own deadline, so this returns
  return out;
}

struct StreamReader::Impl {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  bool failed = false;
  std::uint16_t port;
  std::string target;
  Headers headers;
  bool started = false;

  // Runs `op` with a deadline; false on error or timeout.
  template <class Op>
  bool run(Op op, std::chrono::milliseconds timeout) {
    if (failed) return false;
    bool ok = false;
    stream.expires_after(timeout);
    asio::co_spawn(ioc, op(), [&](std::exception_ptr e, bool r) { ok = !e && r; });
    ioc.restart();
    ioc.run();
    if (!ok) failed = true;
    return ok;
  }
};

StreamReader::StreamReader(std::uint16_t port, const std::string& target, const Headers& headers)
    : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->target = target;
  impl_->headers = headers;
  impl_->parser.body_limit(std::numeric_limits<std::uint64_t>::max());
}

StreamReader::~StreamReader() {
  beast::error_code ignored;
  impl_->stream.socket().close(ignored);
}

int StreamReader::wait_head(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  bool ok = s.run(
      [&s]() -> asio::awaitable<bool> {
        auto [cec] = co_await s.stream.async_connect(
            tcp::endpoint(asio::ip::make_address("127.0.0.1"), s.port), use_tuple);
        if (cec) co_return false;
        HttpRequest r;
        r.target = s.target;
        r.headers = s.headers;
        auto req = make_request(r, s.port);
        auto [wec, wn] = co_await http::async_write(s.stream, req, use_tuple);
        if (wec) co_return false;
        auto [rec, rn] = co_await http::async_read_header(s.stream, s.buf, s.parser, use_tuple);
        co_return !rec;
      },
      timeout);
  return ok ? static_cast<int>(s.parser.get().result_int()) : 0;
}

std::string StreamReader::header(const std::string& lower_name) const {
  for (auto& f : impl_->parser.get())
    if (lower(f.name_string()) == lower_name) return std::string(f.value());
  return {};
}

std::optional<std::size_t> StreamReader::wait_for(const std::string& needle,
                                                  std::chrono::milliseconds timeout, std::size_t from) {
  Impl& s = *impl_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::string& body = s.parser.get().body();
    if (from < body.size()) {
      auto pos = body.find(needle, from);
      if (pos != std::string::npos) return pos;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || s.parser.is_done()) return std::nullopt;
    bool ok = s.run(
        [&s]() -> asio::awaitable<bool> {
          auto [ec, n] = co_await http::async_read_some(s.stream, s.buf, s.parser, use_tuple);
          co_return !ec || ec == http::error::need_buffer;
        },
        left);
    if (!ok) return std::nullopt;
  }
}

const std::string& StreamReader::body() const {
  return impl_->parser.get().body();
}

}  // namespace orc::sim::test
