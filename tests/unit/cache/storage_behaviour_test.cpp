// The behaviour every storage backend must have (style.md habit 7): one suite, parameterised by a factory,
// run against `memory` (with an injected clock) and `redis` (against a real redis-server).
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

  StorageResult<std::optional<std::string>> get(const std::string& k) {
    auto r = run_on(io_, s().get(k));
    return r ? *r : StorageResult<std::optional<std::string>>{StorageStatus::error, {}};
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
  StorageResult<std::uint64_t> purge(const std::vector<std::string>& tags,
                                     const std::vector<std::string>& keys = {}) {
    auto r = run_on(io_, s().purge(tags, keys));
    return r ? *r : StorageResult<std::uint64_t>{StorageStatus::error, 0};
  }
  bool present(const std::string& k) {
    auto r = get(k);
    EXPECT_TRUE(r.ok());
    return r.value.has_value();
  }

  boost::asio::io_context io_;
  std::unique_ptr<StorageHarness> h_;
};

TEST_P(StorageBehaviour, PutThenGetReturnsTheBlob) {
  const std::string blob("status\0headers\0body", 19);  // entries are binary
  ASSERT_TRUE(fill(key("a"), blob, {"risks"}));
  auto r = get(key("a"));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(*r.value, blob);
  EXPECT_EQ(s().name(), GetParam().name);
}

// The lookup of a fill-to-be: the blob (or none) and the generations at once; a purge in between the read and
// the put refuses the put just as with generations() read on their own.
TEST_P(StorageBehaviour, GetWithGenerationsReadsBothAndGuardsTheFill) {
  ASSERT_TRUE(fill(key("a"), "blob", {"risks"}));
  ASSERT_TRUE(purge({"stats"}).ok());
  auto r = run_on(io_, s().get_with_generations(key("a"), {"risks", "stats", "never"}));
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ(r->value.blob.value_or(""), "blob");
  EXPECT_EQ(r->value.generations, (Generations{0, 1, 0}));

  auto miss = run_on(io_, s().get_with_generations(key("b"), {"risks"}));
  ASSERT_TRUE(miss && miss->ok());
  EXPECT_FALSE(miss->value.blob.has_value());
  ASSERT_TRUE(purge({"risks"}).ok());  // a write lands while the backend is asked
  auto refused = put(key("b"), "pre-write", 60s, {"risks"}, miss->value.generations);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused.value);
  EXPECT_FALSE(present(key("b")));
}

TEST_P(StorageBehaviour, MissingKeyIsEmptyNotAnError) {
  auto r = get(key("never-stored"));
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.value.has_value());
}

TEST_P(StorageBehaviour, PutOverwritesTheBlob) {
  ASSERT_TRUE(fill(key("a"), "one", {}));
  ASSERT_TRUE(fill(key("a"), "two", {}));
  EXPECT_EQ(get(key("a")).value.value_or(""), "two");
}

TEST_P(StorageBehaviour, EntryExpiresAfterItsTtl) {
  ASSERT_TRUE(fill(key("short"), "x", {"t"}, 150ms));
  ASSERT_TRUE(fill(key("long"), "y", {"t"}, 60s));
  EXPECT_TRUE(present(key("short")));
  if (h_->advance(150ms)) {
    EXPECT_FALSE(present(key("short")));
  } else {  // real time: a bounded poll until the key is gone
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    bool gone = false;
    while (!gone && std::chrono::steady_clock::now() < deadline) {
      gone = !present(key("short"));
      if (!gone) run_on(io_, test::pause(20ms));
    }
    EXPECT_TRUE(gone) << "the entry did not expire";
  }
  EXPECT_TRUE(present(key("long")));
}

TEST_P(StorageBehaviour, GenerationsStartAtZeroAndBumpOnPurge) {
  auto g0 = gens({"risks", "stats"});
  ASSERT_TRUE(g0.ok());
  EXPECT_EQ(g0.value, (Generations{0, 0}));
  ASSERT_TRUE(purge({"risks"}).ok());
  ASSERT_TRUE(purge({"risks"}).ok());
  auto g = gens({"stats", "risks"});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g.value, (Generations{0, 2}));  // in the order asked
  auto none = gens({});
  EXPECT_TRUE(none.ok());
  EXPECT_TRUE(none.value.empty());
}

TEST_P(StorageBehaviour, PurgeRemovesEntriesUnderItsTagsOnly) {
  ASSERT_TRUE(fill(key("r1"), "1", {"risks", "risk:1"}));
  ASSERT_TRUE(fill(key("r2"), "2", {"risks", "risk:2"}));
  ASSERT_TRUE(fill(key("s"), "3", {"stats"}));
  ASSERT_TRUE(fill(key("untagged"), "4", {}));

  auto one = purge({"risk:1"});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one.value, 1u);
  EXPECT_FALSE(present(key("r1")));
  EXPECT_TRUE(present(key("r2")));

  auto all = purge({"risks"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all.value, 1u);  // r1 is already gone
  EXPECT_FALSE(present(key("r2")));
  EXPECT_TRUE(present(key("s")));
  EXPECT_TRUE(present(key("untagged")));

  auto again = purge({"risks"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value, 0u);
}

TEST_P(StorageBehaviour, PurgeCountsAnEntryUnderSeveralPurgedTagsOnce) {
  ASSERT_TRUE(fill(key("both"), "1", {"a", "b"}));
  ASSERT_TRUE(fill(key("a-only"), "2", {"a"}));
  auto r = purge({"a", "b"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 2u);
  EXPECT_FALSE(present(key("both")));
  EXPECT_FALSE(present(key("a-only")));
}

TEST_P(StorageBehaviour, PurgeDeletesTheExtraKeys) {
  ASSERT_TRUE(fill(key("get-uri"), "1", {}));
  ASSERT_TRUE(fill(key("tagged"), "2", {"risks"}));
  ASSERT_TRUE(fill(key("bystander"), "3", {}));
  auto r = purge({"risks"}, {key("get-uri"), key("not-there")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 2u);
  EXPECT_FALSE(present(key("get-uri")));
  EXPECT_FALSE(present(key("tagged")));
  EXPECT_TRUE(present(key("bystander")));
  auto keys_only = purge({}, {key("bystander")});
  ASSERT_TRUE(keys_only.ok());
  EXPECT_EQ(keys_only.value, 1u);
}

TEST_P(StorageBehaviour, PutIfCurrentRefusesAfterAnInterveningPurge) {
  auto seen = gens({"risks", "risk:7"});
  ASSERT_TRUE(seen.ok());
  ASSERT_TRUE(purge({"risk:7"}).ok());  // a write landed while the fill was at the backend
  auto r = put(key("stale"), "pre-write data", 60s, {"risks", "risk:7"}, seen.value);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value);
  EXPECT_FALSE(present(key("stale")));

  auto fresh = gens({"risks", "risk:7"});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh.value, (Generations{0, 1}));
  auto ok = put(key("stale"), "post-write data", 60s, {"risks", "risk:7"}, fresh.value);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok.value);
  EXPECT_EQ(get(key("stale")).value.value_or(""), "post-write data");
}

TEST_P(StorageBehaviour, PutIfCurrentAcceptsWhenOtherTagsWerePurged) {
  auto seen = gens({"risks"});
  ASSERT_TRUE(purge({"stats"}).ok());
  auto r = put(key("k"), "v", 60s, {"risks"}, seen.value);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value);
  EXPECT_TRUE(present(key("k")));
  // And an entry stored after a purge is indexed again: the next purge removes it.
  auto n = purge({"risks"});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value, 1u);
  EXPECT_FALSE(present(key("k")));
}

TEST_P(StorageBehaviour, MismatchedSeenGenerationsAreAnError) {
  auto r = put(key("k"), "v", 60s, {"a", "b"}, Generations{0});
  EXPECT_EQ(r.status, StorageStatus::error);
  EXPECT_FALSE(present(key("k")));
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
