// A per-worker keep-alive pool of connections to the backend. One worker thread owns it: no locks.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <unordered_set>

#include "config/config.hpp"

namespace orc::http {

namespace beast = boost::beast;

struct UpstreamConnection;
// Every connection a pool made that still exists (idle, lent out or connecting), so that a drain that runs
// out of time can close them all. Shared with the connections: either may go first.
using LiveConnections = std::unordered_set<UpstreamConnection*>;

struct UpstreamConnection {
  beast::tcp_stream stream;
  bool reused = false;  // taken from the pool rather than freshly connected
  UpstreamConnection(boost::asio::any_io_executor ex, std::shared_ptr<LiveConnections> live)
      : stream(std::move(ex)), live_(std::move(live)) {
    live_->insert(this);
  }
  ~UpstreamConnection() { live_->erase(this); }
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

 private:
  std::shared_ptr<LiveConnections> live_;
};

// What a relay reads one backend response into: the read buffer (Beast reads at most its free capacity, so
// it is made large: a small one means tiny reads) and the chunk each body piece is handed on in. The pool
// keeps them between requests: glibc consolidates its fast bins on every free of 64 KiB or more, whatever
// util/allocator sets, and the buffers need no allocation at all once a worker has its spares.
// The read buffer is bounded at its capacity (config::kMaxReadBuffer): a backend's chunk-size line or
// trailer section cannot outgrow it (the response fails instead).
struct ReadBuffers {
  static constexpr std::size_t kReadCapacity = config::kMaxReadBuffer;
  static constexpr std::size_t kChunk = 16 * 1024;
  beast::flat_buffer in{kReadCapacity};
  std::array<char, kChunk> chunk;
  ReadBuffers() { in.reserve(kReadCapacity); }
};

class UpstreamPool {
 public:
  explicit UpstreamPool(boost::asio::any_io_executor ex);

  // An idle pooled connection that still looks alive, else a new one (connect_timeout applies).
  // `fresh_only` skips the pool (used for the single retry after a dead pooled connection).
  boost::asio::awaitable<std::pair<beast::error_code, std::unique_ptr<UpstreamConnection>>> acquire(
      const config::UpstreamConfig& cfg, bool fresh_only = false);

  // Gives a connection whose last exchange completed cleanly back to the pool (or closes it if full).
  void release(std::unique_ptr<UpstreamConnection> conn, const config::UpstreamConfig& cfg);

  // Read buffers lent to a relay: back to the pool's spares when released (up to kSpareBuffers, emptied,
  // and only if they did not grow), freed otherwise, and freed too once the pool is gone (a coroutine frame
  // the io_context destroys after its worker's members).
  struct Spares;
  struct GiveBack {
    std::weak_ptr<Spares> to;
    void operator()(ReadBuffers* b) const;
  };
  using LentBuffers = std::unique_ptr<ReadBuffers, GiveBack>;
  LentBuffers take_buffers();
  static constexpr std::size_t kSpareBuffers = 16;

  // Closes every idle connection (shutdown).
  void clear() { idle_.clear(); }
  // The drain ran out of time: closes every connection, lent out ones too (their requests fail at once), and
  // refuses to open new ones.
  void abort_all();

 private:
  struct Idle {
    std::unique_ptr<UpstreamConnection> conn;
    std::chrono::steady_clock::time_point since;
  };
  boost::asio::any_io_executor ex_;
  std::shared_ptr<LiveConnections> live_ = std::make_shared<LiveConnections>();
  bool aborted_ = false;
  std::deque<Idle> idle_;    // most recently used at the back
  std::string idle_target_;  // the upstream the idle connections lead to
  std::shared_ptr<Spares> spares_;
};

}  // namespace orc::http
