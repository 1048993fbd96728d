// The hiredis/Asio adapter against a real redis-server on a free loopback port.
#include "redis/redis_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <thread>

#include "redis/redis_test_util.hpp"
#include "support/buffered_socket.hpp"
#include "support/redis_server.hpp"

namespace orc::redis {
namespace {

using boost::asio::awaitable;
using namespace std::chrono_literals;
using test::run_on;
using test::run_until;

RedisOptions options_for(const std::string& url, std::size_t connections = 2) {
  std::string error;
  auto ep = parse_redis_url(url, &error);
  EXPECT_TRUE(ep) << error;
  RedisOptions o;
  if (ep) o.endpoint = *ep;
  o.connections = connections;
  o.command_timeout = 1s;  // generous: these tests are about behaviour, not latency
  return o;
}

RedisReply run_command(boost::asio::io_context& io, RedisPool& pool, std::vector<std::string> args) {
  auto r = run_on(io, pool.command(std::move(args)));
  return r ? *r : RedisReply::failure(RedisStatus::error, "test deadline");
}

// `n` coroutines, all started before any runs, each INCR "counter" once; their results in completion order
// (-1 for a failed command). Fails the test when not all answer in time.
std::vector<long long> incr_all_at_once(boost::asio::io_context& io, RedisPool& pool, std::size_t n) {
  std::vector<long long> results;
  for (std::size_t i = 0; i < n; ++i) {
    boost::asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          std::vector<std::string> cmd{"INCR", "counter"};
          auto r = co_await pool.command(std::move(cmd));
          results.push_back(r.ok() ? r.value.integer : -1);
        },
        boost::asio::detached);
  }
  EXPECT_TRUE(run_until(io, [&] { return results.size() == n; }));
  return results;
}

std::vector<long long> one_to(std::size_t n) {
  std::vector<long long> v(n);
  std::iota(v.begin(), v.end(), 1);
  return v;
}

TEST(RedisPool, AnswersEveryReplyType) {
  test::RedisServer server;
  boost::asio::io_context io;
  RedisPool pool(io.get_executor(), options_for(server.url()));
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));

  auto set = run_command(io, pool, {"SET", "k", std::string("a\0b", 3)});
  ASSERT_EQ(set.status, RedisStatus::ok);
  EXPECT_EQ(set.value.str, "OK");
  auto get = run_command(io, pool, {"GET", "k"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get.value.str, std::string("a\0b", 3));  // binary-safe both ways
  EXPECT_TRUE(run_command(io, pool, {"GET", "missing"}).value.is_nil());
  auto incr = run_command(io, pool, {"INCR", "n"});
  ASSERT_TRUE(incr.value.is_integer());
  EXPECT_EQ(incr.value.integer, 1);
  run_command(io, pool, {"RPUSH", "l", "x", "y"});
  auto range = run_command(io, pool, {"LRANGE", "l", "0", "-1"});
  ASSERT_TRUE(range.value.is_array());
  ASSERT_EQ(range.value.elements.size(), 2u);
  EXPECT_EQ(range.value.elements[1].str, "y");
  auto wrong = run_command(io, pool, {"INCR", "l"});
  EXPECT_EQ(wrong.status, RedisStatus::error);
  EXPECT_TRUE(wrong.error_text().starts_with("WRONGTYPE")) << wrong.error_text();
  EXPECT_TRUE(pool.up());  // an error reply is an answer: the breaker stays closed
}

// Replies are built straight into RedisValues by the reader (redis_connection.cpp): nested and empty arrays,
// and nil elements among others.
TEST(RedisPool, AnswersNestedAndEmptyArrays) {
  test::RedisServer server;
  boost::asio::io_context io;
  RedisPool pool(io.get_executor(), options_for(server.url()));
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));

  auto nested = run_command(io, pool, {"EVAL", "return {1, {'a', false, {}}, 'x'}", "0"});
  ASSERT_TRUE(nested.ok()) << nested.error_text();
  ASSERT_TRUE(nested.value.is_array());
  ASSERT_EQ(nested.value.elements.size(), 3u);
  EXPECT_EQ(nested.value.elements[0].integer, 1);
  const auto& inner = nested.value.elements[1];
  ASSERT_TRUE(inner.is_array());
  ASSERT_EQ(inner.elements.size(), 3u);
  EXPECT_EQ(inner.elements[0].str, "a");
  EXPECT_TRUE(inner.elements[1].is_nil());  // Lua false is a nil reply
  EXPECT_TRUE(inner.elements[2].is_array());
  EXPECT_TRUE(inner.elements[2].elements.empty());
  EXPECT_EQ(nested.value.elements[2].str, "x");
  auto empty = run_command(io, pool, {"LRANGE", "missing", "0", "-1"});
  ASSERT_TRUE(empty.value.is_array());
  EXPECT_TRUE(empty.value.elements.empty());
  auto gets = run_command(io, pool, {"MGET", "missing", "missing"});
  ASSERT_TRUE(gets.value.is_array());
  ASSERT_EQ(gets.value.elements.size(), 2u);
  EXPECT_TRUE(gets.value.elements[1].is_nil());
}

// A server over its client limit answers a new connection with an error no command asked for; hiredis reads
// it as one of its own replies (type and text). The pool stays down and fails commands, without a crash.
TEST(RedisPool, ServerOverItsClientLimitLeavesThePoolDown) {
  test::RedisServer server({"--maxclients", "1"});
  boost::asio::io_context io;
  auto options = options_for(server.url(), 1);
  options.reconnect_initial = 10ms;
  options.reconnect_max = 20ms;
  RedisPool blocker(io.get_executor(), options);  // takes the one client slot
  ASSERT_TRUE(run_until(io, [&] { return blocker.up(); }));
  RedisPool pool(io.get_executor(), options);
  // Each refused connection gets the error, then drops; a few rounds of connect, refuse and reconnect.
  const auto until = std::chrono::steady_clock::now() + 300ms;
  run_until(
      io, [&] { return std::chrono::steady_clock::now() >= until; }, 2s);
  EXPECT_GE(pool.stats().connects, 2u) << "a refused connection should have dropped and connected again";
  EXPECT_FALSE(pool.stats().connected > 0 && run_command(io, pool, {"PING"}).ok());
  EXPECT_TRUE(run_command(io, blocker, {"PING"}).ok());
}

// A server that answers every connection's first bytes with `reply` and keeps it open (only the client can
// drop it); counts connections.
class OneReplyServer {
 public:
  explicit OneReplyServer(std::string reply) : reply_(std::move(reply)) {
    std::string error;
    fd_ = test::BufferedSocket::listen_local(port_, 8, error);
    EXPECT_GE(fd_, 0) << error;
    thread_ = std::thread([this] {
      for (;;) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;  // shut down
        ++accepted_;
        char buf[4096];
        if (::recv(c, buf, sizeof buf, 0) > 0) (void)::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        open_.push_back(c);
      }
    });
  }
  ~OneReplyServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (int c : open_) ::close(c);
    ::close(fd_);
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

 private:
  std::string reply_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::vector<int> open_;  // the accept thread's until it is joined
  std::thread thread_;
};

// A reply announcing more array elements than any reply the proxy asks for (14 bytes claim 2^31 - 1) is
// refused, not allocated: the command fails, the connection is dropped, and the worker's event loop runs on.
// Before, the allocation threw out of hiredis's reader and the worker's run() (a hostile Redis, or anything
// answering at redis.url, could stop every worker).
TEST(RedisPool, AnArrayLongerThanAnyReplyIsRefusedNotAllocated) {
  OneReplyServer server("*2147483647\r\n");
  boost::asio::io_context io;
  auto options = options_for(server.url(), 1);
  options.reconnect_initial = 10ms;
  options.reconnect_max = 20ms;
  RedisPool pool(io.get_executor(), options);
  ASSERT_TRUE(run_until(io, [&] { return pool.stats().connected == 1; }));
  RedisReply first;
  ASSERT_NO_THROW(first = run_command(io, pool, {"PING"}));
  EXPECT_FALSE(first.ok());
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(pool.stats().connected, 0u) << "the connection that got the reply was kept";
}

TEST(RedisPool, PipelinesCommandsOnOneConnection) {
  test::RedisServer server;
  boost::asio::io_context io;
  RedisPool pool(io.get_executor(), options_for(server.url(), 1));
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));

  constexpr std::size_t kCommands = 50;
  EXPECT_EQ(incr_all_at_once(io, pool, kCommands),
            one_to(kCommands));  // one connection, replies in send order
  EXPECT_GT(pool.stats().peak_in_flight, 1u) << "commands were not pipelined";
  EXPECT_EQ(pool.stats().in_flight, 0u);
}

// The commands issued in one turn of the event loop share one connection (one write, one read), whatever the
// pool's size: handed round-robin, four connections cost four writes, reads and wake-ups a turn.
TEST(RedisPool, CommandsOfOneTurnShareOneWriteOnOneConnection) {
  test::RedisServer server;
  boost::asio::io_context io;
  RedisPool pool(io.get_executor(), options_for(server.url(), 4));
  ASSERT_TRUE(run_until(io, [&] { return pool.stats().connected == 4; }));

  constexpr std::size_t kCommands = 20;
  EXPECT_EQ(incr_all_at_once(io, pool, kCommands), one_to(kCommands));
  EXPECT_EQ(pool.stats().peak_in_flight, kCommands) << "the commands were spread over the connections";
}

TEST(RedisPool, AuthenticatesWithPasswordAndSelectsTheDatabase) {
  test::RedisServer server({"--requirepass", "s3cret"});
  boost::asio::io_context io;
  const std::string base = "redis://:s3cret@127.0.0.1:" + std::to_string(server.port());
  RedisPool db5(io.get_executor(), options_for(base + "/5"));
  RedisPool db0(io.get_executor(), options_for(base));
  ASSERT_TRUE(run_until(io, [&] { return db5.up() && db0.up(); }));

  ASSERT_TRUE(run_command(io, db5, {"SET", "where", "five"}).ok());
  auto info = run_command(io, db5, {"CLIENT", "INFO"});
  ASSERT_TRUE(info.ok()) << info.error_text();
  EXPECT_NE(info.value.str.find(" db=5 "), std::string::npos) << info.value.str;
  EXPECT_TRUE(run_command(io, db0, {"GET", "where"}).value.is_nil());
  EXPECT_EQ(run_command(io, db5, {"GET", "where"}).value.str, "five");
}

TEST(RedisPool, AuthenticatesAnAclUser) {
  test::RedisServer server({"--user", "alice", "on", ">pw", "~*", "&*", "+@all"});
  boost::asio::io_context io;
  RedisPool pool(io.get_executor(),
                 options_for("redis://alice:pw@127.0.0.1:" + std::to_string(server.port())));
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  auto who = run_command(io, pool, {"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << who.error_text();
  EXPECT_EQ(who.value.str, "alice");
}

TEST(RedisPool, WrongPasswordNeverComesUpAndFailsFast) {
  test::RedisServer server({"--requirepass", "s3cret"});
  boost::asio::io_context io;
  auto options = options_for("redis://:wrong@127.0.0.1:" + std::to_string(server.port()));
  options.command_timeout = 1h;  // a command that waited for anything would outlast run_on's deadline
  RedisPool pool(io.get_executor(), options);
  // Several failed handshakes (each one a connect, a refused AUTH and a back-off) and still not up.
  EXPECT_FALSE(run_until(
      io, [&] { return pool.up(); }, 300ms));
  // Fails at once: `unavailable`, not a timeout, and no connection came up for it.
  EXPECT_EQ(run_command(io, pool, {"PING"}).status, RedisStatus::unavailable);
  EXPECT_EQ(pool.stats().connects, 0u);
}

TEST(RedisPool, ReloadsAScriptAfterNoscript) {
  test::RedisServer server;
  boost::asio::io_context io;
  RedisPool pool(io.get_executor(), options_for(server.url()));
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  RedisScript script("return {KEYS[1], ARGV[1]}");

  auto first = run_on(io, pool.eval(script, {"k"}, {"v"}));
  ASSERT_TRUE(first && first->ok()) << (first ? first->error_text() : "");
  ASSERT_EQ(first->value.elements.size(), 2u);
  EXPECT_EQ(first->value.elements[0].str, "k");
  EXPECT_EQ(first->value.elements[1].str, "v");
  EXPECT_EQ(script.loads(), 1u);
  EXPECT_EQ(script.sha().size(), 40u);

  ASSERT_TRUE(run_on(io, pool.eval(script, {"k"}, {"v"}))->ok());
  EXPECT_EQ(script.loads(), 1u);  // loaded once

  ASSERT_TRUE(run_command(io, pool, {"SCRIPT", "FLUSH"}).ok());
  auto again = run_on(io, pool.eval(script, {"k2"}, {"v2"}));
  ASSERT_TRUE(again && again->ok()) << (again ? again->error_text() : "");
  EXPECT_EQ(again->value.elements[0].str, "k2");
  EXPECT_EQ(script.loads(), 2u);
}

TEST(RedisPool, CommandTimeoutDropsTheConnectionAndTheNextCommandSucceedsOnAFreshOne) {
  test::RedisServer server;
  boost::asio::io_context io;
  auto options = options_for(server.url(), 1);
  options.command_timeout = 100ms;
  RedisPool pool(io.get_executor(), options);
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  ASSERT_EQ(pool.stats().connects, 1u);

  const auto start = std::chrono::steady_clock::now();
  auto slow = run_command(io, pool, {"DEBUG", "SLEEP", "1"});
  const auto took = std::chrono::steady_clock::now() - start;
  // Timed out (DEBUG SLEEP 1 would have answered OK after a second), and not before the timeout.
  EXPECT_EQ(slow.status, RedisStatus::timeout);
  EXPECT_GE(took, 100ms);

  // Redis is still asleep for most of a second: poll, bounded, until a command answers.
  auto recovered = run_on(
      io,
      [&]() -> awaitable<bool> {
        for (int i = 0; i < 100; ++i) {
          std::vector<std::string> cmd{"PING"};
          auto r = co_await pool.command(std::move(cmd));
          if (r.ok()) co_return true;
          co_await test::pause(20ms);
        }
        co_return false;
      }(),
      10s);
  ASSERT_TRUE(recovered && *recovered);
  EXPECT_GE(pool.stats().connects, 2u) << "the timed-out connection should have been replaced";
}

// Late means Redis has not answered, not that the worker has not read the answer yet. hiredis reads 16 KiB a
// call: a connection that read once per wake-up left the rest of a burst of replies in the socket, and when
// the worker had been busy past the command timeout, the timer (which runs after the read in that turn of
// the event loop) dropped the connection and failed replies that had arrived. The worker's busy spell here
// lasts until Redis has answered every command and the deadline has passed, both observed, not guessed.
TEST(RedisPool, RepliesThatArrivedWhileTheWorkerWasBusyAreNotTimeouts) {
  test::RedisServer server;
  boost::asio::io_context io;
  auto options = std::make_shared<RedisOptions>(options_for(server.url(), 1));
  options->command_timeout = 200ms;
  auto conn = std::make_shared<RedisConnection>(io.get_executor(), options);
  conn->start();
  ASSERT_TRUE(run_until(io, [&] { return conn->ready(); }));
  ASSERT_EQ(test::redis_command(server.port(), {"SET", "k", std::string(1024, 'v')}), "+OK");
  ASSERT_EQ(test::redis_command(server.port(), {"CONFIG", "RESETSTAT"}), "+OK");

  constexpr int kCommands = 40;  // 40 KiB of replies, well over one read of hiredis's, under Redis's 64 KiB
  std::vector<RedisReply> replies;
  std::chrono::steady_clock::time_point sent;
  bool redis_answered = false;
  boost::asio::post(io, [&] {
    sent = std::chrono::steady_clock::now();
    for (int i = 0; i < kCommands; ++i)
      conn->async_command({"GET", "k"}, [&](RedisReply r) { replies.push_back(std::move(r)); });
    // Queued after the write the commands asked for: this handler is the worker's busy spell.
    boost::asio::post(io, [&] {
      const auto give_up = std::chrono::steady_clock::now() + 10s;
      while (!redis_answered && std::chrono::steady_clock::now() < give_up) {
        auto stats = test::redis_bulk(server.port(), {"INFO", "commandstats"});
        redis_answered =
            stats && stats->find("cmdstat_get:calls=" + std::to_string(kCommands) + ",") != std::string::npos;
      }
      // A command on another connection answers in a later turn of Redis's event loop, after the one that
      // wrote the GETs' replies.
      EXPECT_EQ(test::redis_command(server.port(), {"PING"}), "+PONG");
      std::this_thread::sleep_until(sent + options->command_timeout + 10ms);
    });
  });
  ASSERT_TRUE(run_until(io, [&] { return replies.size() == kCommands; }));
  ASSERT_TRUE(redis_answered);
  for (const auto& r : replies) {
    EXPECT_EQ(r.status, RedisStatus::ok) << r.error_text();
    EXPECT_EQ(r.value.str.size(), 1024u);
  }
  EXPECT_EQ(conn->connects(), 1u) << "the connection was dropped";
  conn->stop();
}

TEST(RedisPool, StoppedRedisFailsFastOpensTheBreakerAndRestartedRedisIsUsedAgain) {
  test::RedisServer server;
  boost::asio::io_context io;
  auto options = options_for(server.url(), 2);
  options.command_timeout = 1h;  // failing fast means never waiting for it: a wait would outlast run_on
  options.breaker_threshold = 3;
  options.breaker_cooldown = 200ms;
  options.breaker_cooldown_max = 400ms;
  options.reconnect_max = 200ms;
  RedisPool pool(io.get_executor(), options);
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  ASSERT_TRUE(run_command(io, pool, {"SET", "k", "v"}).ok());

  server.stop();
  int failures = 0;
  for (int i = 0; i < 20 && pool.breaker_state() != CircuitBreaker::State::open; ++i) {
    auto r = run_command(io, pool, {"GET", "k"});
    EXPECT_EQ(r.status, RedisStatus::unavailable) << "a dead Redis must fail at once, not time out";
    ++failures;
  }
  EXPECT_EQ(pool.breaker_state(), CircuitBreaker::State::open);
  EXPECT_LE(failures, 4);
  EXPECT_FALSE(pool.up());
  EXPECT_EQ(pool.stats().breaker_opens, 1u);
  // Open: refused without an attempt (the breaker stays open and does not count another opening).
  EXPECT_EQ(run_command(io, pool, {"GET", "k"}).status, RedisStatus::unavailable);
  EXPECT_EQ(pool.breaker_state(), CircuitBreaker::State::open);
  EXPECT_EQ(pool.stats().breaker_opens, 1u);

  server.start();
  ASSERT_TRUE(run_until(
      io, [&] { return pool.up(); }, 10s))
      << "the pool did not reconnect";
  auto pong = run_command(io, pool, {"PING"});
  EXPECT_TRUE(pong.ok()) << pong.error_text();
  EXPECT_EQ(pool.breaker_state(), CircuitBreaker::State::closed);
  EXPECT_TRUE(run_command(io, pool, {"GET", "k"}).value.is_nil());  // a fresh server, nothing persisted
}

// Redis down for a while: each breaker probe finds no connection to send on, and the cool-down stays where it
// was (the connections have their own back-off), so hits come back within one short cool-down of Redis.
TEST(RedisPool, ProbesWithoutAConnectionKeepTheCooldownShort) {
  test::RedisServer server;
  boost::asio::io_context io;
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  auto options = options_for(server.url(), 2);
  options.command_timeout = 1h;
  options.breaker_threshold = 1;
  options.breaker_cooldown = 200ms;
  options.breaker_cooldown_max = 10s;
  RedisPool pool(io.get_executor(), options, [&now] { return now; });
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  server.stop();
  ASSERT_TRUE(run_until(io, [&] { return pool.stats().connected == 0; })) << "the pool never saw Redis go";
  EXPECT_EQ(run_command(io, pool, {"PING"}).status, RedisStatus::unavailable);
  ASSERT_EQ(pool.breaker_state(), CircuitBreaker::State::open);
  for (int i = 0; i < 5; ++i) {
    now += 10s;
    EXPECT_EQ(run_command(io, pool, {"PING"}).status, RedisStatus::unavailable) << "probe " << i;
    EXPECT_EQ(pool.breaker_state(), CircuitBreaker::State::open) << "probe " << i;
  }
  now += 199ms;
  EXPECT_EQ(pool.breaker_state(), CircuitBreaker::State::open);
  now += 1ms;
  EXPECT_EQ(pool.breaker_state(), CircuitBreaker::State::half_open) << "the cool-down did not grow";
}

TEST(RedisPool, DestroyingThePoolFailsPendingCommands) {
  test::RedisServer server;
  boost::asio::io_context io;
  auto pool = std::make_unique<RedisPool>(io.get_executor(), options_for(server.url(), 1));
  ASSERT_TRUE(run_until(io, [&] { return pool->up(); }));
  std::optional<RedisReply> reply;
  boost::asio::co_spawn(
      io,
      [&, p = pool.get()]() -> awaitable<void> {
        std::vector<std::string> cmd{"DEBUG", "SLEEP", "0.3"};
        reply = co_await p->command(std::move(cmd));
      },
      boost::asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return pool->stats().in_flight == 1; }));
  pool.reset();
  ASSERT_TRUE(run_until(
      io, [&] { return reply.has_value(); }, 2s));
  EXPECT_EQ(reply->status, RedisStatus::unavailable);
}

TEST(RedisPool, CloseLetsTheIoContextRunOutOfWork) {
  test::RedisServer server;
  boost::asio::io_context io;
  RedisPool pool(io.get_executor(), options_for(server.url()));
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  pool.close();
  EXPECT_FALSE(pool.up());
  io.run_for(2s);  // returns early only when nothing is left to do
  EXPECT_TRUE(io.stopped()) << "a closed pool still keeps its executor busy";
  io.restart();
  EXPECT_EQ(run_command(io, pool, {"PING"}).status, RedisStatus::unavailable);
}

// Redis settles a WAIT that times out only when its event loop wakes: at its next cron tick on an idle
// server (here every second, --hz 1), far past the command timeout, which would then drop the connection
// and count against the breaker. The pool wakes it once the WAIT's own timeout has passed: each purge's WAIT
// answers "0 replicas", and the connections stay up.
TEST(RedisPool, AWaitForAReplicaThatIsNotThereAnswersAtItsOwnTimeout) {
  test::RedisServer server({"--hz", "1"});
  boost::asio::io_context io;
  auto options = options_for(server.url(), 1);
  options.command_timeout = 300ms;
  RedisPool pool(io.get_executor(), options);
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  RedisScript script("return redis.call('INCR', KEYS[1])");
  const auto connects = pool.stats().connects;
  for (int i = 0; i < 4; ++i) {
    auto r = run_on(io, pool.eval_wait(script, {"purged"}, {}, 1, 20ms));
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->ok()) << i << ": " << r->value.str;
    EXPECT_TRUE(r->value.is_integer());
    EXPECT_EQ(r->value.integer, 0) << "no replica acknowledged";
  }
  EXPECT_EQ(pool.stats().connects, connects) << "no connection was dropped";
  EXPECT_EQ(pool.breaker_state(), CircuitBreaker::State::closed);
  EXPECT_EQ(run_command(io, pool, {"GET", "purged"}).value.str, "4");
}

}  // namespace
}  // namespace orc::redis
