// Round-robin over ready connections, the circuit breaker around every command, and EVALSHA with reload.
#include "redis/redis_pool.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <memory>

namespace orc::redis {

RedisPool::Core::Core(std::shared_ptr<const RedisOptions> o, CircuitBreaker::Clock clock)
    : options(std::move(o)),
      breaker(options->breaker_threshold, options->breaker_cooldown, options->breaker_cooldown_max,
              std::move(clock)) {}

std::shared_ptr<RedisConnection> RedisPool::Core::pick() {
  // The commands of one turn of the event loop go out together, in one write on one connection, and their
  // replies come back in one read: handed round-robin, each connection cost a write, a read and a wake-up
  // a turn. The connections take turns between batches.
  if (const auto last = (next + connections.size() - 1) % connections.size();
      connections[last]->write_queued() && connections[last]->usable())
    return connections[last];
  for (std::size_t i = 0; i < connections.size(); ++i) {
    auto& c = connections[(next + i) % connections.size()];
    if (c->usable()) {
      next = (next + i + 1) % connections.size();
      return c;
    }
  }
  return nullptr;
}

RedisPool::RedisPool(boost::asio::any_io_executor executor, RedisOptions options, CircuitBreaker::Clock clock)
    : executor_(std::move(executor)),
      core_(std::make_shared<Core>(std::make_shared<const RedisOptions>(std::move(options)),
                                   std::move(clock))) {
  const std::size_t n = std::max<std::size_t>(core_->options->connections, 1);
  core_->connections.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto conn = std::make_shared<RedisConnection>(executor_, core_->options);
    core_->connections.push_back(conn);
    // Started from the executor, so even a pool built on another thread touches hiredis only there.
    boost::asio::post(executor_, [weak = std::weak_ptr<RedisConnection>(conn)] {
      if (auto c = weak.lock()) c->start();
    });
  }
}

RedisPool::~RedisPool() {
  close();
}

void RedisPool::close() {
  if (core_->closed) return;
  core_->closed = true;
  for (auto& c : core_->connections) c->stop();
}

boost::asio::awaitable<RedisReply> RedisPool::command(std::vector<std::string> args) {
  return run(core_, std::move(args));
}

boost::asio::awaitable<RedisReply> RedisPool::eval(RedisScript& script, std::vector<std::string> keys,
                                                   std::vector<std::string> args) {
  return run_script(core_, script, std::move(keys), std::move(args));
}

boost::asio::awaitable<RedisReply> RedisPool::eval_wait(RedisScript& script, std::vector<std::string> keys,
                                                        std::vector<std::string> args, int replicas,
                                                        std::chrono::milliseconds timeout) {
  return run_script_wait(core_, executor_, script, std::move(keys), std::move(args), replicas, timeout);
}

boost::asio::awaitable<RedisReply> RedisPool::asking(std::vector<std::string> args) {
  auto core = core_;
  if (core->closed) co_return RedisReply::failure(RedisStatus::unavailable, "pool closed");
  if (!core->breaker.allow()) co_return RedisReply::failure(RedisStatus::unavailable, "circuit open");
  auto on = core->pick();
  if (!on) {
    core->breaker.record_no_connection();
    co_return RedisReply::failure(RedisStatus::unavailable, "no connection");
  }
  // Both are queued before either is answered, so no other command comes between them on `on`. The reply
  // to ASKING is of no use: a refusal shows in the command's own.
  on->async_command(std::vector<std::string>{"ASKING"}, [](RedisReply) {});
  RedisReply reply = co_await on->async_command(std::move(args), boost::asio::use_awaitable);
  core->breaker.record(reply.status != RedisStatus::unavailable && reply.status != RedisStatus::timeout);
  co_return reply;
}

namespace {

// PINGs sent behind a command on its connection: the first after `first`, then one every `every`, at most
// `limit` of them, until stop(). Each wakes Redis's event loop (see eval_wait).
class Nudge : public std::enable_shared_from_this<Nudge> {
 public:
  Nudge(boost::asio::any_io_executor executor, std::shared_ptr<RedisConnection> on, int limit)
      : timer_(std::move(executor)), on_(std::move(on)), left_(limit) {}
  void arm(std::chrono::milliseconds first, std::chrono::milliseconds every) {
    timer_.expires_after(first);
    timer_.async_wait([self = shared_from_this(), every](boost::system::error_code ec) {
      if (ec || self->left_ <= 0 || !self->on_->usable()) return;
      self->on_->async_command(std::vector<std::string>{"PING"}, [](RedisReply) {});
      if (--self->left_ > 0) self->arm(every, every);
    });
  }
  void stop() {
    left_ = 0;
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  std::shared_ptr<RedisConnection> on_;
  int left_;
};

}  // namespace

boost::asio::awaitable<RedisReply> RedisPool::run_script_wait(std::shared_ptr<Core> core,
                                                              boost::asio::any_io_executor executor,
                                                              RedisScript& script,
                                                              std::vector<std::string> keys,
                                                              std::vector<std::string> args, int replicas,
                                                              std::chrono::milliseconds timeout) {
  auto on = core->closed ? nullptr : core->pick();
  if (!on) co_return RedisReply::failure(RedisStatus::unavailable, "no connection");
  RedisReply r = co_await run_script(core, script, std::move(keys), std::move(args), on);
  if (!r.ok()) co_return r;
  if (!on->usable()) co_return RedisReply::failure(RedisStatus::unavailable, "connection dropped");
  // From the WAIT's timeout on (Redis counts it from when it reads the WAIT, a little after this), a PING
  // every few milliseconds until it answers, for as long as the command may take.
  const auto every = std::chrono::milliseconds(5);
  auto nudge =
      std::make_shared<Nudge>(executor, on, 1 + static_cast<int>(core->options->command_timeout / every));
  nudge->arm(timeout + std::chrono::milliseconds(1), every);
  std::vector<std::string> wait{"WAIT", std::to_string(replicas), std::to_string(timeout.count())};
  RedisReply reply = co_await run(core, std::move(wait), on);
  nudge->stop();
  co_return reply;
}

boost::asio::awaitable<RedisReply> RedisPool::run(std::shared_ptr<Core> core, std::vector<std::string> args,
                                                  std::shared_ptr<RedisConnection> on) {
  if (core->closed) co_return RedisReply::failure(RedisStatus::unavailable, "pool closed");
  if (!core->breaker.allow()) co_return RedisReply::failure(RedisStatus::unavailable, "circuit open");
  auto conn = on && on->usable() ? on : core->pick();
  if (!conn) {
    core->breaker.record_no_connection();
    co_return RedisReply::failure(RedisStatus::unavailable, "no connection");
  }
  // The shared_ptr keeps the connection alive until its completion has run.
  RedisReply reply = co_await conn->async_command(std::move(args), boost::asio::use_awaitable);
  core->breaker.record(reply.status != RedisStatus::unavailable && reply.status != RedisStatus::timeout);
  co_return reply;
}

boost::asio::awaitable<RedisReply> RedisPool::load(std::shared_ptr<Core> core, RedisScript& script) {
  std::vector<std::string> cmd{"SCRIPT", "LOAD", script.source()};  // (not a braced list in co_await: GCC 12)
  RedisReply r = co_await run(core, std::move(cmd));
  if (r.ok()) {
    if (!r.value.is_string())
      co_return RedisReply::failure(RedisStatus::error, "SCRIPT LOAD: unexpected reply");
    script.sha_ = r.value.str;
    ++script.loads_;
  }
  co_return r;
}

boost::asio::awaitable<RedisReply> RedisPool::run_script(std::shared_ptr<Core> core, RedisScript& script,
                                                         std::vector<std::string> keys,
                                                         std::vector<std::string> args,
                                                         std::shared_ptr<RedisConnection> on) {
  if (script.sha_.empty()) {
    RedisReply loaded = co_await load(core, script);
    if (!loaded.ok()) co_return loaded;
  }
  auto evalsha = [&] {
    std::vector<std::string> cmd;
    cmd.reserve(3 + keys.size() + args.size());
    cmd.push_back("EVALSHA");
    cmd.push_back(script.sha_);
    cmd.push_back(std::to_string(keys.size()));
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
  };
  RedisReply r = co_await run(core, evalsha(), on);
  if (r.status == RedisStatus::error && r.error_text().starts_with("NOSCRIPT")) {
    // Redis restarted or SCRIPT FLUSH ran: load again and retry once.
    RedisReply loaded = co_await load(core, script);
    if (!loaded.ok()) co_return loaded;
    r = co_await run(core, evalsha(), on);
  }
  co_return r;
}

bool RedisPool::up() const {
  if (core_->breaker.state() == CircuitBreaker::State::open) return false;
  return std::any_of(core_->connections.begin(), core_->connections.end(),
                     [](const auto& c) { return c->ready(); });
}

RedisPoolStats RedisPool::stats() const {
  RedisPoolStats s;
  s.breaker_opens = core_->breaker.opens();
  for (const auto& c : core_->connections) {
    s.connects += c->connects();
    s.connected += c->ready() ? 1 : 0;
    s.in_flight += c->in_flight();
    s.peak_in_flight = std::max(s.peak_in_flight, c->peak_in_flight());
  }
  return s;
}

}  // namespace orc::redis
