// The per-worker upstream keep-alive pool.
#include "http/upstream_pool.hpp"

#include <sys/socket.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <vector>

namespace orc::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A pooled socket is usable only if the backend has neither closed it nor sent anything unasked.
bool looks_alive(UpstreamConnection& conn) {
  char byte;
  auto fd = conn.stream.socket().native_handle();
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;                        // orderly close
  if (n > 0) return false;                         // stray bytes: framing would be off
  return errno == EAGAIN || errno == EWOULDBLOCK;  // nothing to read: alive
}

}  // namespace

asio::awaitable<std::pair<beast::error_code, std::unique_ptr<UpstreamConnection>>> UpstreamPool::acquire(
    const config::UpstreamConfig& cfg, bool fresh_only) {
  auto now = std::chrono::steady_clock::now();
  if (idle_target_ != cfg.url) {
    idle_.clear();  // the upstream changed on reload
    idle_target_ = cfg.url;
  }
  while (!fresh_only && !idle_.empty()) {
    Idle entry = std::move(idle_.back());
    idle_.pop_back();
    if (now - entry.since >= cfg.idle_timeout) continue;
    if (!looks_alive(*entry.conn)) continue;
    entry.conn->reused = true;
    co_return std::make_pair(beast::error_code{}, std::move(entry.conn));
  }

  // abort_all() may run while this waits (it closes what is open, and a socket is not open before the
  // connect starts): checked again after each wait.
  const auto aborted = std::make_pair(beast::error_code(asio::error::operation_aborted), nullptr);
  if (aborted_) co_return aborted;
  auto conn = std::make_unique<UpstreamConnection>(ex_, live_);
  tcp::resolver resolver(ex_);
  auto [rec, endpoints] = co_await resolver.async_resolve(cfg.target.host, std::to_string(cfg.target.port),
                                                          asio::as_tuple(asio::use_awaitable));
  if (aborted_) co_return aborted;
  if (rec) co_return std::make_pair(rec, nullptr);
  conn->stream.expires_after(cfg.connect_timeout);
  auto [cec, ep] = co_await conn->stream.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
  if (aborted_) co_return aborted;
  if (cec) co_return std::make_pair(cec, nullptr);
  conn->stream.socket().set_option(tcp::no_delay(true));
  co_return std::make_pair(beast::error_code{}, std::move(conn));
}

void UpstreamPool::abort_all() {
  aborted_ = true;
  idle_.clear();
  for (auto* conn : std::vector<UpstreamConnection*>(live_->begin(), live_->end())) conn->stream.close();
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> conn, const config::UpstreamConfig& cfg) {
  if (!conn || aborted_ || cfg.max_idle_connections == 0 || cfg.url != idle_target_) return;
  conn->stream.expires_never();
  idle_.push_back({std::move(conn), std::chrono::steady_clock::now()});
  // Over the limit: drop the least recently used.
  while (idle_.size() > cfg.max_idle_connections) idle_.pop_front();
}

struct UpstreamPool::Spares {
  std::vector<std::unique_ptr<ReadBuffers>> list;
};

UpstreamPool::UpstreamPool(boost::asio::any_io_executor ex)
    : ex_(std::move(ex)), spares_(std::make_shared<Spares>()) {}

UpstreamPool::LentBuffers UpstreamPool::take_buffers() {
  auto& list = spares_->list;
  if (list.empty()) return LentBuffers(new ReadBuffers, GiveBack{spares_});
  LentBuffers b(list.back().release(), GiveBack{spares_});
  list.pop_back();
  return b;
}

void UpstreamPool::GiveBack::operator()(ReadBuffers* b) const {
  std::unique_ptr<ReadBuffers> owned(b);
  auto spares = to.lock();
  if (!spares || spares->list.size() >= kSpareBuffers) return;
  owned->in.clear();  // keeps the capacity
  spares->list.push_back(std::move(owned));
}

}  // namespace orc::http
