// The listener and its workers.
#include "http/server.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <algorithm>
#include <boost/asio/post.hpp>
#include <thread>

#include "http/worker.hpp"

namespace orc::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::shared_ptr<const Runtime> make_runtime(std::shared_ptr<const config::Config> config,
                                            std::shared_ptr<const rules::Rulebook> rulebook,
                                            std::shared_ptr<const identity::JwtVerifier> verifier) {
  auto rt = std::make_shared<Runtime>();
  rt->config = std::move(config);
  rt->rulebook = std::move(rulebook);
  rt->verifier = std::move(verifier);
  auto& m = metrics::Metrics::get();
  if (rt->rulebook)
    for (const auto& r : rt->rulebook->rules()) {
      auto& rm = m.rule(r.cfg.name);
      const bool answered =
          std::any_of(r.fallbacks.begin(), r.fallbacks.end(), [](const auto& f) { return f.has_value(); });
      rm.init(r.cfg.action == config::ActionKind::cache, r.cfg.action == config::ActionKind::invalidate,
              answered);
      rt->rule_metrics.push_back(&rm);
    }
  rt->unmatched_metrics = &m.rule("none");
  return rt;
}

Server::Server(std::shared_ptr<const Runtime> runtime, StorageFactory storage, const util::Clock& clock)
    : runtime_(std::move(runtime)),
      storage_factory_(std::move(storage)),
      clock_(clock),
      coalescer_(clock),
      pending_purges_([](std::size_t n) { metrics::Metrics::get().set_purges_owed(n); }),
      verifier_(std::make_shared<cache::Verifier>(clock)) {
  if (runtime_ && runtime_->config) verifier_->configure(runtime_->config->cache.verify);
}

Server::~Server() {
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
}

std::shared_ptr<const Runtime> Server::current_runtime() const {
  std::lock_guard lock(runtime_mutex_);
  return runtime_;
}

void Server::update_runtime(std::shared_ptr<const Runtime> runtime) {
  if (runtime && runtime->config) verifier_->configure(runtime->config->cache.verify);
  std::lock_guard lock(runtime_mutex_);
  runtime_ = std::move(runtime);
  runtime_version_.fetch_add(1, std::memory_order_release);
}

void Server::start() {
  auto cfg = current_config();
  auto address = asio::ip::make_address(cfg->listen.host);
  tcp::endpoint endpoint(address, cfg->listen.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);

  auto threads = cfg->effective_threads();
  for (std::size_t i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, i));
    if (storage_factory_)
      workers_.back()->set_storage(storage_factory_(workers_.back()->context().get_executor()));
  }
  for (auto& w : workers_) w->start();
  // Give the storage its connect time before the first request, so that request is not a needless bypass.
  // Bounded by redis.connect_timeout; past it the cache fails open until Redis answers.
  if (cfg->redis.enabled) {
    auto deadline = std::chrono::steady_clock::now() + cfg->redis.connect_timeout;
    for (auto& w : workers_)
      while (!w->storage_up() && std::chrono::steady_clock::now() < deadline) {
        w->refresh_status();  // the worker asks its storage; this thread only reads the answer
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    if (!workers_.front()->storage_up())
      spdlog::warn("cache storage not reachable yet: serving from the backend until it is (fail open)");
  }
  accept_loop();
}

config::HostPort Server::bound_address() const {
  auto ep = acceptor_.local_endpoint();
  return {ep.address().to_string(), ep.port()};
}

Worker& Server::next_worker() {
  // Round robin, passing over a worker whose loop has stopped turning (it would never serve a connection) as
  // long as another one turns.
  std::size_t pick = next_worker_;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const std::size_t candidate = (next_worker_ + i) % workers_.size();
    if (workers_[candidate]->responsive()) {
      pick = candidate;
      break;
    }
  }
  next_worker_ = (pick + 1) % workers_.size();
  return *workers_[pick];
}

void Server::accept_loop() {
  // Each socket is accepted straight into the next worker's io_context.
  auto& worker = next_worker();
  acceptor_.async_accept(worker.context(), [this, &worker](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || draining_.load()) return;
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
        ec == asio::error::no_memory ||
        ec == boost::system::error_code(ENFILE, boost::system::system_category())) {
      // Out of file descriptors (or memory): the pending connection stays in the backlog, and the same error
      // would come back at once. Pause, log once per pause, and try again.
      metrics::Metrics::get().accept_paused();
      spdlog::error("accept failed: {} ({} connection(s) open): pausing accepts for {} ms", ec.message(),
                    open_connections(), kAcceptPause.count());
      accept_pause_.expires_after(kAcceptPause);
      accept_pause_.async_wait([this](boost::system::error_code wec) {
        if (!wec && !draining_.load()) accept_loop();
      });
      return;
    }
    if (ec) {
      // A connection that went away before it was accepted, and the like: keep accepting.
      spdlog::debug("accept failed: {}", ec.message());
    } else if (open_connections_.load(std::memory_order_relaxed) >=
               current_config()->limits.max_connections) {
      refused();
      boost::system::error_code ignored;
      socket.close(ignored);
    } else if (worker.responsive()) {
      worker.adopt(std::move(socket));
    } else {
      hand_over(worker, std::move(socket));
    }
    accept_loop();
  });
}

void Server::refused() {
  metrics::Metrics::get().connection_refused();
  ++refused_unlogged_;
  const auto now = std::chrono::steady_clock::now();
  if (refused_logged_ != std::chrono::steady_clock::time_point{} && now - refused_logged_ < kRefusalLogGap)
    return;  // a flood of them is one line per gap, and the metric
  spdlog::warn("connection limit ({}) reached: refused {} connection(s){}",
               current_config()->limits.max_connections, refused_unlogged_,
               refused_logged_ == std::chrono::steady_clock::time_point{} ? "" : " since the last such line");
  refused_logged_ = now;
  refused_unlogged_ = 0;
}

void Server::hand_over(Worker& stalled, tcp::socket socket) {
  // The worker chosen when the accept began has stopped turning since: the socket moves to another worker's
  // io_context, as its descriptor, when one turns.
  auto& worker = next_worker();
  if (!worker.responsive()) {
    stalled.adopt(std::move(socket));  // none turns: it waits where it is
    return;
  }
  boost::system::error_code ec;
  const auto protocol = socket.local_endpoint(ec).protocol();
  tcp::socket moved(worker.context());
  if (!ec) {
    const auto fd = socket.release(ec);
    if (!ec) {
      moved.assign(protocol, fd, ec);
      if (ec) ::close(fd);
    }
  }
  if (ec) {
    spdlog::warn("a connection accepted for a stalled worker could not move to another one: {}",
                 ec.message());
    return;  // `socket` (when it still holds the descriptor) closes it
  }
  worker.adopt(std::move(moved));
}

void Server::begin_shutdown() {
  if (draining_.exchange(true)) return;
  boost::system::error_code ec;
  acceptor_.close(ec);
  accept_pause_.cancel();
  for (auto& w : workers_) w->begin_drain();
}

void Server::cut_drain() {
  {
    std::lock_guard lock(done_mutex_);
    drain_cut_ = true;
  }
  done_cv_.notify_all();
}

bool Server::wait_drained() {
  auto drain = current_config()->timeouts.drain;
  bool in_time, cut;
  {
    std::unique_lock lock(done_mutex_);
    in_time = done_cv_.wait_for(lock, drain, [this] {
      return workers_done_ == workers_.size() || drain_cut_;
    }) && workers_done_ == workers_.size();
    cut = drain_cut_;
  }
  if (!in_time) {
    // Every connection is closed, backend ones too, and the workers run on until each coroutine has seen its
    // I/O fail and unwound (their frames touch the workers' pools and registries: they must not outlive
    // them).
    if (cut)
      spdlog::warn("drain cut short by a second signal with {} connection(s) open: closing them",
                   open_connections());
    else
      spdlog::warn("drain timeout ({} ms) reached with {} connection(s) open: closing them", drain.count(),
                   open_connections());
    for (auto& w : workers_) w->abort_all();
    std::unique_lock lock(done_mutex_);
    const char* const after = cut ? "the second signal" : "the drain timeout";
    if (done_cv_.wait_for(lock, kUnwindGrace, [this] { return workers_done_ == workers_.size(); })) {
      spdlog::info("every request ended after {}", after);
    } else {
      spdlog::error("requests still running {} ms after {}: stopping the workers", kUnwindGrace.count(),
                    after);
      for (auto& w : workers_) w->stop();
    }
  }
  for (auto& w : workers_) w->join();
  return in_time;
}

std::size_t Server::stalled_workers() const {
  std::size_t n = 0;
  for (const auto& w : workers_) n += w->responsive() ? 0 : 1;
  return n;
}

Worker* Server::responsive_worker() {
  for (auto& w : workers_)
    if (w->responsive()) return w.get();
  return nullptr;
}

}  // namespace orc::http
