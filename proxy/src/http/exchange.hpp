// Internal to the HTTP layer: one request in flight (Exchange) and the steps that serve it: forward() relays
// it to the backend and back; the cache flows (cache_flow.cpp) wrap forward() with lookups, fills and purges.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <functional>
#include <list>
#include <optional>
#include <string>

#include "cache/cache_entry.hpp"
#include "cache/plan.hpp"
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

// Everything one request needs, in one place, so the steps stay small.
struct Exchange {
  beast::tcp_stream& client;
  beast::flat_buffer& client_buf;
  Worker& worker;
  const Runtime& rt;
  const config::Config& cfg;
  const std::string& peer;

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
};

struct ForwardHooks {
  // The backend failed (502 / 504 about to be sent). Returning a value means the hook answered the client
  // itself (stale-if-error); the value is whether the connection may carry another request.
  std::function<asio::awaitable<std::optional<bool>>(unsigned status)> on_failure;
  // The backend's response head, before it goes to the client: the hook may purge (writes) or decide to
  // tee the body (fills), and may add headers to `client_head`.
  std::function<asio::awaitable<void>(const bhttp::response_header<>& upstream_head,
                                      bhttp::response_header<>& client_head)>
      on_head;
  // The backend's body is complete (and teed), the client does not have its last bytes yet.
  std::function<asio::awaitable<void>()> on_body_complete;
  // When set by on_head: the body is copied here while it streams, up to tee_limit bytes.
  std::string* tee = nullptr;
  std::uint64_t tee_limit = 0;
  bool tee_overflow = false;
  // Leaves the client's validators out of the backend request (strip_validators): a fill needs the whole
  // response.
  bool unconditional = false;
};

struct ForwardResult {
  bool keep_alive = false;
  bool complete = false;  // the backend's response was relayed whole
};

// Relays the request (head already parsed into `parser`) to the backend and the response back.
asio::awaitable<ForwardResult> forward(Exchange& x, RequestParser& parser, ForwardHooks& hooks);

// Serves a stored entry (HIT or STALE) to the client; answers 304 to a conditional it satisfies
// (cache::not_modified).
asio::awaitable<bool> serve_entry(Exchange& x, const RequestParser& parser, const cache::CacheEntry& entry,
                                  std::string_view x_cache, std::string_view cache_status);

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

// The plan says lookup: a GET or HEAD of a cache rule served from the cache, or fetched and stored.
// `headers`: the request's, as the plan read them.
asio::awaitable<bool> handle_cacheable(Exchange& x, RequestParser& parser, const cache::Plan& plan,
                                       const identity::HeaderLookup& headers);
// The plan says bypass: forwarded as it is, marked so (X-Cache: BYPASS, Cache-Status detail), counted.
asio::awaitable<bool> forward_bypass(Exchange& x, RequestParser& parser, cache::Bypass why);
// The plan says invalidate: forwarded; a 2xx answer purges the plan's tags before the client sees it.
asio::awaitable<bool> handle_invalidate(Exchange& x, RequestParser& parser, const cache::Plan& plan);
// Retries the purges owed after failed ones (cache/pending_purges.hpp) once this worker's storage answers.
asio::awaitable<void> replay_pending_purges(Worker& worker);

}  // namespace orc::http
