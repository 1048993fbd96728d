// The hiredis/Asio adapter: hiredis's event hooks become waits on an Asio descriptor that only watches
// hiredis's socket; hiredis owns the socket and the context and frees both itself after a failure.
#include "redis/redis_connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cassert>
#include <mutex>
#include <unordered_map>

#include "redis/sentinel.hpp"

namespace orc::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Why connections to an endpoint fail, logged once per endpoint and reason: every connection of every
// worker's pool fails the same way and retries with its own backoff, which would repeat the line many times
// a second. The first connection that comes up again after a logged failure says so, once.
class ConnectLog {
 public:
  static void failed(const std::string& where, const std::string& why) {
    std::lock_guard lock(mutex_);
    auto& last = last_[where];
    if (last == why) return;
    last = why;
    spdlog::warn(
        "redis {}: {}: the cache steps aside (requests go to the backend) until a connection succeeds", where,
        why);
  }
  static void connected(const std::string& where) {
    std::lock_guard lock(mutex_);
    auto it = last_.find(where);
    if (it == last_.end() || it->second.empty()) return;
    it->second.clear();
    spdlog::info("redis {}: connected", where);
  }

 private:
  static inline std::mutex mutex_;
  static inline std::unordered_map<std::string, std::string> last_;  // endpoint -> last reason logged
};

// hiredis's reader builds each reply through these functions straight into a RedisValue: one copy of a bulk
// string, from the read buffer into its std::string (hiredis's own objects cost an allocation per element
// and a second copy, to_value() a third). The root of a reply is a ReplyRoot, whose first member is a
// redisReply header: hiredis reads `type` and `str` of a reply no command waits for (the error a server
// sends a connection over its client limit) as a redisReply. The elements of an array live in their
// parent's `elements`, grown as they are read; hiredis frees only roots.
struct ReplyRoot {
  redisReply head{};
  RedisValue value;
};

void reply_free(void* reply) {
  delete static_cast<ReplyRoot*>(reply);  // NOLINT(cppcoreguidelines-owning-memory)
}

RedisValue* value_for(const redisReadTask* task, void*& made) {
  if (task->parent == nullptr) {
    auto* root = new ReplyRoot;  // NOLINT(cppcoreguidelines-owning-memory): freed by reply_free
    root->head.type = task->type;
    made = root;
    return &root->value;
  }
  const redisReadTask* parent = task->parent;
  auto* array = parent->parent == nullptr ? &static_cast<ReplyRoot*>(parent->obj)->value
                                          : static_cast<RedisValue*>(parent->obj);
  // Elements come in order, each once its predecessor is whole: the array grows as they arrive, so memory
  // follows the bytes received, not the count announced. Nothing points into it meanwhile (hiredis keeps
  // the objects of the element's ancestors only, which live in other arrays).
  const auto idx = static_cast<std::size_t>(task->idx);
  if (array->elements.size() <= idx) array->elements.resize(idx + 1);
  auto* element = &array->elements[idx];
  made = element;
  return element;
}

// More elements than any reply this process asks for has (an MGET of an entry and its tags' generations,
// CLUSTER SLOTS): a longer array is refused, not allocated (`*2147483647` is 14 bytes).
constexpr int kMaxReplyElements = 1 << 20;

// The builders run inside hiredis's C reader: nothing may be thrown through it. A value they cannot build is
// refused (nullptr): hiredis then fails the connection as out of memory, its commands fail, and it
// reconnects.
template <typename Build>
void* build_reply(const redisReadTask* task, Build&& build) noexcept {
  void* made = nullptr;
  try {
    RedisValue& value = *value_for(task, made);  // sets `made` first
    build(value, made);
    return made;
  } catch (...) {
    if (task->parent == nullptr) reply_free(made);
    return nullptr;
  }
}

void* reply_string(const redisReadTask* task, char* str, size_t len) {
  return build_reply(task, [&](RedisValue& v, void* made) {
    v.type = task->type == REDIS_REPLY_ERROR ? RedisValue::Type::error : RedisValue::Type::string;
    v.str.assign(str, len);
    if (task->parent == nullptr) {
      auto* root = static_cast<ReplyRoot*>(made);
      root->head.str = v.str.data();
      root->head.len = v.str.size();
    }
  });
}

void* reply_array(const redisReadTask* task, int elements) {
  if (elements > kMaxReplyElements) return nullptr;
  return build_reply(task, [&](RedisValue& v, void*) {
    v.type = RedisValue::Type::array;
    v.elements.reserve(static_cast<std::size_t>(std::clamp(elements, 0, 64)));  // more as they come
  });
}

void* reply_integer(const redisReadTask* task, long long value) {
  return build_reply(task, [&](RedisValue& v, void*) {
    v.type = RedisValue::Type::integer;
    v.integer = value;
  });
}

void* reply_nil(const redisReadTask* task) {
  return build_reply(task, [&](RedisValue& v, void*) { v.type = RedisValue::Type::nil; });
}

redisReplyObjectFunctions kReplyFunctions{&reply_string, &reply_array, &reply_integer, &reply_nil,
                                          &reply_free};

// Completes `handler` through its own executor: never inline, so a caller's continuation can neither
// re-enter hiredis from inside one of its callbacks nor destroy the connection under it.
void post_completion(RedisConnection::Completion handler, RedisReply reply,
                     const boost::asio::any_io_executor& executor) {
  handler.post(std::move(reply), executor);
}

}  // namespace

// The privdata of one hiredis command: freed by on_reply_cb, which hiredis calls exactly once per
// accepted command (with a NULL reply when the context goes away).
struct RedisConnection::Pending {
  RedisConnection* owner = nullptr;
  Completion handler;                        // a caller's command...
  std::function<void(RedisReply)> internal;  // ...or one of the connection's own (AUTH, SELECT)
  SteadyClock::time_point deadline;
};

RedisConnection::RedisConnection(boost::asio::any_io_executor executor,
                                 std::shared_ptr<const RedisOptions> options)
    : executor_(executor),
      options_(std::move(options)),
      resolver_(executor),
      socket_(executor),
      connect_timer_(executor),
      command_timer_(executor),
      backoff_timer_(executor),
      backoff_(options_->reconnect_initial) {}

RedisConnection::~RedisConnection() {
  state_ = State::stopped;
  // Fails the pending commands and runs the cleanup hook, which releases the descriptor.
  if (ac_ != nullptr) redisAsyncFree(ac_);
}

void RedisConnection::start() {
  if (state_ != State::idle) return;
  resolve();
}

void RedisConnection::stop() {
  state_ = State::stopped;
  resolver_.cancel();
  backoff_timer_.cancel();
  connect_timer_.cancel();
  if (ac_ != nullptr) drop(RedisStatus::unavailable);
}

bool RedisConnection::usable() {
  if (!ready()) return false;
  if (options_->master && options_->master->version() != master_version_) {
    drop(RedisStatus::unavailable);
    return false;
  }
  return true;
}

void RedisConnection::submit(std::vector<std::string> args, Completion handler) {
  if (state_ != State::ready || dropping_ || ac_ == nullptr) {
    post_completion(std::move(handler), RedisReply::failure(RedisStatus::unavailable, "not connected"),
                    executor_);
    return;
  }
  auto pending = std::make_unique<Pending>();
  pending->owner = this;
  pending->handler = std::move(handler);
  pending->deadline = SteadyClock::now() + options_->command_timeout;
  send(std::move(args), std::move(pending));
}

bool RedisConnection::send(std::vector<std::string> args, std::unique_ptr<Pending> pending) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  // hiredis copies the arguments into its output buffer; `args` may die after this call.
  int rc = args.empty() ? REDIS_ERR
                        : redisAsyncCommandArgv(ac_, &RedisConnection::on_reply_cb, pending.get(),
                                                static_cast<int>(args.size()), argv.data(), lens.data());
  if (rc != REDIS_OK) {  // hiredis did not take the privdata: it is ours to free (unique_ptr)
    complete(*pending, RedisReply::failure(args.empty() ? RedisStatus::error : RedisStatus::unavailable,
                                           args.empty() ? "empty command" : "connection closing"));
    return false;
  }
  in_flight_.push_back(pending.release());
  peak_in_flight_ = std::max(peak_in_flight_, in_flight_.size());
  arm_command_timer();
  return true;
}

void RedisConnection::complete(Pending& pending, RedisReply reply) {
  if (pending.internal) {
    pending.internal(std::move(reply));
  } else if (pending.handler) {
    post_completion(std::move(pending.handler), std::move(reply), executor_);
  }
}

void RedisConnection::on_reply_cb(redisAsyncContext* /*ac*/, void* reply, void* privdata) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));  // freed even on a NULL reply
  if (!pending) return;
  RedisConnection* self = pending->owner;
  if (auto it = std::find(self->in_flight_.begin(), self->in_flight_.end(), pending.get());
      it != self->in_flight_.end())
    self->in_flight_.erase(it);
  RedisReply r;
  if (reply == nullptr) {  // the context is being freed: dropped (timeout), closed, or failed
    r = RedisReply::failure(self->drop_reason_, "connection dropped");
  } else {
    r.value = std::move(static_cast<ReplyRoot*>(reply)->value);  // hiredis frees the root after this
    r.status = r.value.is_error() ? RedisStatus::error : RedisStatus::ok;
  }
  // A master demoted under us (a failover it survived) refuses writes: connect again, to the new master.
  const bool demoted =
      self->options_->master && r.status == RedisStatus::error && r.error_text().starts_with("READONLY");
  self->complete(*pending, std::move(r));
  if (demoted) self->drop(RedisStatus::unavailable);
}

void RedisConnection::resolve() {
  state_ = State::resolving;
  std::string host = options_->endpoint.host;
  std::uint16_t port = options_->endpoint.port;
  if (options_->master) {                           // behind Sentinel: wherever the master is now
    master_version_ = options_->master->version();  // before the address: a change in between is seen
    auto at = options_->master->current();
    if (!at) {  // no sentinel has answered yet
      schedule_reconnect();
      return;
    }
    host = at->host;
    port = at->port;
  } else if (!options_->endpoint.unix_path.empty()) {  // a Unix socket: nothing to resolve
    where_ = options_->endpoint.where();
    attach(redisAsyncConnectUnix(options_->endpoint.unix_path.c_str()));
    return;
  }
  RedisEndpoint at;
  at.host = host;
  at.port = port;
  where_ = at.where();
  // hiredis would resolve with a blocking getaddrinfo(); Asio resolves off the worker thread.
  resolver_.async_resolve(
      host, std::to_string(port),
      [weak = weak_from_this()](const boost::system::error_code& ec,
                                const boost::asio::ip::tcp::resolver::results_type& results) {
        if (auto self = weak.lock()) self->on_resolved(ec, results);
      });
}

void RedisConnection::on_resolved(const boost::system::error_code& ec,
                                  const boost::asio::ip::tcp::resolver::results_type& results) {
  if (state_ != State::resolving) return;  // stopped meanwhile
  if (ec || results.empty()) {
    ConnectLog::failed(where_, "cannot resolve the host (" + (ec ? ec.message() : "no address") + ")");
    schedule_reconnect();
    return;
  }
  const auto endpoint = results.begin()->endpoint();
  const std::string ip = endpoint.address().to_string();  // numeric: hiredis's lookup does not block
  attach(redisAsyncConnect(ip.c_str(), endpoint.port()));
}

void RedisConnection::attach(redisAsyncContext* ac) {
  if (ac == nullptr) {
    ConnectLog::failed(where_, "cannot connect (out of memory)");
    schedule_reconnect();
    return;
  }
  if (ac->err != 0) {  // failed before any hook was attached: ours to free, and nothing else runs
    ConnectLog::failed(where_, std::string("cannot connect (") + ac->errstr + ")");
    redisAsyncFree(ac);
    schedule_reconnect();
    return;
  }
  boost::system::error_code assign_ec;
  socket_.assign(ac->c.fd, assign_ec);
  if (assign_ec) {
    redisAsyncFree(ac);
    schedule_reconnect();
    return;
  }
  ac_ = ac;
  ac->c.reader->fn = &kReplyFunctions;  // nothing read yet: every reply of this context is built by them
  ac->data = this;
  ac->ev.data = this;
  ac->ev.addRead = &RedisConnection::hook_add_read;
  ac->ev.delRead = &RedisConnection::hook_del_read;
  ac->ev.addWrite = &RedisConnection::hook_add_write;
  ac->ev.delWrite = &RedisConnection::hook_del_write;
  ac->ev.cleanup = &RedisConnection::hook_cleanup;
  state_ = State::connecting;

  connect_timer_.expires_after(options_->connect_timeout);
  connect_timer_.async_wait([weak = weak_from_this(), epoch = epoch_](const boost::system::error_code& e) {
    auto self = weak.lock();
    if (!self || e || epoch != self->epoch_) return;
    if (self->state_ == State::connecting || self->state_ == State::handshaking) {
      ConnectLog::failed(self->where_,
                         self->state_ == State::connecting
                             ? "no connection within redis.connect_timeout"
                             : "no answer to AUTH, SELECT or ROLE within redis.connect_timeout");
      self->drop(RedisStatus::unavailable);
    }
  });
  // Arms the first write wait: the socket turning writable is how hiredis learns the connect finished.
  redisAsyncSetConnectCallback(ac, &RedisConnection::on_connect_cb);
}

void RedisConnection::on_connect_cb(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisConnection*>(ac->data);
  if (status != REDIS_OK)
    ConnectLog::failed(self->where_, std::string("cannot connect (") + ac->errstr + ")");
  self->on_connected(status == REDIS_OK);
}

void RedisConnection::on_connected(bool ok) {
  // On failure hiredis frees the context right after this callback (never free it here); the cleanup
  // hook then schedules the next attempt.
  if (!ok) return;
  handshake();
}

void RedisConnection::handshake() {
  state_ = State::handshaking;
  const auto& ep = options_->endpoint;
  std::vector<std::vector<std::string>> commands;
  if (!ep.password.empty()) {
    if (ep.user.empty())
      commands.push_back({"AUTH", ep.password});
    else
      commands.push_back({"AUTH", ep.user, ep.password});
  }
  if (ep.db != 0) commands.push_back({"SELECT", std::to_string(ep.db)});
  // Behind Sentinel, an address can be out of date (a failover the watcher has not heard of yet, a former
  // master that came back as a replica): only a master will do.
  if (options_->master) commands.push_back({"ROLE"});
  if (commands.empty()) {
    become_ready();
    return;
  }
  handshake_pending_ = static_cast<int>(commands.size());
  const auto deadline = SteadyClock::now() + options_->connect_timeout;
  for (auto& cmd : commands) {
    auto pending = std::make_unique<Pending>();
    pending->owner = this;
    pending->deadline = deadline;
    const std::string name = cmd.front();
    pending->internal = [this, name](RedisReply r) {
      if (r.status == RedisStatus::error) {  // wrong password, no such database: try again later
        // Redis's error text names the problem, never the password ("WRONGPASS invalid username-password
        // pair or user is disabled.", "ERR DB index is out of range").
        ConnectLog::failed(where_, "refused " + name + " (" + std::string(r.error_text()) + ")");
        drop(RedisStatus::unavailable);
        return;
      }
      if (name == "ROLE" && r.ok() &&
          !(r.value.is_array() && !r.value.elements.empty() && r.value.elements.front().str == "master")) {
        ConnectLog::failed(where_, "is not the master (the sentinels have not named the new one yet)");
        drop(RedisStatus::unavailable);  // a replica: the watcher will name the master
        return;
      }
      if (!r.ok()) return;  // the context is going away already
      if (--handshake_pending_ == 0 && state_ == State::handshaking && !dropping_) become_ready();
    };
    if (!send(std::move(cmd), std::move(pending))) return;
  }
}

void RedisConnection::become_ready() {
  ConnectLog::connected(where_);
  state_ = State::ready;
  connect_timer_.cancel();
  backoff_ = options_->reconnect_initial;
  ++connects_;
}

void RedisConnection::schedule_reconnect() {
  if (state_ == State::stopped) return;
  state_ = State::waiting;
  backoff_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, options_->reconnect_max);
  backoff_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->state_ != State::waiting) return;
    self->resolve();
  });
}

void RedisConnection::drop(RedisStatus reason) {
  if (ac_ == nullptr || dropping_) return;
  dropping_ = true;
  drop_reason_ = reason;
  // Pipelined replies cannot be cancelled one by one: free the whole context. hiredis runs every pending
  // callback with a NULL reply, then the cleanup hook (deferred until the current callback returns when
  // called from inside one).
  redisAsyncFree(ac_);
}

void RedisConnection::on_context_gone() {
  // Idempotent. release(), never close(): hiredis closes its own fd right after this hook.
  if (socket_.is_open()) socket_.release();
  ac_ = nullptr;
  ++epoch_;
  want_read_ = want_write_ = false;
  read_armed_ = write_armed_ = false;
  command_timer_armed_ = false;
  command_timer_.cancel();
  connect_timer_.cancel();
  dropping_ = false;
  drop_reason_ = RedisStatus::unavailable;
  handshake_pending_ = 0;
  assert(in_flight_.empty());
  in_flight_.clear();
  if (state_ != State::stopped) schedule_reconnect();
}

void RedisConnection::hook_add_read(void* data) {
  static_cast<RedisConnection*>(data)->want(true, true);
}
void RedisConnection::hook_del_read(void* data) {
  static_cast<RedisConnection*>(data)->want(true, false);
}
void RedisConnection::hook_add_write(void* data) {
  static_cast<RedisConnection*>(data)->want(false, true);
}
void RedisConnection::hook_del_write(void* data) {
  static_cast<RedisConnection*>(data)->want(false, false);
}
void RedisConnection::hook_cleanup(void* data) {
  static_cast<RedisConnection*>(data)->on_context_gone();
}

void RedisConnection::want(bool read, bool on) {
  (read ? want_read_ : want_write_) = on;
  // A wait that is no longer wanted is left to complete: its handler sees the flag and does nothing.
  if (!on) return;
  if (!read && ac_ != nullptr && (ac_->c.flags & REDIS_CONNECTED) != 0) {
    // Connected: the socket is nearly always writable, so write at once (after the current handler, which
    // lets every command issued meanwhile go out in the same write) instead of a readiness wait, whose
    // epoll registration and wake-up cost more than the write. A full socket buffer falls back to the wait.
    if (write_posted_) return;
    write_posted_ = true;
    boost::asio::post(executor_, [weak = weak_from_this()] {
      auto self = weak.lock();
      if (!self) return;
      self->write_posted_ = false;  // whichever context is current now (one may have replaced another)
      if (self->ac_ == nullptr || !self->want_write_) return;
      if ((self->ac_->c.flags & REDIS_CONNECTED) == 0) {
        self->arm(false);
        return;
      }
      const auto epoch = self->epoch_;
      redisAsyncHandleWrite(self->ac_);  // may free the context: the cleanup hook bumps the epoch
      if (epoch == self->epoch_ && self->ac_ != nullptr && self->want_write_) self->arm(false);
    });
    return;
  }
  arm(read);
}

void RedisConnection::arm(bool read) {
  bool& armed = read ? read_armed_ : write_armed_;
  if (armed || !socket_.is_open()) return;
  armed = true;
  socket_.async_wait(read ? boost::asio::posix::stream_descriptor::wait_read
                          : boost::asio::posix::stream_descriptor::wait_write,
                     [weak = weak_from_this(), epoch = epoch_, read](const boost::system::error_code& ec) {
                       if (auto self = weak.lock()) self->on_ready_io(epoch, read, ec);
                     });
}

void RedisConnection::on_ready_io(std::uint64_t epoch, bool read, const boost::system::error_code& ec) {
  if (epoch != epoch_) return;  // a wait on a context that is gone
  (read ? read_armed_ : write_armed_) = false;
  if (ec == boost::asio::error::operation_aborted || ac_ == nullptr) return;
  if (ec) {
    drop(RedisStatus::unavailable);
    return;
  }
  if (!(read ? want_read_ : want_write_)) return;
  // Either call may free the context (EOF, error, failed connect): the cleanup hook bumps the epoch.
  if (read)
    read_available();
  else
    redisAsyncHandleWrite(ac_);
  if (epoch == epoch_ && ac_ != nullptr && (read ? want_read_ : want_write_)) arm(read);
}

// hiredis reads at most 16 KiB a call. One call per wake-up would leave the rest of a pipelined burst of
// replies (a few entries of a few KiB each) in the socket until the next turn of the event loop, behind every
// other connection's work: under load the replies would queue in the kernel, the command timeout would fire
// on replies that had arrived, and throughput would be capped at 16 KiB a turn. So read on while the socket
// holds more, up to kMaxReadsPerWake calls (then the next turn, so one connection cannot starve the others).
void RedisConnection::read_available() {
  constexpr int kMaxReadsPerWake = 64;  // 1 MiB
  const auto epoch = epoch_;
  for (int i = 0; i < kMaxReadsPerWake; ++i) {
    redisAsyncHandleRead(ac_);  // may free the context: the cleanup hook bumps the epoch
    // Nothing in flight, nothing to wait for (these connections never subscribe): no need to ask the kernel.
    if (epoch != epoch_ || ac_ == nullptr || !want_read_ || in_flight_.empty()) return;
    int queued = 0;
    if (::ioctl(ac_->c.fd, FIONREAD, &queued) != 0 || queued <= 0) return;
  }
}

void RedisConnection::arm_command_timer() {
  if (command_timer_armed_ || in_flight_.empty()) return;
  command_timer_armed_ = true;
  command_timer_.expires_at(in_flight_.front()->deadline);
  command_timer_.async_wait([weak = weak_from_this(), epoch = epoch_](const boost::system::error_code& ec) {
    if (auto self = weak.lock()) self->on_command_timer(epoch, ec);
  });
}

void RedisConnection::on_command_timer(std::uint64_t epoch, const boost::system::error_code& ec) {
  if (epoch != epoch_) return;
  command_timer_armed_ = false;
  if (ec == boost::asio::error::operation_aborted || in_flight_.empty()) return;
  // Replies come in send order, so the oldest command is the one that may be late. Its reply may be waiting
  // in the socket while this worker was busy: late means Redis has not answered, not that we have not read.
  if (in_flight_.front()->deadline <= SteadyClock::now() && ac_ != nullptr) {
    read_available();
    if (epoch != epoch_ || ac_ == nullptr) return;
  }
  if (!in_flight_.empty() && in_flight_.front()->deadline <= SteadyClock::now()) {
    drop(RedisStatus::timeout);
    return;
  }
  arm_command_timer();
}

}  // namespace orc::redis
