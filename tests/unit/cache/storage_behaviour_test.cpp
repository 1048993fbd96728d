// The behaviour every storage backend must have (style.md habit 7): one suite, parameterised by a factory,
// run against `memory` (with an injected clock), `redis` (against a real redis-server) and `redis_cluster`
// (against a real Redis Cluster of three masters and their replicas, where a fill's keys lie on other slots).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <functional>
#include <memory>

#include "cache/memory_storage.hpp"
#include "cache/redis_storage.hpp"
#include "redis/redis_test_util.hpp"
#include "support/redis_server.hpp"

namespace orc::cache {
namespace {

using namespace std::chrono_literals;
using test::run_on;
using test::run_until;

// One backend under test, with what the suite needs to know about it.
class StorageHarness {
 public:
  virtual ~StorageHarness() = default;
  virtual Storage& storage() = 0;
  // Makes `d` pass for the backend's notion of time; false when only real time passes (redis).
  virtual bool advance(std::chrono::milliseconds d) = 0;
  std::string prefix = "orc:";
};

class MemoryHarness final : public StorageHarness {
 public:
  MemoryHarness() : store_(1 << 20, [this] { return now_; }) {}
  Storage& storage() override { return store_; }
  bool advance(std::chrono::milliseconds d) override {
    now_ += d;
    return true;
  }

 private:
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::time_point() + 1h;
  MemoryStorage store_;
};

// One redis-server for the whole suite; each test gets its own key prefix, so tests never see each other.
test::RedisServer& shared_redis() {
  static test::RedisServer server;
  return server;
}

class RedisHarness final : public StorageHarness {
 public:
  explicit RedisHarness(boost::asio::io_context& io) : pool_(io.get_executor(), options()) {
    static std::atomic<int> n{0};
    prefix = "orc" + std::to_string(++n) + ":";
    store_ = std::make_unique<RedisStorage>(pool_, prefix);
    EXPECT_TRUE(run_until(io, [&] { return pool_.up(); })) << "redis pool did not come up";
  }
  Storage& storage() override { return *store_; }
  bool advance(std::chrono::milliseconds) override { return false; }
  redis::RedisPool& pool() { return pool_; }

 private:
  static redis::RedisOptions options() {
    redis::RedisOptions o;
    o.endpoint = *redis::parse_redis_url(shared_redis().url());
    o.command_timeout = 1s;
    return o;
  }
  redis::RedisPool pool_;
  std::unique_ptr<RedisStorage> store_;
};

// One cluster for the whole suite, as one server above.
test::RedisCluster& shared_cluster() {
  static test::RedisCluster cluster;
  return cluster;
}

class ClusterHarness final : public StorageHarness {
 public:
  explicit ClusterHarness(boost::asio::io_context& io) : pool_(io.get_executor(), options(), seeds()) {
    static std::atomic<int> n{0};
    prefix = "orc" + std::to_string(++n) + ":";
    store_ = std::make_unique<RedisStorage>(pool_, prefix);
    EXPECT_TRUE(run_until(io, [&] { return pool_.up(); })) << "the cluster's masters did not come up";
    EXPECT_EQ(pool_.masters(), 3u);
  }
  Storage& storage() override { return *store_; }
  bool advance(std::chrono::milliseconds) override { return false; }

 private:
  static redis::RedisOptions options() {
    redis::RedisOptions o;
    o.command_timeout = 1s;
    return o;
  }
  static std::vector<redis::ClusterPool::Node> seeds() {
    // One seed is enough: the map names the other masters.
    return {{"127.0.0.1", shared_cluster().node(0).port()}};
  }
  redis::ClusterPool pool_;
  std::unique_ptr<RedisStorage> store_;
};

struct Backend {
  std::string name;
  std::function<std::unique_ptr<StorageHarness>(boost::asio::io_context&)> make;
};

std::ostream& operator<<(std::ostream& os, const Backend& b) {
  return os << b.name;
}

class StorageBehaviour : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { h_ = GetParam().make(io_); }

  std::string key(const std::string& name) const { return h_->prefix + "e:" + name; }
  Storage& s() { return h_->storage(); }

  // The entry under `k` read with `tags` (the tags a request of it knows).
  StorageResult<Storage::Snapshot> read(const std::string& k, const std::vector<std::string>& tags) {
    auto r = run_on(io_, s().read(k, tags));
    return r ? *r : StorageResult<Storage::Snapshot>{StorageStatus::error, {}};
  }
  StorageResult<Generations> gens(const std::vector<std::string>& tags) {
    auto r = run_on(io_, s().generations(tags));
    return r ? *r : StorageResult<Generations>{StorageStatus::error, {}};
  }
  StorageResult<bool> put(const std::string& k, const std::string& blob, std::chrono::milliseconds ttl,
                          const std::vector<std::string>& tags, const Generations& seen) {
    auto r = run_on(io_, s().put_if_current(k, blob, ttl, tags, seen));
    return r ? *r : StorageResult<bool>{StorageStatus::error, false};
  }
  // A put with the generations read right before it, as a fill does.
  bool fill(const std::string& k, const std::string& blob, const std::vector<std::string>& tags,
            std::chrono::milliseconds ttl = 60s) {
    auto g = gens(tags);
    EXPECT_TRUE(g.ok());
    auto r = put(k, blob, ttl, tags, g.value);
    EXPECT_TRUE(r.ok()) << to_string(r.status);
    return r.ok() && r.value;
  }
  StorageStatus purge(const std::vector<std::string>& tags) {
    auto r = run_on(io_, s().purge(tags));
    return r ? *r : StorageStatus::error;
  }
  // The blob a request with `tags` reads under `k`, or "" when it finds none.
  std::string blob(const std::string& k, const std::vector<std::string>& tags) {
    auto r = read(k, tags);
    EXPECT_TRUE(r.ok());
    return r.value.blob.value_or("");
  }
  bool present(const std::string& k, const std::vector<std::string>& tags) {
    auto r = read(k, tags);
    EXPECT_TRUE(r.ok());
    return r.value.blob.has_value();
  }

  boost::asio::io_context io_;
  std::unique_ptr<StorageHarness> h_;
};

TEST_P(StorageBehaviour, PutThenReadReturnsTheBlob) {
  const std::string b("status\0headers\0body", 19);  // entries are binary
  ASSERT_TRUE(fill(key("a"), b, {"risks"}));
  auto r = read(key("a"), {"risks"});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r.value.blob.has_value());
  EXPECT_EQ(*r.value.blob, b);
  EXPECT_EQ(s().name(),
            GetParam().name == "redis_cluster" ? "redis" : GetParam().name);  // (one metric label)
}

// A read also gives the tags' generations, which a fill after a miss then stores under; a purge between the
// read and the put refuses the put just as with generations() read on their own.
TEST_P(StorageBehaviour, ReadGivesTheGenerationsThatGuardTheFill) {
  ASSERT_TRUE(fill(key("a"), "blob", {"risks", "stats", "never"}));
  auto r = read(key("a"), {"risks", "stats", "never"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.blob.value_or(""), "blob");
  EXPECT_EQ(r.value.generations.tokens, gens({"risks", "stats", "never"}).value.tokens);

  auto miss = read(key("b"), {"risks"});
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss.value.blob.has_value());
  ASSERT_EQ(purge({"risks"}), StorageStatus::ok);  // a write lands while the backend is asked
  auto refused = put(key("b"), "pre-write", 60s, {"risks"}, miss.value.generations);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused.value);
  EXPECT_FALSE(present(key("b"), {"risks"}));
}

TEST_P(StorageBehaviour, MissingKeyIsEmptyNotAnError) {
  auto r = read(key("never-stored"), {"risks"});
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.value.blob.has_value());
  EXPECT_EQ(r.value.generations.tokens.size(), 1u);
}

TEST_P(StorageBehaviour, PutOverwritesTheBlob) {
  ASSERT_TRUE(fill(key("a"), "one", {}));
  ASSERT_TRUE(fill(key("a"), "two", {}));
  EXPECT_EQ(blob(key("a"), {}), "two");
}

TEST_P(StorageBehaviour, EntryExpiresAfterItsTtl) {
  ASSERT_TRUE(fill(key("short"), "x", {"t"}, 150ms));
  ASSERT_TRUE(fill(key("long"), "y", {"t"}, 60s));
  EXPECT_TRUE(present(key("short"), {"t"}));
  if (h_->advance(150ms)) {
    EXPECT_FALSE(present(key("short"), {"t"}));
  } else {  // real time: a bounded poll until the key is gone
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    bool gone = false;
    while (!gone && std::chrono::steady_clock::now() < deadline) {
      gone = !present(key("short"), {"t"});
      if (!gone) run_on(io_, test::pause(20ms));
    }
    EXPECT_TRUE(gone) << "the entry did not expire";
  }
  EXPECT_TRUE(present(key("long"), {"t"}));
}

// Generations are random tokens, never counters: a tag never purged reads "", and each purge gives a token
// no earlier purge gave (a Redis that restarts empty can never give a racing fill back what it saw).
TEST_P(StorageBehaviour, EachPurgeGivesATagANewToken) {
  auto g0 = gens({"risks", "stats"});
  ASSERT_TRUE(g0.ok());
  EXPECT_EQ(g0.value.tokens, (std::vector<std::string>{"", ""}));
  ASSERT_EQ(purge({"risks"}), StorageStatus::ok);
  const auto first = gens({"risks"}).value.tokens.at(0);
  ASSERT_EQ(purge({"risks"}), StorageStatus::ok);
  auto g = gens({"stats", "risks"});
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g.value.tokens.size(), 2u);
  EXPECT_EQ(g.value.tokens[0], "");  // in the order asked; stats was never purged
  EXPECT_NE(g.value.tokens[1], "");
  EXPECT_NE(g.value.tokens[1], first);
  auto none = gens({});
  EXPECT_TRUE(none.ok());
  EXPECT_TRUE(none.value.tokens.empty());
}

TEST_P(StorageBehaviour, PurgeOutdatesTheEntriesUnderItsTagsOnly) {
  const std::vector<std::string> t1{"risks", "risk:1"}, t2{"risks", "risk:2"};
  ASSERT_TRUE(fill(key("r1"), "1", t1));
  ASSERT_TRUE(fill(key("r2"), "2", t2));
  ASSERT_TRUE(fill(key("s"), "3", {"stats"}));
  ASSERT_TRUE(fill(key("untagged"), "4", {}));

  ASSERT_EQ(purge({"risk:1"}), StorageStatus::ok);
  EXPECT_FALSE(present(key("r1"), t1));
  EXPECT_TRUE(present(key("r2"), t2));

  ASSERT_EQ(purge({"risks"}), StorageStatus::ok);
  EXPECT_FALSE(present(key("r2"), t2));
  EXPECT_TRUE(present(key("s"), {"stats"}));
  EXPECT_TRUE(present(key("untagged"), {}));

  // Filled again after the purge, under the new generations: found, and outdated by the next purge.
  ASSERT_TRUE(fill(key("r1"), "1b", t1));
  EXPECT_EQ(blob(key("r1"), t1), "1b");
  ASSERT_EQ(purge({"stats", "risk:1"}), StorageStatus::ok);  // several tags at once
  EXPECT_FALSE(present(key("r1"), t1));
  EXPECT_FALSE(present(key("s"), {"stats"}));
}

// The seal holds the generations in the order of the tags and their number: an entry is read only with the
// tags it was stored under (a reload that changes a rule's tags never serves an entry its new tags cannot
// purge).
TEST_P(StorageBehaviour, AnEntryIsReadOnlyWithTheTagsItWasStoredUnder) {
  ASSERT_EQ(purge({"b"}), StorageStatus::ok);
  ASSERT_TRUE(fill(key("k"), "v", {"a", "b"}));
  EXPECT_TRUE(present(key("k"), {"a", "b"}));
  EXPECT_FALSE(present(key("k"), {"b", "a"}));
  EXPECT_FALSE(present(key("k"), {"a"}));
  EXPECT_FALSE(present(key("k"), {}));
  EXPECT_FALSE(present(key("k"), {"a", "b", "c"}));
  ASSERT_TRUE(fill(key("none"), "v", {"a"}));
  EXPECT_FALSE(present(key("none"), {})) << "one tag never purged is not the same as no tag";
}

TEST_P(StorageBehaviour, PutIfCurrentRefusesAfterAnInterveningPurge) {
  const std::vector<std::string> tags{"risks", "risk:7"};
  auto seen = gens(tags);
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(purge({"risk:7"}), StorageStatus::ok);  // a write landed while the fill was at the backend
  auto r = put(key("stale"), "pre-write data", 60s, tags, seen.value);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value);
  EXPECT_FALSE(present(key("stale"), tags));

  auto fresh = gens(tags);
  ASSERT_TRUE(fresh.ok());
  auto ok = put(key("stale"), "post-write data", 60s, tags, fresh.value);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok.value);
  EXPECT_EQ(blob(key("stale"), tags), "post-write data");
}

TEST_P(StorageBehaviour, PutIfCurrentAcceptsWhenOtherTagsWerePurged) {
  auto seen = gens({"risks"});
  ASSERT_EQ(purge({"stats"}), StorageStatus::ok);
  auto r = put(key("k"), "v", 60s, {"risks"}, seen.value);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value);
  EXPECT_TRUE(present(key("k"), {"risks"}));
  ASSERT_EQ(purge({"risks"}), StorageStatus::ok);
  EXPECT_FALSE(present(key("k"), {"risks"}));
}

// A purge's generation outlives the fills that raced with it only if fills are quick: generations read
// longer than max_fill ago store nothing.
TEST_P(StorageBehaviour, AFillOlderThanMaxFillStoresNothing) {
  auto seen = gens({"risks"});
  ASSERT_TRUE(seen.ok());
  seen.value.read_at -= kDefaultMaxFill + 1ms;
  auto r = put(key("slow"), "v", 60s, {"risks"}, seen.value);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value);
  EXPECT_FALSE(present(key("slow"), {"risks"}));
}

// No entry is sealed with "no generation": its fill gives each such tag one, which later fills share and a
// purge replaces. (Two fills that both found none: the first gives it, the second is refused, once.)
TEST_P(StorageBehaviour, AFillGivesATagWithoutAGenerationOne) {
  const std::vector<std::string> tags{"risks", "stats"};
  ASSERT_EQ(purge({"stats"}), StorageStatus::ok);
  auto seen = gens(tags);
  ASSERT_EQ(seen.value.tokens.at(0), "");
  const auto stats = seen.value.tokens.at(1);
  auto racing = gens(tags);  // another fill, begun at the same time
  ASSERT_TRUE(put(key("a"), "a", 60s, tags, seen.value).value);
  auto now = gens(tags);
  EXPECT_NE(now.value.tokens.at(0), "");
  EXPECT_EQ(now.value.tokens.at(1), stats) << "a tag that had one keeps it";
  EXPECT_EQ(blob(key("a"), tags), "a");
  auto refused = put(key("b"), "b", 60s, tags, racing.value);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused.value);
  ASSERT_TRUE(fill(key("b"), "b", tags));  // with the generation the first fill gave
  EXPECT_EQ(gens(tags).value.tokens, now.value.tokens);
  EXPECT_EQ(blob(key("a"), tags), "a");
  EXPECT_EQ(blob(key("b"), tags), "b");
}

// A fill may put twice with what it read (a Vary marker, then its variant): the second put finds the
// generation the first gave and stores, sealed alike. A tag listed twice gets one generation.
TEST_P(StorageBehaviour, EveryPutOfOneFillSealsWithTheSameNewGeneration) {
  const std::vector<std::string> tags{"risks", "uri:/risks", "risks"};
  auto seen = gens(tags);
  ASSERT_EQ(seen.value.tokens, (std::vector<std::string>{"", "", ""}));
  ASSERT_TRUE(put(key("marker"), "m", 60s, tags, seen.value).value);
  ASSERT_TRUE(put(key("variant"), "v", 60s, tags, seen.value).value) << "the second put of the same fill";
  EXPECT_EQ(blob(key("marker"), tags), "m");
  EXPECT_EQ(blob(key("variant"), tags), "v");
  auto now = gens(tags);
  EXPECT_EQ(now.value.tokens.at(0), now.value.tokens.at(2));
  EXPECT_NE(now.value.tokens.at(0), now.value.tokens.at(1));
  // After a purge, even that fill's read stores nothing more.
  ASSERT_EQ(purge({"uri:/risks"}), StorageStatus::ok);
  EXPECT_FALSE(put(key("late"), "l", 60s, tags, seen.value).value);
  EXPECT_FALSE(present(key("variant"), tags));
}

// Generations not read from a storage carry no new token for a tag without one: nothing is stored, so that
// no entry is sealed with "no generation".
TEST_P(StorageBehaviour, SeenGenerationsWithoutTheirNewTokensStoreNothing) {
  auto r = put(key("k"), "v", 60s, {"a"}, Generations{{""}, std::chrono::steady_clock::now()});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value);
  EXPECT_FALSE(present(key("k"), {"a"}));
}

TEST_P(StorageBehaviour, ANonPositiveTtlStoresNothing) {
  auto seen = gens({});
  auto r = put(key("k"), "v", 0ms, {}, seen.value);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value);
  EXPECT_FALSE(present(key("k"), {}));
}

TEST_P(StorageBehaviour, MismatchedSeenGenerationsAreAnError) {
  auto r = put(key("k"), "v", 60s, {"a", "b"}, Generations{{""}, std::chrono::steady_clock::now()});
  EXPECT_EQ(r.status, StorageStatus::error);
  EXPECT_FALSE(present(key("k"), {"a", "b"}));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StorageBehaviour,
    ::testing::Values(Backend{"memory",
                              [](boost::asio::io_context&) -> std::unique_ptr<StorageHarness> {
                                return std::make_unique<MemoryHarness>();
                              }},
                      Backend{"redis",
                              [](boost::asio::io_context& io) -> std::unique_ptr<StorageHarness> {
                                return std::make_unique<RedisHarness>(io);
                              }},
                      Backend{"redis_cluster",
                              [](boost::asio::io_context& io) -> std::unique_ptr<StorageHarness> {
                                return std::make_unique<ClusterHarness>(io);
                              }}),
    [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

TEST(StorageStatus, EveryStatusHasAName) {
  EXPECT_EQ(to_string(StorageStatus::ok), "ok");
  EXPECT_EQ(to_string(StorageStatus::unavailable), "unavailable");
  EXPECT_EQ(to_string(StorageStatus::timeout), "timeout");
  EXPECT_EQ(to_string(StorageStatus::error), "error");
}

}  // namespace
}  // namespace orc::cache
