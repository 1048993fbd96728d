// Unit tests for cache/range: a request's Range field answered from a complete stored representation (RFC
// 9110 section 14), and If-Range (section 13.1.5), as tables of rows.
#include "cache/range.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orc::cache {
namespace {

using K = RangeAnswer::Kind;
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

const char* name(K k) {
  switch (k) {
    case RangeAnswer::whole:
      return "whole";
    case RangeAnswer::partial:
      return "partial";
    case RangeAnswer::unsatisfiable:
      return "unsatisfiable";
    case RangeAnswer::forward:
      return "forward";
  }
  return "?";
}

struct RangeRow {
  std::string_view range;
  std::uint64_t size;
  K kind;
  std::uint64_t first = 0;
  std::uint64_t length = 0;
  std::string_view content_range = "";
};

const std::vector<RangeRow> kRangeRows = {
    // No Range field: the whole representation.
    {"", 10, RangeAnswer::whole},
    {"  \t ", 10, RangeAnswer::whole},

    // Section 14.1 and 14.2: the unit is case-insensitive "bytes"; another unit is ignored.
    {"bytes=0-4", 10, RangeAnswer::partial, 0, 5, "bytes 0-4/10"},
    {"Bytes=0-4", 10, RangeAnswer::partial, 0, 5, "bytes 0-4/10"},
    {"BYTES=0-4", 10, RangeAnswer::partial, 0, 5, "bytes 0-4/10"},
    {"items=0-4", 10, RangeAnswer::whole},
    {"byte=0-4", 10, RangeAnswer::whole},
    {"bytesx=0-4", 10, RangeAnswer::whole},

    // Section 14.2: a server may ignore a syntactically invalid Range field (answered with the whole body).
    {"bytes", 10, RangeAnswer::whole},
    {"0-4", 10, RangeAnswer::whole},
    {"bytes=", 10, RangeAnswer::whole},
    {"bytes= , ,", 10, RangeAnswer::whole},
    {"bytes=-", 10, RangeAnswer::whole},
    {"bytes=4", 10, RangeAnswer::whole},
    {"bytes=a-4", 10, RangeAnswer::whole},
    {"bytes=0-x", 10, RangeAnswer::whole},
    {"bytes=+1-4", 10, RangeAnswer::whole},
    {"bytes=-+3", 10, RangeAnswer::whole},
    {"bytes=--3", 10, RangeAnswer::whole},
    {"bytes=1-2-3", 10, RangeAnswer::whole},
    {"bytes=0x1-4", 10, RangeAnswer::whole},
    {"bytes=0 - 4", 10, RangeAnswer::whole},
    {"bytes =0-4", 10, RangeAnswer::whole},
    {"bytes= 0-4", 10, RangeAnswer::partial, 0, 5, "bytes 0-4/10"},
    {"bytes=5-4", 10, RangeAnswer::whole},
    {"bytes=0-1,5-4", 10, RangeAnswer::whole},
    {"bytes=0-1,x", 10, RangeAnswer::whole},
    {"bytes=18446744073709551616-", 10, RangeAnswer::whole},
    {"bytes=0-18446744073709551616", 10, RangeAnswer::whole},
    {"bytes=-18446744073709551616", 10, RangeAnswer::whole},
    {"bytes=0-4;q=1", 10, RangeAnswer::whole},

    // Section 14.1.2: an int-range, its last-pos clamped to the representation.
    {"bytes=0-0", 10, RangeAnswer::partial, 0, 1, "bytes 0-0/10"},
    {"bytes=2-5", 10, RangeAnswer::partial, 2, 4, "bytes 2-5/10"},
    {"bytes=9-9", 10, RangeAnswer::partial, 9, 1, "bytes 9-9/10"},
    {"bytes=0-9", 10, RangeAnswer::partial, 0, 10, "bytes 0-9/10"},
    {"bytes=5-100", 10, RangeAnswer::partial, 5, 5, "bytes 5-9/10"},
    {"bytes=0-18446744073709551615", 10, RangeAnswer::partial, 0, 10, "bytes 0-9/10"},
    {"bytes=007-008", 10, RangeAnswer::partial, 7, 2, "bytes 7-8/10"},

    // Section 14.1.2: an int-range without last-pos runs to the end.
    {"bytes=0-", 10, RangeAnswer::partial, 0, 10, "bytes 0-9/10"},
    {"bytes=3-", 10, RangeAnswer::partial, 3, 7, "bytes 3-9/10"},
    {"bytes=9-", 10, RangeAnswer::partial, 9, 1, "bytes 9-9/10"},

    // Section 14.1.2: a suffix-range selects the last n bytes, or all of a shorter representation.
    {"bytes=-1", 10, RangeAnswer::partial, 9, 1, "bytes 9-9/10"},
    {"bytes=-3", 10, RangeAnswer::partial, 7, 3, "bytes 7-9/10"},
    {"bytes=-9", 10, RangeAnswer::partial, 1, 9, "bytes 1-9/10"},
    {"bytes=-10", 10, RangeAnswer::partial, 0, 10, "bytes 0-9/10"},
    {"bytes=-500", 10, RangeAnswer::partial, 0, 10, "bytes 0-9/10"},
    {"bytes=-18446744073709551615", 10, RangeAnswer::partial, 0, 10, "bytes 0-9/10"},

    // Section 14.1.1 and 15.5.17: unsatisfiable ranges get a 416 with "bytes */<size>".
    {"bytes=10-", 10, RangeAnswer::unsatisfiable, 0, 0, "bytes */10"},
    {"bytes=10-20", 10, RangeAnswer::unsatisfiable, 0, 0, "bytes */10"},
    {"bytes=18446744073709551615-", 10, RangeAnswer::unsatisfiable, 0, 0, "bytes */10"},
    {"bytes=-0", 10, RangeAnswer::unsatisfiable, 0, 0, "bytes */10"},
    {"bytes=-000", 10, RangeAnswer::unsatisfiable, 0, 0, "bytes */10"},

    // Section 14.1.1: with a zero-length representation no range is satisfiable (the cache's choice, see
    // range.hpp); an invalid or foreign-unit field is still ignored.
    {"bytes=0-", 0, RangeAnswer::unsatisfiable, 0, 0, "bytes */0"},
    {"bytes=0-0", 0, RangeAnswer::unsatisfiable, 0, 0, "bytes */0"},
    {"bytes=-1", 0, RangeAnswer::unsatisfiable, 0, 0, "bytes */0"},
    {"bytes=-0", 0, RangeAnswer::unsatisfiable, 0, 0, "bytes */0"},
    {"bytes=0-1,-5", 0, RangeAnswer::unsatisfiable, 0, 0, "bytes */0"},
    {"bytes=5-4", 0, RangeAnswer::whole},
    {"items=0-", 0, RangeAnswer::whole},

    // Section 5.6.1 (lists) and 5.6.3 (OWS): OWS around commas and the value; empty elements skipped.
    {"  bytes=1-2  ", 10, RangeAnswer::partial, 1, 2, "bytes 1-2/10"},
    {"\tbytes=1-2\t", 10, RangeAnswer::partial, 1, 2, "bytes 1-2/10"},
    {"bytes=1-2 ,", 10, RangeAnswer::partial, 1, 2, "bytes 1-2/10"},
    {"bytes=, ,1-2, ,", 10, RangeAnswer::partial, 1, 2, "bytes 1-2/10"},
    {"bytes=,,,-4", 10, RangeAnswer::partial, 6, 4, "bytes 6-9/10"},

    // Section 14.2 and 15.3.7: several ranges would need multipart/byteranges, so the backend answers; the
    // cache still answers 416 when none of them is satisfiable.
    {"bytes=0-1,3-4", 10, RangeAnswer::forward},
    {"bytes=0-1, 3-4", 10, RangeAnswer::forward},
    {"bytes=0-1 , -2", 10, RangeAnswer::forward},
    {"bytes=0-4,2-6", 10, RangeAnswer::forward},
    {"bytes=0-1,0-1", 10, RangeAnswer::forward},
    {"bytes=0-1,20-30", 10, RangeAnswer::forward},
    {"bytes=20-30,-0", 10, RangeAnswer::unsatisfiable, 0, 0, "bytes */10"},
    {"bytes=10-,11-12", 10, RangeAnswer::unsatisfiable, 0, 0, "bytes */10"},

    // Representation sizes at the edge of uint64.
    {"bytes=0-", kMax, RangeAnswer::partial, 0, kMax, "bytes 0-18446744073709551614/18446744073709551615"},
    {"bytes=-18446744073709551615", kMax, RangeAnswer::partial, 0, kMax,
     "bytes 0-18446744073709551614/18446744073709551615"},
    {"bytes=18446744073709551614-18446744073709551615", kMax, RangeAnswer::partial, kMax - 1, 1,
     "bytes 18446744073709551614-18446744073709551614/18446744073709551615"},
    {"bytes=18446744073709551615-", kMax, RangeAnswer::unsatisfiable, 0, 0, "bytes */18446744073709551615"},
    {"bytes=0-0", 1, RangeAnswer::partial, 0, 1, "bytes 0-0/1"},
    {"bytes=-1", 1, RangeAnswer::partial, 0, 1, "bytes 0-0/1"},
    {"bytes=1-", 1, RangeAnswer::unsatisfiable, 0, 0, "bytes */1"},
};

TEST(AnswerRange, Table) {
  for (const auto& row : kRangeRows) {
    SCOPED_TRACE("Range: \"" + std::string(row.range) + "\", size " + std::to_string(row.size));
    RangeAnswer a = answer_range(row.range, row.size);
    EXPECT_EQ(name(a.kind), std::string_view(name(row.kind)));
    EXPECT_EQ(a.first, row.first);
    EXPECT_EQ(a.length, row.length);
    EXPECT_EQ(a.content_range, row.content_range);
  }
}

struct IfRangeRow {
  std::string_view if_range;
  std::string_view etag;
  std::optional<std::string_view> last_modified;
  bool holds;
};

constexpr std::string_view kDate = "Tue, 14 Nov 2023 22:13:20 GMT";

const std::vector<IfRangeRow> kIfRangeRows = {
    // No If-Range: the Range applies.
    {"", "\"abc\"", kDate, true},
    {"", "", std::nullopt, true},
    {"  ", "\"abc\"", std::nullopt, true},

    // Section 13.1.5 and 8.8.3.2: an entity-tag matches only by strong comparison.
    {"\"abc\"", "\"abc\"", std::nullopt, true},
    {" \"abc\"\t", " \"abc\" ", kDate, true},
    {"\"abc\"", "\"abd\"", kDate, false},
    {"\"abc\"", "\"ABC\"", kDate, false},
    {"\"\"", "\"\"", std::nullopt, true},
    {"\"abc\"", "", kDate, false},
    {"W/\"abc\"", "\"abc\"", kDate, false},
    {"w/\"abc\"", "\"abc\"", kDate, false},
    {"\"abc\"", "W/\"abc\"", kDate, false},
    {"W/\"abc\"", "W/\"abc\"", kDate, false},
    {"\"abc", "\"abc", kDate, false},
    {"\"a\"bc\"", "\"a\"bc\"", kDate, false},
    {"\"abc\", \"def\"", "\"abc\"", kDate, false},
    {"\"abc\"", "abc", kDate, false},

    // Section 13.1.5: an HTTP-date must equal Last-Modified exactly, and only when there is one.
    {kDate, "\"abc\"", kDate, true},
    {" Tue, 14 Nov 2023 22:13:20 GMT ", "\"abc\"", "\tTue, 14 Nov 2023 22:13:20 GMT", true},
    {kDate, "\"abc\"", std::nullopt, false},
    {kDate, "\"abc\"", "", false},
    {kDate, "\"abc\"", "Tue, 14 Nov 2023 22:13:21 GMT", false},
    {kDate, "\"abc\"", "Tuesday, 14-Nov-23 22:13:20 GMT", false},
    {"tue, 14 nov 2023 22:13:20 gmt", "\"abc\"", kDate, false},
    {"Tue, 14 Nov 2023 22:13:20 GMT", "", kDate, true},
    {"abc", "abc", kDate, false},
};

TEST(IfRangeHolds, Table) {
  for (const auto& row : kIfRangeRows) {
    SCOPED_TRACE("If-Range: \"" + std::string(row.if_range) + "\", ETag \"" + std::string(row.etag) +
                 "\", Last-Modified " +
                 (row.last_modified ? "\"" + std::string(*row.last_modified) + "\"" : std::string("none")));
    EXPECT_EQ(if_range_holds(row.if_range, row.etag, row.last_modified), row.holds);
  }
}

}  // namespace
}  // namespace orc::cache
