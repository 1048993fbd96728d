// One worker thread: its io_context, its upstream pool and the registry of its connections.
#include "http/worker.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "http/server.hpp"
#include "http/session.hpp"
#include "metrics/metrics.hpp"
#include "util/thread_name.hpp"

namespace orc::http {

namespace asio = boost::asio;

Worker::Worker(Server& server, std::size_t index)
    : server_(server), index_(index), guard_(asio::make_work_guard(ctx_)), pool_(ctx_.get_executor()) {
  set_storage(nullptr);
}

void Worker::set_storage(std::shared_ptr<cache::Storage> s) {
  storage_up_.store(s == nullptr, std::memory_order_relaxed);  // a storage is up once its worker says so
  flow_ = std::make_unique<cache::CacheFlow>(
      cache::CacheFlow::Parts{std::move(s), server_.l1(), server_.coalescer(), server_.pending_purges(),
                              server_.clock(), ctx_.get_executor(), server_.verifier()});
}

Worker::~Worker() {
  join();
}

std::shared_ptr<const Runtime> Worker::runtime() const {
  auto version = server_.runtime_version();
  if (!runtime_ || version != runtime_version_) {
    runtime_ = server_.current_runtime();  // may already be newer than `version`: re-read next time, harmless
    runtime_version_ = version;
  }
  return runtime_;
}

namespace {
std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void Worker::publish_status() {
  storage_up_.store(!storage() || storage()->up(), std::memory_order_relaxed);
  last_tick_ms_.store(steady_ms(), std::memory_order_relaxed);
}

void Worker::refresh_status() {
  asio::post(ctx_, [this] { publish_status(); });
}

void Worker::status_tick() {
  publish_status();
  if (draining_) return;
  // Owed purges are replayed as soon as the storage answers, not at this instance's next request: until then
  // the other instances sharing the storage serve what the failed purge should have outdated.
  if (storage() && flow_->owes_purges() && storage()->up())
    asio::co_spawn(ctx_, flow_->replay_owed(), asio::detached);
  status_timer_.expires_after(kStatusTick);
  status_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) status_tick();
  });
}

bool Worker::responsive() const {
  return steady_ms() - last_tick_ms_.load(std::memory_order_relaxed) < kStalledAfter.count();
}

void Worker::start() {
  last_tick_ms_.store(steady_ms(), std::memory_order_relaxed);
  asio::post(ctx_, [this] { status_tick(); });
  thread_ = std::thread([this] {
    util::name_this_thread("orc-worker-" + std::to_string(index_));
    try {
      ctx_.run();
    } catch (const std::exception& e) {
      spdlog::critical("worker {} stopped by an unexpected exception: {}", index_, e.what());
    }
    {
      std::lock_guard lock(server_.done_mutex_);
      ++server_.workers_done_;
    }
    server_.done_cv_.notify_all();
  });
}

void Worker::adopt(asio::ip::tcp::socket socket) {
  server_.open_connections_.fetch_add(1, std::memory_order_relaxed);
  metrics::Metrics::get().open_connections().Increment();
  asio::co_spawn(ctx_, run_session(std::move(socket), *this), [this](std::exception_ptr e) {
    server_.open_connections_.fetch_sub(1, std::memory_order_relaxed);
    metrics::Metrics::get().open_connections().Decrement();
    if (draining_) close_storage_when_idle();
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("connection ended by an unexpected exception: {}", ex.what());
    }
  });
}

void Worker::begin_drain() {
  asio::post(ctx_, [this] {
    draining_ = true;
    status_timer_.cancel();
    for (auto* c : connections_)
      if (c->idle) c->stream->cancel();
    pool_.clear();
    close_storage_when_idle();
    guard_.reset();  // run() returns once the last connection finishes
  });
}

void Worker::close_storage_when_idle() {
  // Not before: a write that ends during the drain must still purge (its purge would otherwise be owed by a
  // process about to exit, and every other instance would serve the entries from before it).
  if (!connections_.empty()) return;
  if (auto* s = storage()) s->close();  // a Redis pool keeps the context busy until it is closed
}

void Worker::abort_all() {
  asio::post(ctx_, [this] {
    aborted_ = true;
    for (auto* c : connections_) c->stream->close();
    pool_.abort_all();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace orc::http
