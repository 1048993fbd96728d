// A per-worker keep-alive pool of connections to the backend. One worker thread owns it: no locks.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <deque>
#include <memory>

#include "config/config.hpp"

namespace orc::http {

namespace beast = boost::beast;

struct UpstreamConnection {
  beast::tcp_stream stream;
  bool reused = false;  // taken from the pool rather than freshly connected
  explicit UpstreamConnection(boost::asio::any_io_executor ex) : stream(std::move(ex)) {}
};

class UpstreamPool {
 public:
  explicit UpstreamPool(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

  // An idle pooled connection that still looks alive, else a new one (connect_timeout applies).
  // `fresh_only` skips the pool (used for the single retry after a dead pooled connection).
  boost::asio::awaitable<std::pair<beast::error_code, std::unique_ptr<UpstreamConnection>>> acquire(
      const config::UpstreamConfig& cfg, bool fresh_only = false);

  // Gives a connection whose last exchange completed cleanly back to the pool (or closes it if full).
  void release(std::unique_ptr<UpstreamConnection> conn, const config::UpstreamConfig& cfg);

  // Closes every idle connection (shutdown).
  void clear() { idle_.clear(); }

 private:
  struct Idle {
    std::unique_ptr<UpstreamConnection> conn;
    std::chrono::steady_clock::time_point since;
  };
  boost::asio::any_io_executor ex_;
  std::deque<Idle> idle_;    // most recently used at the back
  std::string idle_target_;  // the upstream the idle connections lead to
};

}  // namespace orc::http
