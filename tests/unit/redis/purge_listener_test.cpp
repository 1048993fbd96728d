// The purge listener against a real redis-server: it hears every purge the Redis storage publishes, says
// when it lost the subscription (so the L1 turns off) and subscribes again when Redis is back.
#include "redis/purge_listener.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <signal.h>

#include <condition_variable>
#include <mutex>

#include "cache/redis_storage.hpp"
#include "redis/redis_test_util.hpp"
#include "support/redis_server.hpp"

namespace orc::redis {
namespace {

using namespace std::chrono_literals;
using test::run_on;
using test::run_until;

TEST(PurgeMessage, RoundTripsTagsWithAnyBytes) {
  std::vector<std::string> tags{"risks:t1", "risk:t1:42",  "12:34",
                                "",         "line\nbreak", std::string("nul\0x", 5)};
  auto decoded = decode_purge_message(encode_purge_message(tags));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, tags);
  EXPECT_EQ(decode_purge_message(""), std::vector<std::string>{});
}

TEST(PurgeMessage, RefusesMalformedPayloads) {
  for (std::string_view bad : {"3:ab", "x:abc", "5", ":", "2:ab3", "-1:a", "99999999999999999999999:a"})
    EXPECT_FALSE(decode_purge_message(bad)) << bad;
}

// What the hooks saw, for the test thread to wait on (an event with a deadline, not a guess at timing).
struct Seen {
  std::mutex m;
  std::condition_variable cv;
  int subscribed = 0, lost = 0;
  std::vector<std::vector<std::string>> purges;

  PurgeListener::Hooks hooks() {
    PurgeListener::Hooks h;
    h.subscribed = [this] { bump([this] { ++subscribed; }); };
    h.lost = [this] { bump([this] { ++lost; }); };
    h.purged = [this](std::vector<std::string> tags) { bump([&] { purges.push_back(std::move(tags)); }); };
    return h;
  }
  template <typename F>
  void bump(F f) {
    std::lock_guard lock(m);
    f();
    cv.notify_all();
  }
  template <typename P>
  bool wait(P pred, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, limit, pred);
  }
};

PurgeListener::Options options(const test::RedisServer& server, std::string channel) {
  PurgeListener::Options o;
  o.endpoint = *parse_redis_url(server.url());
  o.channel = std::move(channel);
  o.ping_interval = 200ms;
  return o;
}

RedisOptions pool_options(const test::RedisServer& server) {
  RedisOptions o;
  o.endpoint = *parse_redis_url(server.url());
  o.command_timeout = 1s;
  o.connections = 1;
  return o;
}

TEST(PurgeListener, HearsEveryPurgeOfItsPrefixAndNoOther) {
  test::RedisServer server;
  Seen seen;
  PurgeListener listener(options(server, cache::purge_channel("orc:")), seen.hooks());
  listener.start();
  ASSERT_TRUE(seen.wait([&] { return seen.subscribed == 1; }));

  boost::asio::io_context io;
  RedisPool pool(io.get_executor(), pool_options(server));
  cache::RedisStorage store(pool, "orc:");
  cache::RedisStorage other(pool, "other:");
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  ASSERT_EQ(*run_on(io, other.purge({"risks"})), cache::StorageStatus::ok);  // another deployment's prefix
  ASSERT_EQ(*run_on(io, store.purge({"risks:t1", "risk:t1:7"})), cache::StorageStatus::ok);
  ASSERT_EQ(*run_on(io, store.purge({"stats"})), cache::StorageStatus::ok);

  ASSERT_TRUE(seen.wait([&] { return seen.purges.size() >= 2; }));
  std::lock_guard lock(seen.m);
  ASSERT_EQ(seen.purges.size(), 2u);  // in order, and not the other prefix's
  EXPECT_EQ(seen.purges[0], (std::vector<std::string>{"risks:t1", "risk:t1:7"}));
  EXPECT_EQ(seen.purges[1], (std::vector<std::string>{"stats"}));
  EXPECT_EQ(seen.lost, 0);
}

TEST(PurgeListener, SaysLostWhenRedisDiesAndSubscribesAgainWhenItIsBack) {
  test::RedisServer server;
  Seen seen;
  PurgeListener listener(options(server, "orc:purges"), seen.hooks());
  listener.start();
  ASSERT_TRUE(seen.wait([&] { return seen.subscribed == 1; }));

  server.stop();
  ASSERT_TRUE(seen.wait([&] { return seen.lost >= 1; }));
  server.start();
  ASSERT_TRUE(seen.wait([&] { return seen.subscribed == 2; }));
  // And it hears purges again.
  ASSERT_EQ(test::redis_command(server.port(), {"PUBLISH", "orc:purges", encode_purge_message({"risks"})}),
            ":1");
  ASSERT_TRUE(seen.wait([&] { return !seen.purges.empty(); }));
  listener.stop();
}

TEST(PurgeListener, SaysLostWhenRedisStopsAnsweringItsPing) {
  test::RedisServer server;
  Seen seen;
  auto o = options(server, "orc:purges");
  o.connect_timeout = 300ms;  // the PING's answer is due within max(connect_timeout, 1 s)
  PurgeListener listener(o, seen.hooks());
  listener.start();
  ASSERT_TRUE(seen.wait([&] { return seen.subscribed == 1; }));
  ASSERT_EQ(::kill(server.pid(), SIGSTOP), 0);  // alive but silent, like a partition
  EXPECT_TRUE(seen.wait([&] { return seen.lost >= 1; }));
  ::kill(server.pid(), SIGCONT);
}

TEST(PurgeListener, AuthenticatesWithThePasswordOfTheUrl) {
  test::RedisServer server({"--requirepass", "s3cret"});
  Seen seen;
  auto o = options(server, "orc:purges");
  o.endpoint.password = "s3cret";
  PurgeListener listener(o, seen.hooks());
  listener.start();
  EXPECT_TRUE(seen.wait([&] { return seen.subscribed == 1; }));

  Seen refused;
  o.endpoint.password = "wrong";
  PurgeListener wrong(o, refused.hooks());
  wrong.start();
  EXPECT_TRUE(refused.wait([&] { return refused.lost >= 1; }));
  std::lock_guard lock(refused.m);
  EXPECT_EQ(refused.subscribed, 0);
}

}  // namespace
}  // namespace orc::redis
