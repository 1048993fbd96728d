// Internal to the HTTP layer: one request in flight (Exchange), and its headers as the plan reads them
// (HeaderView). The session serves it through the worker's cache flow (cache/flow.hpp), over a Relay
// (http/relay.hpp).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <list>
#include <optional>
#include <string>

#include "http/runtime.hpp"
#include "rules/rulebook.hpp"

namespace orc::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

class Worker;

inline std::chrono::microseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t);
}
inline bool is_timeout(const beast::error_code& ec) {
  return ec == beast::error::timeout;
}

using RequestParser = bhttp::request_parser<bhttp::buffer_body>;

// Whether a parsed request head announces a body: chunked, or a Content-Length above 0.
inline bool announces_body(const RequestParser& p) {
  return p.chunked() || (p.content_length() && *p.content_length() > 0);
}

// Everything one request needs, in one place, so the steps stay small.
struct Exchange {
  beast::tcp_stream& client;
  beast::flat_buffer& client_buf;
  Worker& worker;
  const Runtime& rt;
  const config::Config& cfg;
  const std::string& peer;
  // The connection's buffer for the heads the proxy writes (reused, so a hit allocates nothing): a relayed
  // request's head from Relay::open() to the end of its sending (a retry sends it again), then the
  // response's.
  std::string& scratch;

  Clock::time_point start = Clock::now();
  std::string request_id;
  std::string method = "-";
  std::string target = "-";   // as received (logged redacted)
  std::string origin_target;  // origin-form target sent upstream
  unsigned status = 0;
  std::uint64_t bytes_sent = 0;
  std::chrono::microseconds upstream_time{0};
  std::string_view outcome = "proxied";  // closed set, see docs/configuration.md
  std::string_view cache = "-";          // closed set: hit, miss, stale, bypass, pass, purge, -
  std::string rule = "-";
  metrics::RuleMetrics* rule_metrics = nullptr;  // of the matched rule, or of "none"

  // Counts the finished request in the metrics and writes its access-log line.
  void record();
  void log_access();
  // The target with secret query values redacted, for any log line.
  std::string safe_target() const;
  // Writes a proxy-generated error. Returns whether the connection may carry another request.
  asio::awaitable<bool> send_error(unsigned code, std::string_view message, bool keep_alive);
  // Writes a response the proxy makes itself (send_error's, or a final answer to Max-Forwards: 0).
  asio::awaitable<bool> send_own(bhttp::response<bhttp::string_body> res);
};

// A request's headers as the plan and the key read them: a field sent more than once is one list (RFC 9110
// section 5.3; Cookie pairs joined with "; "), joined on first use. Wrap it as
// `identity::HeaderLookup(std::cref(view))`: no allocation per request. The views it returns live as long as
// it and the request.
class HeaderView {
 public:
  explicit HeaderView(const bhttp::fields& fields) : fields_(fields) {}
  std::optional<std::string_view> operator()(std::string_view name) const;

 private:
  const bhttp::fields& fields_;
  mutable std::list<std::string> joined_;  // a list: constructing it allocates nothing
};

}  // namespace orc::http
