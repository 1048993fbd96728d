// What only the memory backend has: the byte budget and its LRU order.
#include <gtest/gtest.h>

#include "cache/memory_storage.hpp"

namespace orc::cache {
namespace {

using namespace std::chrono_literals;

class MemoryStorageTest : public ::testing::Test {
 protected:
  // Keys "k1".."k9" are 2 bytes, blobs 8: 10 bytes an entry, so a 30-byte budget holds three.
  MemoryStorage store_{30, [this] { return now_; }};
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::time_point() + 1h;

  bool put(const std::string& key, std::vector<std::string> tags = {}, std::chrono::milliseconds ttl = 60s) {
    return store_.put_if_current_now(key, "12345678", ttl, tags, store_.generations_now(tags));
  }
  bool present(const std::string& key) { return store_.get_now(key).has_value(); }
};

TEST_F(MemoryStorageTest, CountsBlobAndKeyBytes) {
  ASSERT_TRUE(put("k1"));
  EXPECT_EQ(store_.bytes(), 10u);
  ASSERT_TRUE(put("k1"));  // an overwrite replaces, it does not add
  EXPECT_EQ(store_.bytes(), 10u);
  EXPECT_EQ(store_.purge_now({}, {"k1"}), 1u);
  EXPECT_EQ(store_.bytes(), 0u);
}

TEST_F(MemoryStorageTest, EvictsTheLeastRecentlyUsedWhenOverBudget) {
  ASSERT_TRUE(put("k1"));
  ASSERT_TRUE(put("k2"));
  ASSERT_TRUE(put("k3"));
  ASSERT_TRUE(put("k4"));
  EXPECT_FALSE(present("k1"));
  EXPECT_TRUE(present("k2"));
  EXPECT_TRUE(present("k3"));
  EXPECT_TRUE(present("k4"));
  EXPECT_EQ(store_.entries(), 3u);
  EXPECT_LE(store_.bytes(), store_.max_bytes());
}

TEST_F(MemoryStorageTest, AGetRefreshesRecency) {
  ASSERT_TRUE(put("k1"));
  ASSERT_TRUE(put("k2"));
  ASSERT_TRUE(put("k3"));
  ASSERT_TRUE(present("k1"));  // k1 is now the most recently used; k2 the least
  ASSERT_TRUE(put("k4"));
  EXPECT_TRUE(present("k1"));
  EXPECT_FALSE(present("k2"));
  EXPECT_TRUE(present("k3"));
}

TEST_F(MemoryStorageTest, AnEntryLargerThanTheBudgetIsNotStored) {
  ASSERT_TRUE(put("k1"));
  EXPECT_FALSE(store_.put_if_current_now("big", std::string(100, 'x'), 60s, {}, {}));
  EXPECT_FALSE(present("big"));
  EXPECT_TRUE(present("k1"));  // and nothing was evicted for it
}

TEST_F(MemoryStorageTest, EvictionAndExpiryLeaveNoTagMembersBehind) {
  ASSERT_TRUE(put("k1", {"t"}));
  ASSERT_TRUE(put("k2", {"t"}, 10ms));
  ASSERT_TRUE(put("k3"));
  ASSERT_TRUE(put("k4"));  // evicts k1
  now_ += 10ms;
  EXPECT_FALSE(present("k2"));  // expired: dropped on read
  ASSERT_TRUE(put("k5", {"t"}));
  EXPECT_EQ(store_.purge_now({"t"}, {}), 1u);  // only k5 was still indexed
  EXPECT_FALSE(present("k5"));
  EXPECT_TRUE(present("k3"));
}

TEST_F(MemoryStorageTest, ExpiredEntriesAreNotCountedByPurge) {
  ASSERT_TRUE(put("k1", {"t"}, 5ms));
  now_ += 5ms;
  EXPECT_EQ(store_.purge_now({"t"}, {"k1"}), 0u);
  EXPECT_EQ(store_.entries(), 0u);
}

TEST_F(MemoryStorageTest, ANonPositiveTtlStoresNothing) {
  EXPECT_FALSE(store_.put_if_current_now("k1", "v", 0ms, {}, {}));
  EXPECT_EQ(store_.entries(), 0u);
}

}  // namespace
}  // namespace orc::cache
