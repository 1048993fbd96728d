// The listener and its worker threads: one io_context per worker (single-threaded, so each connection's
// coroutine and the worker's upstream pool need no locks), one acceptor handing sockets out round-robin.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cache/coalescer.hpp"
#include "cache/l1_cache.hpp"
#include "cache/pending_purges.hpp"
#include "cache/storage.hpp"
#include "cache/verify.hpp"
#include "config/config.hpp"
#include "http/runtime.hpp"
#include "util/clock.hpp"

namespace orc::http {

class Worker;

// Makes the storage a worker uses: the memory backend hands every worker the same store, the redis
// backend gives each worker its own connection pool on the worker's executor.
using StorageFactory = std::function<std::shared_ptr<cache::Storage>(boost::asio::any_io_executor)>;

class Server {
 public:
  // `clock`: the time every cache decision reads (tests pass a util::ManualClock). Outlives the server.
  Server(std::shared_ptr<const Runtime> runtime, StorageFactory storage,
         const util::Clock& clock = util::SystemClock::instance());
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listener and starts the workers. Throws std::system_error when the address cannot be bound.
  void start();
  // The address actually bound (port 0 in the config picks a free port).
  config::HostPort bound_address() const;

  // The io_context of the calling (main) thread: acceptor and signals live here.
  boost::asio::io_context& main_context() { return main_ctx_; }

  // Swaps in a new runtime for requests that start from now on (listen and threads need a restart).
  void update_runtime(std::shared_ptr<const Runtime> runtime);
  std::shared_ptr<const Runtime> current_runtime() const;
  // Moves on every update_runtime(): a cheap check whether a copy of the runtime is still current.
  std::uint64_t runtime_version() const { return runtime_version_.load(std::memory_order_acquire); }
  std::shared_ptr<const config::Config> current_config() const { return current_runtime()->config; }
  const util::Clock& clock() const { return clock_; }
  cache::Coalescer& coalescer() { return coalescer_; }
  cache::PendingPurges& pending_purges() { return pending_purges_; }
  // The in-process L1 in front of Redis, or null when there is none. Set before start().
  void set_l1(std::shared_ptr<cache::L1Cache> l1) { l1_ = std::move(l1); }
  cache::L1Cache* l1() const { return l1_.get(); }
  // Verify mode (cache.verify): one per process, shared by the workers, configured from the runtime.
  const std::shared_ptr<cache::Verifier>& verifier() const { return verifier_; }

  // Stops accepting; idle keep-alive connections close; in-flight requests finish. Returns immediately.
  void begin_shutdown();
  bool shutting_down() const { return draining_.load(std::memory_order_acquire); }
  // Ends wait_drained()'s wait for the requests at once, as if the drain timeout had passed (a second
  // SIGTERM or SIGINT).
  void cut_drain();
  // Waits until every connection has finished or the drain timeout passed; then closes every connection and
  // waits (at most kUnwindGrace) for the requests to end before it stops the workers. Returns true when
  // everything finished within the drain timeout.
  bool wait_drained();
  static constexpr std::chrono::milliseconds kUnwindGrace{5000};

  std::size_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }
  // The first worker (the admin endpoints run their storage calls on it: storage belongs to a worker).
  Worker& first_worker() { return *workers_.front(); }
  // Workers whose event loop has stopped turning (Worker::responsive()); never waits for one.
  std::size_t stalled_workers() const;
  // The first worker whose loop turns, or null when none does.
  Worker* responsive_worker();

 private:
  friend class Worker;
  void accept_loop();
  // The worker the next connection goes to: the next in turn whose loop turns (any, when none does).
  Worker& next_worker();
  // A connection closed at limits.max_connections: counted, and logged at most once per kRefusalLogGap.
  void refused();
  static constexpr std::chrono::seconds kRefusalLogGap{10};
  std::chrono::steady_clock::time_point refused_logged_{};  // (the main context's thread only)
  std::uint64_t refused_unlogged_ = 0;
  // Moves a socket accepted into `stalled`'s io_context to a worker that turns.
  void hand_over(Worker& stalled, boost::asio::ip::tcp::socket socket);

  // Declared first, destroyed last: the acceptor's pending accept holds a socket of a worker's io_context,
  // destroyed with main_ctx_ (found by UBSan at exit).
  std::vector<std::unique_ptr<Worker>> workers_;
  boost::asio::io_context main_ctx_{1};
  boost::asio::ip::tcp::acceptor acceptor_{main_ctx_};
  // Accepting pauses this long after accept() failed for want of a resource (out of file descriptors): the
  // loop would otherwise spin on the same error, logging every turn.
  static constexpr std::chrono::milliseconds kAcceptPause{250};
  boost::asio::steady_timer accept_pause_{main_ctx_};
  std::size_t next_worker_ = 0;
  std::atomic<std::size_t> open_connections_{0};
  std::atomic<bool> draining_{false};

  // Swapped on reload under the mutex; workers keep a copy and re-read it only when the version moved, so
  // the hot path takes no lock. (Not std::atomic<std::shared_ptr>: GCC 12's load unlocks with a relaxed
  // store, a data race ThreadSanitizer reports against the next store.)
  mutable std::mutex runtime_mutex_;
  std::shared_ptr<const Runtime> runtime_;
  std::atomic<std::uint64_t> runtime_version_{0};
  StorageFactory storage_factory_;
  const util::Clock& clock_;
  cache::Coalescer coalescer_;
  cache::PendingPurges pending_purges_;
  std::shared_ptr<cache::L1Cache> l1_;
  std::shared_ptr<cache::Verifier> verifier_;

  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  std::size_t workers_done_ = 0;
  bool drain_cut_ = false;  // under done_mutex_
};

}  // namespace orc::http
