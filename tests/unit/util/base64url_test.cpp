// Unit tests for util/base64url: the JWT alphabet, no padding, and what is refused.
#include "util/base64url.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace orc::util {
namespace {

TEST(Base64Url, RoundTripsEveryLengthModuloThree) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                                std::string("\xff\xfe\x00\x01", 4)}) {
    auto back = base64url_decode(base64url_encode(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
}

TEST(Base64Url, UsesTheUrlAlphabetWithoutPadding) {
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
}

TEST(Base64Url, RefusesOtherAlphabetsAndImpossibleLengths) {
  EXPECT_FALSE(base64url_decode("a+b/"));
  EXPECT_FALSE(base64url_decode("Zm8="));
  EXPECT_FALSE(base64url_decode("Z"));  // one sextet cannot encode a byte
}

TEST(Base64Url, RefusesNonCanonicalEncodings) {
  // "Zm8" is "fo"; "Zm9" and "Zm-" carry the same bytes with non-zero unused bits (RFC 4648 section 3.5).
  EXPECT_EQ(base64url_decode("Zm8"), std::optional<std::string>("fo"));
  EXPECT_FALSE(base64url_decode("Zm9"));
  EXPECT_FALSE(base64url_decode("Zm-"));
  EXPECT_EQ(base64url_decode("Zg"), std::optional<std::string>("f"));
  EXPECT_FALSE(base64url_decode("Zh"));
  EXPECT_FALSE(base64url_decode("Z_"));
  EXPECT_EQ(base64url_decode("-_8"), std::optional<std::string>("\xfb\xff"));
  EXPECT_FALSE(base64url_decode("-_9"));
}

}  // namespace
}  // namespace orc::util
