// One worker thread: its io_context, its upstream pool and the registry of its connections (for draining).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_set>

#include <boost/asio/awaitable.hpp>

#include "cache/flow.hpp"
#include "cache/storage.hpp"
#include "config/config.hpp"
#include "http/runtime.hpp"
#include "http/upstream_pool.hpp"

namespace orc::http {

class Server;

// What a connection's coroutine shares with its worker, touched only on the worker's thread.
struct ConnectionState {
  boost::beast::tcp_stream* stream = nullptr;
  bool idle = false;  // waiting for the next request: safe to close when draining
};

class Worker {
 public:
  Worker(Server& server, std::size_t index);
  ~Worker();

  boost::asio::io_context& context() { return ctx_; }
  UpstreamPool& pool() { return pool_; }
  Server& server() { return server_; }
  std::size_t index() const { return index_; }
  bool draining() const { return draining_; }
  // The drain ran out of time and abort_all() closed every connection: what fails now was cut by the
  // shutdown, not by the backend (worker thread only).
  bool cut_by_shutdown() const { return aborted_; }
  // The current runtime snapshot; called on this worker's thread only (a per-worker copy, no lock).
  std::shared_ptr<const Runtime> runtime() const;
  // The worker's cache flow: every request is served through it (cache/flow.hpp).
  cache::CacheFlow& flow() { return *flow_; }
  // Null when caching is off (no storage configured).
  cache::Storage* storage() const { return flow_->storage(); }
  // Called once, before start(): the flow's storage.
  void set_storage(std::shared_ptr<cache::Storage> s);
  // Whether the storage answers, as this worker saw it at its last status tick (at most kStatusTick ago):
  // the storage is not thread-safe, so the worker itself asks it. Callable from any thread; never waits.
  // True when there is no storage.
  bool storage_up() const { return storage_up_.load(std::memory_order_relaxed); }
  // False when the worker's event loop has not run its status tick for kStalledAfter (its thread died, or
  // something blocks it). Callable from any thread; never waits.
  bool responsive() const;
  static constexpr std::chrono::milliseconds kStatusTick{500};
  // Asks the worker to publish its status now, not at its next tick (returns at once; storage_up() shows
  // the answer once the worker has run it).
  void refresh_status();
  static constexpr std::chrono::milliseconds kStalledAfter{10000};

  void start();
  // Adopts an accepted socket (already bound to this worker's context) and runs its session.
  void adopt(boost::asio::ip::tcp::socket socket);
  // Posted on shutdown: mark draining, close idle connections, let the context run out of work.
  void begin_drain();
  // Posted when the drain ran out of time: closes every client connection and every backend connection, so
  // each coroutine on this worker sees its I/O fail and unwinds; run() then returns.
  void abort_all();
  // Stops the context at once (the last resort when abort_all() did not end everything in time).
  void stop() { ctx_.stop(); }
  void join();

  void register_connection(ConnectionState* c) { connections_.insert(c); }
  void unregister_connection(ConnectionState* c) { connections_.erase(c); }

 private:
  // Draining: closes the storage once no connection is left (closing is idempotent).
  void close_storage_when_idle();
  Server& server_;
  std::size_t index_;
  boost::asio::io_context ctx_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  UpstreamPool pool_;
  std::unique_ptr<cache::CacheFlow> flow_;
  mutable std::shared_ptr<const Runtime> runtime_;  // runtime(): a copy of the server's, by version
  mutable std::uint64_t runtime_version_ = 0;
  std::thread thread_;
  bool draining_ = false;
  bool aborted_ = false;
  // The status tick: what other threads may read of this worker without waiting for it.
  void status_tick();
  void publish_status();
  boost::asio::steady_timer status_timer_{ctx_};
  std::atomic<bool> storage_up_{true};
  std::atomic<std::int64_t> last_tick_ms_{0};  // steady clock, milliseconds
  std::unordered_set<ConnectionState*> connections_;
};

}  // namespace orc::http
