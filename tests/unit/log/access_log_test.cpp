// Unit tests for log/access_log: query redaction and both line formats.
#include "log/access_log.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace orc::log {
namespace {

TEST(RedactTarget, ReplacesOnlyNamedValues) {
  std::vector<std::string> names{"token", "access_token"};
  EXPECT_EQ(redact_target("/x?token=s3cret&a=1", names), "/x?token=REDACTED&a=1");
  EXPECT_EQ(redact_target("/x?a=1&TOKEN=s3cret", names), "/x?a=1&TOKEN=REDACTED");
  EXPECT_EQ(redact_target("/x?a=1&access_token=z&tokenish=keep", names),
            "/x?a=1&access_token=REDACTED&tokenish=keep");
  EXPECT_EQ(redact_target("/x?token", names), "/x?token");  // a flag without a value has nothing to hide
  EXPECT_EQ(redact_target("/x", names), "/x");
  EXPECT_EQ(redact_target("/x?token=a&token=b", names), "/x?token=REDACTED&token=REDACTED");
}

TEST(RedactTarget, NamesAreComparedDecoded) {
  std::vector<std::string> names{"token", "access_token"};
  EXPECT_EQ(redact_target("/x?%74oken=s3cret", names), "/x?%74oken=REDACTED");
  EXPECT_EQ(redact_target("/x?%54OKEN=s3cret&a=1", names), "/x?%54OKEN=REDACTED&a=1");
  EXPECT_EQ(redact_target("/x?access%5Ftoken=s3cret", names), "/x?access%5Ftoken=REDACTED");
  EXPECT_EQ(redact_target("/x?%74oke=keep", names), "/x?%74oke=keep");
}

TEST(RedactTarget, AQueryThatCannotBeReadIsRedactedWhole) {
  std::vector<std::string> names{"token"};
  EXPECT_EQ(redact_target("/x?token=s3cret&bad=%zz", names), "/x?REDACTED");
  EXPECT_EQ(redact_target("/x?t%6Fken=s3 cret", names), "/x?REDACTED");
  EXPECT_EQ(redact_target("/x?bad=%zz", {}), "/x?bad=%zz") << "nothing to redact: the target as it came";
}

AccessRecord sample(std::string_view target) {
  AccessRecord r;
  r.client = "127.0.0.1";
  r.method = "GET";
  r.target = target;
  r.status = 200;
  r.bytes_sent = 42;
  r.total = std::chrono::microseconds(1500);
  r.upstream = std::chrono::microseconds(1000);
  r.request_id = "rid";
  r.outcome = "proxied";
  r.rule = "risk-list";
  r.cache = "hit";
  return r;
}

TEST(FormatAccess, TextLine) {
  auto line = format_access(sample("/r?token=abc"), {"token"}, config::LogFormat::text);
  EXPECT_EQ(
      line,
      "127.0.0.1 GET /r?token=REDACTED 200 42 1.500ms upstream=1.000ms id=rid outcome=proxied rule=risk-list "
      "cache=hit");
}

TEST(FormatAccess, JsonLineEscapesAndRedacts) {
  auto line = format_access(sample("/r\"x\"?token=abc&q=1"), {"token"}, config::LogFormat::json);
  EXPECT_EQ(
      line,
      R"("client":"127.0.0.1","method":"GET","path":"/r\"x\"?token=REDACTED&q=1","status":200,"bytes":42,)"
      R"("duration_ms":1.500,"upstream_ms":1.000,"request_id":"rid","outcome":"proxied","rule":"risk-list",)"
      R"("cache":"hit")");
}

// Durations are written from their microseconds, exactly, with three decimals.
TEST(FormatAccess, DurationsInMillisecondsWithThreeDecimals) {
  const std::pair<long, const char*> cases[] = {{0, "0.000"},    {7, "0.007"},    {999, "0.999"},
                                                {1000, "1.000"}, {1234, "1.234"}, {60'000'070, "60000.070"}};
  for (const auto& [us, text] : cases) {
    auto r = sample("/r");
    r.total = std::chrono::microseconds(us);
    r.upstream = std::chrono::microseconds(us);
    const auto line = format_access(r, {}, config::LogFormat::text);
    EXPECT_NE(line.find(std::string(" ") + text + "ms upstream=" + text + "ms "), std::string::npos) << line;
    const auto json = format_access(r, {}, config::LogFormat::json);
    EXPECT_NE(json.find(std::string(R"("duration_ms":)") + text + R"(,"upstream_ms":)" + text + ","),
              std::string::npos)
        << json;
  }
}

TEST(FormatAccess, JsonLineOfRawHighBytesIsValidJson) {
  // A target may carry raw bytes that are not UTF-8; the line must stay JSON (which is UTF-8), and a
  // well-formed sequence (here "é") must pass untouched.
  const std::string target = "/caf\xc3\xa9/\xff\xc3(?q=\xe2\x82&x=\xed\xa0\x80";
  auto line = format_access(sample(target), {}, config::LogFormat::json);
  EXPECT_NE(line.find("/caf\xc3\xa9/\\u00ff\\u00c3("), std::string::npos) << line;
  boost::system::error_code ec;
  auto v = boost::json::parse("{" + line + "}", ec);
  ASSERT_FALSE(ec) << ec.message() << ": " << line;
  EXPECT_EQ(v.at("path").as_string(),
            "/caf\xc3\xa9/\xc3\xbf\xc3\x83(?q=\xc3\xa2\xc2\x82&x=\xc3\xad\xc2\xa0\xc2\x80")
      << "each stray byte reads back as the code point of its value";
}

// Nothing a client sends splits a line for any reader: C0 and C1 controls, DEL and the Unicode line and
// paragraph separators are escaped in both formats (found by a probe: NEL, U+2028 and U+2029 passed as
// well-formed UTF-8, and Python's splitlines read one line as several). Other UTF-8 passes.
TEST(FormatAccess, NoCharacterAReaderTakesForALineBreakPassesUnescaped) {
  const std::string target =
      "/a\xc2\x85"
      "b\xe2\x80\xa8"
      "c\xe2\x80\xa9"
      "d\xc2\x9b"
      "e\x7f"
      "f\xc2\xa0"
      "g\xe2\x80\xa7";
  for (auto format : {config::LogFormat::text, config::LogFormat::json}) {
    const auto line = format_access(sample(target), {}, format);
    EXPECT_NE(line.find("/a\\u0085b\\u2028c\\u2029d\\u009be\\u007ff\xc2\xa0g\xe2\x80\xa7"), std::string::npos)
        << line;
    EXPECT_EQ(line.find("\xc2\x85"), std::string::npos) << line;
    if (format == config::LogFormat::json) {
      boost::system::error_code ec;
      auto v = boost::json::parse("{" + line + "}", ec);
      ASSERT_FALSE(ec) << ec.message() << ": " << line;
      EXPECT_EQ(v.at("path").as_string(), target) << "the escapes read back as the same characters";
    }
  }
}

}  // namespace
}  // namespace orc::log
