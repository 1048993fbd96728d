// Unit tests for util/bounded_map: lookups by string_view, the bound (two generations), erase.
#include "util/bounded_map.hpp"

#include <gtest/gtest.h>

#include <string>

namespace orc::util {
namespace {

TEST(BoundedMap, FindsByViewAndReplacesOnInsert) {
  BoundedMap<int> m(4);
  EXPECT_EQ(m.find("a"), nullptr);
  EXPECT_EQ(m.insert("a", 1), 1);
  const std::string key = "a";
  ASSERT_NE(m.find(std::string_view(key)), nullptr);
  EXPECT_EQ(*m.find("a"), 1);
  EXPECT_EQ(m.insert("a", 2), 2);  // the same key again: replaced, not added
  EXPECT_EQ(*m.find("a"), 2);
  EXPECT_EQ(m.size(), 1u);
  m.erase("a");
  EXPECT_EQ(m.find("a"), nullptr);
  m.erase("never there");  // harmless
}

// A full generation becomes the previous one; what is found there moves to the current one, what is not
// found before the next turn is dropped. At most 2 x max entries.
TEST(BoundedMap, AFullGenerationTurnsAndKeepsWhatWasUsedSince) {
  BoundedMap<int> m(3);
  m.insert("a", 1);
  m.insert("b", 2);
  m.insert("c", 3);
  m.insert("d", 4);  // a, b, c become the previous generation
  EXPECT_EQ(m.size(), 4u);
  ASSERT_NE(m.find("a"), nullptr);  // moves to the current one, with d
  EXPECT_EQ(*m.find("a"), 1);
  m.insert("e", 5);  // current: d, a, e (full)
  m.insert("f", 6);  // turn: previous d, a, e; b and c are dropped
  EXPECT_EQ(m.find("b"), nullptr);
  EXPECT_EQ(m.find("c"), nullptr);
  for (const char* kept : {"a", "d", "e", "f"}) {
    ASSERT_NE(m.find(kept), nullptr) << kept;
  }
  EXPECT_EQ(*m.find("f"), 6);
  EXPECT_LE(m.size(), 6u);
  m.insert("a", 10);  // replaced wherever it is, never twice
  EXPECT_EQ(*m.find("a"), 10);
  m.erase("a");
  EXPECT_EQ(m.find("a"), nullptr);
  m.clear();
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.find("f"), nullptr);
}

// The cases a map that started over when full got wrong: keys taken in turn, with other keys inserted now and
// then (60 + 4 a round, a bound of 64), are found every time after their first round; max + 1 keys in turn
// (each insert cleared the old map) are found too; the map stays within 2 x max.
TEST(BoundedMap, AWorkingSetUpToTheBoundIsNeverDropped) {
  constexpr int kMax = 64;
  constexpr int kSet = kMax - 4;  // and 4 keys inserted once each round
  BoundedMap<int> m(kMax);
  int misses = 0;
  for (int round = 0; round < 10; ++round) {
    for (int k = 0; k < kSet; ++k) {
      const std::string key = "user-" + std::to_string(k);
      if (const int* v = m.find(key)) {
        EXPECT_EQ(*v, k);
      } else {
        ++misses;
        m.insert(key, k);
      }
      if (k % 15 == 0) m.insert("once-" + std::to_string(round) + "-" + std::to_string(k), -1);
    }
    EXPECT_LE(m.size(), 2u * kMax);
  }
  EXPECT_EQ(misses, kSet) << "only the first round may miss";

  BoundedMap<int> over(kMax);
  misses = 0;
  for (int round = 0; round < 10; ++round)
    for (int k = 0; k <= kMax; ++k) {
      const std::string key = "user-" + std::to_string(k);
      if (!over.find(key)) {
        ++misses;
        over.insert(key, k);
      }
    }
  EXPECT_EQ(misses, kMax + 1) << "max + 1 keys in turn: only the first round may miss";
  EXPECT_LE(over.size(), 2u * kMax);
}

}  // namespace
}  // namespace orc::util
