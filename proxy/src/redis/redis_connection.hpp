// One Redis connection: a hiredis async context driven by Asio (style.md habit 9). It resolves with Asio
// (hiredis's own lookup blocks), connects without blocking, AUTHs and SELECTs, pipelines commands, drops
// the whole context when a reply is late, and reconnects by itself with a new context and back-off.
//
// Threading: every member is called on the connection's executor, which must be single-threaded (an
// io_context run by one thread, as each proxy worker is) or a strand; hiredis is not thread-safe. Async
// completions hold a weak pointer, so the connection must be owned by a std::shared_ptr.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "redis/redis_reply.hpp"
#include "redis/redis_url.hpp"

struct redisAsyncContext;

namespace orc::redis {

class MasterSource;

struct RedisOptions {
  RedisEndpoint endpoint;
  // Behind Sentinel (sentinel.hpp): the master's address, read at each connect (host and port of `endpoint`
  // unused); a connection checks ROLE before it is ready and drops when a write answers READONLY.
  std::shared_ptr<const MasterSource> master;
  std::chrono::milliseconds connect_timeout{1000};  // TCP connect plus AUTH and SELECT
  std::chrono::milliseconds command_timeout{50};    // per command; a late reply drops the connection
  std::chrono::milliseconds reconnect_initial{50};  // back-off between connection attempts, doubling...
  std::chrono::milliseconds reconnect_max{2000};    // ...up to this
  std::size_t connections = 2;                      // per pool (per worker)
  int breaker_threshold = 5;                        // consecutive failures that open the circuit
  std::chrono::milliseconds breaker_cooldown{1000};
  std::chrono::milliseconds breaker_cooldown_max{10000};
};

// A type-erased, move-only `void(RedisReply)` completion handler. (Boost 1.81's any_completion_handler
// recurses without end when Asio moves it through post(); this is the small part of it we need.) It
// keeps the handler's executor busy until it has run, as Asio's own operations do.
class RedisCompletion {
 public:
  RedisCompletion() = default;
  template <typename Handler>
  explicit RedisCompletion(Handler handler) : impl_(std::make_unique<Impl<Handler>>(std::move(handler))) {}
  explicit operator bool() const { return impl_ != nullptr; }
  // Queues the handler's call on its associated executor (`fallback` when it has none); never inline.
  void post(RedisReply reply, const boost::asio::any_io_executor& fallback) {
    if (auto impl = std::move(impl_)) impl->post(std::move(reply), fallback);
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void post(RedisReply reply, const boost::asio::any_io_executor& fallback) = 0;
  };
  template <typename Handler>
  struct Impl final : Base {
    explicit Impl(Handler h)
        : handler(std::move(h)),
          work(boost::asio::get_associated_executor(handler, boost::asio::system_executor())) {}
    void post(RedisReply reply, const boost::asio::any_io_executor& fallback) override {
      auto ex = boost::asio::get_associated_executor(handler, fallback);
      boost::asio::post(
          ex, [h = std::move(handler), r = std::move(reply)]() mutable { std::move(h)(std::move(r)); });
    }
    Handler handler;
    boost::asio::executor_work_guard<
        boost::asio::associated_executor_t<Handler, boost::asio::system_executor>>
        work;
  };
  std::unique_ptr<Base> impl_;
};

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  using Completion = RedisCompletion;

  RedisConnection(boost::asio::any_io_executor executor, std::shared_ptr<const RedisOptions> options);
  // Frees the context: pending commands complete with `unavailable`.
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Starts connecting; from then on the connection reconnects by itself until stop().
  void start();
  // Drops the context (pending commands complete with `unavailable`) and stops reconnecting.
  void stop();

  // Connected, authenticated and on the right database.
  bool ready() const { return state_ == State::ready && !dropping_; }
  // ready(), and behind Sentinel still on the current master: a connection made before a failover drops
  // (and connects again, to the new master) rather than read from a former master that now replicates.
  bool usable();
  std::size_t in_flight() const { return in_flight_.size(); }
  // Commands wait for a write already queued on the executor: one more joins the same write.
  bool write_queued() const { return write_posted_; }
  std::size_t peak_in_flight() const { return peak_in_flight_; }
  std::uint64_t connects() const { return connects_; }  // contexts that became ready so far

  // Sends one command (pipelined behind those in flight). The completion always runs through the
  // handler's executor, never inside a hiredis callback.
  template <typename Token>
  auto async_command(std::vector<std::string> args, Token&& token) {
    return boost::asio::async_initiate<Token, void(RedisReply)>(
        [this](auto handler, std::vector<std::string> a) {
          submit(std::move(a), Completion(std::move(handler)));
        },
        token, std::move(args));
  }

 private:
  enum class State { idle, resolving, connecting, handshaking, ready, waiting, stopped };
  struct Pending;

  void submit(std::vector<std::string> args, Completion handler);
  bool send(std::vector<std::string> args, std::unique_ptr<Pending> pending);
  void complete(Pending& pending, RedisReply reply);

  void resolve();
  void on_resolved(const boost::system::error_code& ec,
                   const boost::asio::ip::tcp::resolver::results_type& results);
  // Takes a context hiredis began connecting (TCP or a Unix socket): hooks it to the event loop.
  void attach(redisAsyncContext* ac);
  void on_connected(bool ok);
  void handshake();
  void become_ready();
  void schedule_reconnect();
  void drop(RedisStatus reason);
  void on_context_gone();  // hiredis's cleanup hook: the context is about to be freed

  void want(bool read, bool on);
  void arm(bool read);
  void on_ready_io(std::uint64_t epoch, bool read, const boost::system::error_code& ec);
  void read_available();
  void arm_command_timer();
  void on_command_timer(std::uint64_t epoch, const boost::system::error_code& ec);

  static void hook_add_read(void* data);
  static void hook_del_read(void* data);
  static void hook_add_write(void* data);
  static void hook_del_write(void* data);
  static void hook_cleanup(void* data);
  static void on_connect_cb(const redisAsyncContext* ac, int status);
  static void on_reply_cb(redisAsyncContext* ac, void* reply, void* privdata);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<const RedisOptions> options_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::posix::stream_descriptor socket_;  // watches hiredis's fd; released, never closed, by us
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer command_timer_;
  boost::asio::steady_timer backoff_timer_;

  State state_ = State::idle;
  redisAsyncContext* ac_ = nullptr;
  std::uint64_t epoch_ = 0;  // bumped whenever a context goes away: late completions of its waits see it
  bool want_read_ = false, want_write_ = false;
  bool read_armed_ = false, write_armed_ = false;
  bool command_timer_armed_ = false;
  bool write_posted_ = false;  // a write attempt is queued on the executor (see want())
  bool dropping_ = false;
  RedisStatus drop_reason_ = RedisStatus::unavailable;  // what the pending commands of a dropped context get
  int handshake_pending_ = 0;
  std::chrono::milliseconds backoff_;
  std::deque<Pending*> in_flight_;  // in send order (replies come in that order); owned by hiredis privdata
  std::size_t peak_in_flight_ = 0;
  std::uint64_t connects_ = 0;
  std::uint64_t master_version_ = 0;  // MasterSource::version() when this connection's address was read
  std::string where_;  // the address of the current attempt, for logs ("host:port", "unix:/path")
};

}  // namespace orc::redis
