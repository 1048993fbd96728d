// The query split (util/query.hpp): Boost.URL's RFC 3986 query, names decoded as a form-reading backend does.
#include "util/query.hpp"

#include <gtest/gtest.h>

namespace orc::util {
namespace {

TEST(Query, SplitsPairsKeepingRawValuesAndDecodingNames) {
  const Query q("%73everity=a%20b&page=2&flag&empty=&x=a=b&sp+ace=1");
  ASSERT_TRUE(q.valid());
  ASSERT_EQ(q.params().size(), 6u);
  EXPECT_EQ(q.params()[0].name, "severity");
  EXPECT_EQ(q.params()[0].raw_name, "%73everity");
  EXPECT_EQ(q.params()[0].raw_value, "a%20b") << "values stay as sent";
  EXPECT_FALSE(q.params()[2].has_value);
  EXPECT_TRUE(q.params()[3].has_value);
  EXPECT_EQ(q.params()[3].raw_value, "");
  EXPECT_EQ(q.params()[4].raw_value, "a=b");
  EXPECT_EQ(q.params()[5].name, "sp ace") << "'+' is a space in a form-encoded name";
  EXPECT_EQ(q.raw_value("severity"), "a%20b");
  EXPECT_EQ(q.raw_value("flag"), "");
  EXPECT_FALSE(q.raw_value("%73everity")) << "names are compared decoded";
}

TEST(Query, AViewIntoALongerStringEndsWhereTheViewEnds) {
  const std::string target = "a=1&b=2XYZ#rest";
  const Query q(std::string_view(target).substr(0, 7));
  ASSERT_TRUE(q.valid());
  ASSERT_EQ(q.params().size(), 2u);
  EXPECT_EQ(q.raw_value("b"), "2")
      << "the split read past the view (Boost 1.81's parse_query measures with strlen)";
  EXPECT_EQ(q.text(), "a=1&b=2");
}

TEST(Query, EmptyAndEmptyPairs) {
  EXPECT_TRUE(Query("").params().empty());
  EXPECT_TRUE(Query().params().empty());
  EXPECT_TRUE(Query(std::string_view()).params().empty()) << "a null view: no query at all";
  EXPECT_TRUE(Query(std::string_view()).valid());
  const Query q("a=1&&b=2&");
  ASSERT_TRUE(q.valid());
  EXPECT_EQ(q.params().size(), 4u);
  EXPECT_EQ(q.raw_value("b"), "2");
}

TEST(Query, WhatIsNotAnRfc3986QueryIsInvalidAndHasNoParams) {
  EXPECT_FALSE(Query(std::string_view("so\0rt=a", 7)).valid()) << "a NUL is no query character";
  for (const char* text : {"a=%zz", "a=%4", "a=1&b=%", "a b=1", "q=\"x\"", "filter[x]=1", "q=a|b",
                           "q=\xc3\xa9", "q={x}", "q=a^b", "q=`"}) {
    const Query q(text);
    EXPECT_FALSE(q.valid()) << text;
    EXPECT_TRUE(q.params().empty()) << text;
    EXPECT_FALSE(q.raw_value("a")) << text;
  }
}

TEST(UriCharactersOnly, TheCharactersRfc3986AllowsAnywhereInAUri) {
  EXPECT_TRUE(uri_characters_only("http://u@h:1/a-b._~%20?x=[1]&y=!$'()*+,;#f"));
  EXPECT_TRUE(uri_characters_only(""));
  for (const char* text :
       {"a b", "a\"b", "a{b", "a|b", "a^b", "a`b", "a\\b", "a<b", "a>b", "Ttp:\xc7", "\x7f"})
    EXPECT_FALSE(uri_characters_only(text)) << text;
  EXPECT_FALSE(uri_characters_only(std::string_view("a\0b", 3)));
}

TEST(UriWithAuthority, SchemeSlashSlashThenUriCharacters) {
  EXPECT_TRUE(uri_with_authority("http://h/a?b", "http"));
  EXPECT_TRUE(uri_with_authority("HTTP://h", "http"));
  EXPECT_TRUE(uri_with_authority("redis://:p%40ss@h:1/2", "redis"));
  for (const char* text :
       {"http:?", "http:/a", "http//h", "https://h", "htt://h", "http://h/\xc7", "", "http:/"})
    EXPECT_FALSE(uri_with_authority(text, "http")) << text;
}

}  // namespace
}  // namespace orc::util
