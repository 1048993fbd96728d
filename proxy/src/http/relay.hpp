// The cache flow's two ports (cache/flow.hpp) over Beast: Relay is one client request's backend (a request
// body of at most limits.request_buffer read whole first, then head and body sent in one write; a longer one
// relayed head, then body in chunks; the response head read, 1xx relayed) and its client (the response
// relayed head, then body in chunks; a stored entry or an error response written whole). Response bodies are
// never held whole here, nor request bodies past limits.request_buffer, but for the first 64 KiB of a
// write's body when its purge depends on it (cache::Ask::keep_body). The read buffers are lent by the
// worker's upstream pool. DetachedGet is a GET for the cache alone (a background refresh), with no client.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/flow.hpp"
#include "http/exchange.hpp"
#include "http/request_checks.hpp"
#include "http/upstream_pool.hpp"

namespace orc::http {

// What the relay keeps of a request body it forwards (cache::Ask::keep_body): up to `limit` bytes.
struct KeptBody {
  std::size_t limit = 0;  // 0: nothing is kept
  std::string data;
  bool whole = false;  // the body was read to its end within the limit
};

class Relay final : public cache::Origin, public cache::Downstream {
 public:
  // `headers`: the request's, as the plan read them. All three outlive the relay.
  Relay(Exchange& x, RequestParser& parser, const HeaderView& headers);
  ~Relay() override;

  asio::awaitable<unsigned> open(const cache::Ask& ask) override;
  unsigned failure() const override { return failure_; }
  bool may_have_arrived() const override { return may_have_arrived_; }
  bool body_broke_off() const override { return body_broke_off_; }
  cache::HeaderList head() const override;
  asio::awaitable<Piece> read() override;
  std::optional<std::string_view> request_header(std::string_view name) const override {
    return headers_(name);
  }
  std::unique_ptr<cache::Origin> detached_get(std::uint64_t body_limit) const override;
  std::optional<std::string_view> request_body() const override {
    if (!kept_.whole) return std::nullopt;
    return std::string_view(kept_.data);
  }

  asio::awaitable<bool> send(const cache::Reply& r) override;
  asio::awaitable<bool> send_error(unsigned status, std::string_view why) override;
  asio::awaitable<bool> start(std::span<const cache::Field> fields) override;
  asio::awaitable<bool> write(std::string_view piece) override;
  asio::awaitable<bool> end() override;

 private:
  asio::awaitable<unsigned> fail(beast::error_code ec, bool connecting);
  // 100 Continue to a client that expects it before it sends the body. False when the client is gone.
  asio::awaitable<bool> send_continue();
  // The client's body broke off, outgrew limits.request_body or came too slowly: answered (when it can be)
  // and logged; the connection closes. Returns open()'s "no response".
  asio::awaitable<unsigned> body_refused(RequestProblem problem);
  // Once the request body is read whole: the fields of a chunked body's trailer section, which Beast's
  // parser adds to the head's, are dropped (as nginx drops them). None ever reaches the backend, the plan,
  // the purges or the log: they passed none of the head's checks (one Host, one Authorization, the limits).
  void drop_trailers();
  // The backend connection failed because the drain deadline closed it: logged as such (outcome shutdown),
  // not as the backend's failure. False otherwise.
  bool cut_by_shutdown();
  // After a write to the client: false when it failed (the client is gone); else the head is out and
  // `body_bytes` more were sent.
  bool written(const beast::error_code& ec, std::size_t body_bytes);
  // Back to the pool only when the exchange ended cleanly and nothing unasked followed it.
  void release_upstream();

  Exchange& x_;
  RequestParser& parser_;
  const HeaderView& headers_;
  const bool has_body_;
  bool body_consumed_;
  bool client_keep_alive_;
  std::vector<const bhttp::fields::value_type*> head_fields_;  // a chunked request's head fields, sorted
  bool no_body_ = false;                                       // the response has none (HEAD, 204, 304)
  bool chunked_ = false;                                       // the body goes to the client chunked
  bool head_pending_ = false;  // start() wrote the head into x_.scratch; the first write sends it
  unsigned failure_ = 0;
  bool may_have_arrived_ = false;
  bool body_broke_off_ = false;
  std::string_view failure_message_;
  std::unique_ptr<UpstreamConnection> up_;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> rp_;
  Clock::time_point upstream_start_;
  UpstreamPool::LentBuffers bufs_;  // the worker's pool lends them to open(): a hit needs none
  KeptBody kept_;
};

}  // namespace orc::http
