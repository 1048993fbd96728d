// Unit: the simulator's own text helpers (text.hpp): case, trimming, lists, JSON escaping, the duration and
// size formats of its flags, and base64url against the RFC 4648 test vectors.
#include "openrisk_sim/text.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <vector>

namespace orc::sim {
namespace {

using std::chrono::milliseconds;
using namespace std::string_literals;

TEST(SimText, CaseIsAsciiOnly) {
  EXPECT_EQ(to_lower("Alice@Acme.EXAMPLE"), "alice@acme.example");
  EXPECT_EQ(to_lower("\xC3\x89t\xC3\xA9"), "\xC3\x89t\xC3\xA9");  // UTF-8 "Été": bytes kept
  EXPECT_EQ(to_lower(""), "");
  EXPECT_TRUE(iequals("DESC", "desc"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("desc", "des"));
  EXPECT_FALSE(iequals("asc", "asd"));
  EXPECT_FALSE(iequals("@", "`"));  // 0x40 and 0x60 differ by the case bit but are not letters
}

TEST(SimText, TrimAndSplitList) {
  EXPECT_EQ(trim(" \t a b \t "), "a b");
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("x"), "x");
  EXPECT_EQ(trim("\nx\n"), "\nx\n");  // only spaces and tabs

  using Pieces = std::vector<std::string_view>;
  EXPECT_EQ(split_list("OPEN, DRAFT ,,  ,CLOSED", ','), (Pieces{"OPEN", "DRAFT", "CLOSED"}));
  EXPECT_EQ(split_list("or_access=abc; or_csrf = x=y ;", ';'), (Pieces{"or_access=abc", "or_csrf = x=y"}));
  EXPECT_EQ(split_list("single", ','), (Pieces{"single"}));
  EXPECT_TRUE(split_list("", ',').empty());
  EXPECT_TRUE(split_list(" , ,", ',').empty());
  // The pieces point into the input.
  std::string_view in = "a,b";
  EXPECT_EQ(split_list(in, ',')[1].data(), in.data() + 2);
}

TEST(SimText, JsonEscape) {
  EXPECT_EQ(json_escape("plain text"), "plain text");
  EXPECT_EQ(json_escape(R"(say "hi" \ bye)"), R"(say \"hi\" \\ bye)");
  EXPECT_EQ(json_escape("a\nb\rc\td\be\ff"), R"(a\nb\rc\td\be\ff)");
  EXPECT_EQ(json_escape("\x01\x1f"s + '\0'), R"(\u0001\u001f\u0000)");
  EXPECT_EQ(json_escape("/\x7f\xC3\xA9"), "/\x7f\xC3\xA9");
  // Every ASCII byte survives a round trip through a real JSON parser.
  std::string all;
  for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse("\"" + json_escape(all) + "\"", ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(v.is_string());
  EXPECT_EQ(std::string(v.as_string()), all);
}

TEST(SimText, DurationsAccepted) {
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_EQ(parse_duration("0ms"), milliseconds(0));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
  EXPECT_EQ(parse_duration("1ms"), milliseconds(1));
  EXPECT_EQ(parse_duration("150ms"), milliseconds(150));
  EXPECT_EQ(parse_duration("2s"), milliseconds(2000));
  EXPECT_EQ(parse_duration("5m"), milliseconds(300'000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(parse_duration("24h"), milliseconds(86'400'000));
  EXPECT_EQ(parse_duration("1d"), milliseconds(86'400'000));
  EXPECT_EQ(parse_duration("0150ms"), milliseconds(150));
  EXPECT_EQ(parse_duration("9223372036854775807ms"), milliseconds(9223372036854775807LL));
  EXPECT_EQ(parse_duration("106751991167d"), milliseconds(106751991167LL * 86'400'000));
}

TEST(SimText, DurationsRejected) {
  for (const char* bad : {"",
                          "ms",
                          "5",
                          "1.5s",
                          "-1s",
                          "+1s",
                          " 1s",
                          "1s ",
                          "1 s",
                          "1S",
                          "1MS",
                          "1sec",
                          "1min",
                          "1w",
                          "fast",
                          "1h30m",
                          "s1",
                          "0x10ms",
                          "9223372036854775808ms",
                          "106751991168d",
                          "99999999999999999999ms"})
    EXPECT_FALSE(parse_duration(bad)) << '"' << bad << '"';
}

TEST(SimText, SizesAccepted) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("1000"), 1000u);
  EXPECT_EQ(parse_size("1048576"), 1048576u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("4MiB"), 4u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB"), 1024u * 1024 * 1024);
  EXPECT_EQ(parse_size("16KB"), 16'000u);
  EXPECT_EQ(parse_size("10MB"), 10'000'000u);
  EXPECT_EQ(parse_size("2GB"), 2'000'000'000u);
  EXPECT_EQ(parse_size("18446744073709551615"), 18446744073709551615u);
  EXPECT_EQ(parse_size("17179869183GiB"), 17179869183u << 30);
}

TEST(SimText, SizesRejected) {
  for (const char* bad :
       {"", "B", "MiB", "lots", "1.5MiB", "-1", "+1", " 1", "1 ", "4 MiB", "4mib", "4MIB", "4M", "4Mi",
        "1TiB", "1kB", "18446744073709551616", "17179869184GiB", "18446744073709552KB"})
    EXPECT_FALSE(parse_size(bad)) << '"' << bad << '"';
}

TEST(SimText, Base64urlRfc4648Vectors) {
  // RFC 4648 section 10, without the padding that base64url in JWTs leaves out.
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64url_encode(plain), encoded) << plain;
    EXPECT_EQ(base64url_decode(encoded), plain) << encoded;
  }
  // The two characters where base64url differs from base64 ('+' and '/' there).
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
  EXPECT_EQ(base64url_encode("\xfb\xef\xbe"), "----");
  EXPECT_EQ(base64url_encode("\xff\xff\xff"), "____");
  EXPECT_EQ(base64url_encode("\0\0\0"s), "AAAA");
  EXPECT_EQ(base64url_decode("AAAA"), "\0\0\0"s);
  EXPECT_EQ(base64url_encode(R"({"alg":"HS256","typ":"JWT"})"), "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
}

TEST(SimText, Base64urlRoundTripsEveryByteAndLength) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    std::string in = bytes.substr(bytes.size() - n);
    std::string out = base64url_encode(in);
    EXPECT_EQ(out.size(), (n * 4 + 2) / 3);
    EXPECT_EQ(out.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    EXPECT_EQ(base64url_decode(out), in) << n;
  }
}

TEST(SimText, Base64urlRejectsInvalidInput) {
  for (const char* bad : {"Zg==", "Zm8=", "Zm9v+", "Zm/8", "+_8", "Zm9 v", "Zm9v.", "Zm\n9v", "Z", "Zm9vY",
                          "Zm9vYmFyZ", "Zh", "Zm9", "\xC3\xA9\xC3\xA9"})
    EXPECT_FALSE(base64url_decode(bad)) << '"' << bad << '"';
  EXPECT_FALSE(base64url_decode("Zm9v\0"s));
}

}  // namespace
}  // namespace orc::sim
