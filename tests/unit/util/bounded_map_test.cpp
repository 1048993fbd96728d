// Unit tests for util/bounded_map: lookups by string_view, the bound (a full map starts over), erase.
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

TEST(BoundedMap, AFullMapStartsOverBeforeAnInsert) {
  BoundedMap<int> m(3);
  m.insert("a", 1);
  m.insert("b", 2);
  m.insert("c", 3);
  EXPECT_EQ(m.size(), 3u);
  m.insert("d", 4);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.find("a"), nullptr);
  ASSERT_NE(m.find("d"), nullptr);
  EXPECT_EQ(*m.find("d"), 4);
}

}  // namespace
}  // namespace orc::util
