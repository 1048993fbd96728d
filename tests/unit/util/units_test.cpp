// Unit tests for util/units: durations and sizes as written in the config file.
#include "util/units.hpp"

#include <gtest/gtest.h>

namespace orc::util {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("2s"), milliseconds(2000));
  EXPECT_EQ(parse_duration("5m"), milliseconds(300000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_EQ(parse_duration("1d"), milliseconds(86400000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
}

TEST(ParseDuration, RejectsMalformed) {
  for (const char* bad : {"", "s", "5", "1.5s", "-1s", "5 minutes", "5M", "10x", "99999999999999999999s"})
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

TEST(ParseSize, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("16KiB"), 16u * 1024);
  EXPECT_EQ(parse_size("4MiB"), 4u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB"), 1024ull * 1024 * 1024);
  EXPECT_EQ(parse_size("16KB"), 16000u);
  EXPECT_EQ(parse_size("2MB"), 2000000u);
}

TEST(ParseSize, RejectsMalformedAndOverflow) {
  for (const char* bad : {"", "KiB", "4mib", "4 TiB", "-4KiB", "99999999999999999999GiB", "1.5MiB"})
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
}

TEST(Format, RoundTrips) {
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(milliseconds(30000)), "30s");
  EXPECT_EQ(format_duration(milliseconds(300000)), "5m");
  EXPECT_EQ(format_size(16 * 1024), "16KiB");
  EXPECT_EQ(format_size(4 * 1024 * 1024), "4MiB");
  EXPECT_EQ(format_size(1000), "1000B");
}

}  // namespace
}  // namespace orc::util
