// What only the redis backend has: its key layout (tag sets expire, so they do not leak) and failing open.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "cache/redis_storage.hpp"
#include "redis/redis_test_util.hpp"
#include "support/redis_server.hpp"

namespace orc::cache {
namespace {

using namespace std::chrono_literals;
using test::run_on;
using test::run_until;

redis::RedisOptions options_for(const test::RedisServer& server) {
  redis::RedisOptions o;
  o.endpoint = *redis::parse_redis_url(server.url());
  o.command_timeout = 1s;
  o.connections = 1;
  return o;
}

TEST(RedisStorage, LaysOutEntriesTagSetsAndGenerationsUnderThePrefix) {
  test::RedisServer server;
  boost::asio::io_context io;
  redis::RedisPool pool(io.get_executor(), options_for(server));
  RedisStorage store(pool, "orc:");
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  auto cmd = [&](std::vector<std::string> args) { return *run_on(io, pool.command(std::move(args))); };

  auto stored = run_on(io, store.put_if_current("orc:e:1", "blob", 5000ms, {"risks"}, {0}));
  ASSERT_TRUE(stored && stored->ok() && stored->value);
  EXPECT_EQ(cmd({"GET", "orc:e:1"}).value.str, "blob");
  auto ttl = cmd({"PTTL", "orc:e:1"}).value.integer;
  EXPECT_GT(ttl, 4000);
  EXPECT_LE(ttl, 5000);
  EXPECT_EQ(cmd({"SISMEMBER", "orc:t:risks", "orc:e:1"}).value.integer, 1);
  EXPECT_GT(cmd({"PTTL", "orc:t:risks"}).value.integer, 4000);  // the tag set expires too

  // A longer-lived entry extends the set's expiry; a shorter one never shortens it.
  ASSERT_TRUE(run_on(io, store.put_if_current("orc:e:2", "b", 60000ms, {"risks"}, {0}))->value);
  EXPECT_GT(cmd({"PTTL", "orc:t:risks"}).value.integer, 50000);
  ASSERT_TRUE(run_on(io, store.put_if_current("orc:e:3", "c", 1000ms, {"risks"}, {0}))->value);
  EXPECT_GT(cmd({"PTTL", "orc:t:risks"}).value.integer, 50000);

  auto purged = run_on(io, store.purge({"risks"}, {}));
  ASSERT_TRUE(purged && purged->ok());
  EXPECT_EQ(purged->value, 3u);
  EXPECT_EQ(cmd({"EXISTS", "orc:t:risks"}).value.integer, 0);
  EXPECT_EQ(cmd({"GET", "orc:g:risks"}).value.str, "1");
}

TEST(RedisStorage, PurgeReloadsItsScriptAfterRedisForgotIt) {
  test::RedisServer server;
  boost::asio::io_context io;
  redis::RedisPool pool(io.get_executor(), options_for(server));
  RedisStorage store(pool, "orc:");
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  ASSERT_TRUE(run_on(io, store.purge({"a"}, {}))->ok());
  ASSERT_TRUE(run_on(io, pool.command({"SCRIPT", "FLUSH"}))->ok());
  auto r = run_on(io, store.purge({"a"}, {}));
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ(run_on(io, store.generations({"a"}))->value, (Generations{2}));
}

TEST(RedisStorage, FailsOpenWhenRedisIsDown) {
  test::RedisServer server;
  boost::asio::io_context io;
  auto options = options_for(server);
  options.command_timeout =
      std::chrono::hours(1);  // failing open means never waiting for it (run_on's limit)
  redis::RedisPool pool(io.get_executor(), options);
  RedisStorage store(pool, "orc:");
  ASSERT_TRUE(run_until(io, [&] { return pool.up(); }));
  server.stop();

  auto g = run_on(io, store.get("orc:e:1"));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, StorageStatus::unavailable);
  EXPECT_FALSE(g->value.has_value());
  auto gens = run_on(io, store.generations({"a"}));
  EXPECT_EQ(gens->status, StorageStatus::unavailable);
  auto put = run_on(io, store.put_if_current("orc:e:1", "v", 1000ms, {"a"}, {0}));
  EXPECT_EQ(put->status, StorageStatus::unavailable);
  EXPECT_FALSE(put->value);
  auto purge = run_on(io, store.purge({"a"}, {"orc:e:1"}));
  EXPECT_EQ(purge->status, StorageStatus::unavailable);  // each at once: unavailable, never a timeout
}

}  // namespace
}  // namespace orc::cache
