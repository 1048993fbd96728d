// Unit tests for cache/vary: which request field values Vary treats as matching after normalisation.
#include "cache/vary.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace orc::cache {
namespace {

// Two values of the field `name`, and whether Vary matches them (equal normalised forms).
struct Row {
  std::string_view name;
  std::optional<std::string_view> a;
  std::optional<std::string_view> b;
  bool equal;
};

std::string show(std::optional<std::string_view> v) {
  return v ? "\"" + std::string(*v) + "\"" : "(absent)";
}

constexpr auto kAbsent = std::nullopt;

const Row kRows[] = {
    // RFC 9111 section 4.1: an absent field matches only an absent one, never a present one, even empty.
    {"X-Tenant", kAbsent, kAbsent, true},
    {"X-Tenant", kAbsent, "", false},
    {"X-Tenant", kAbsent, "  ", false},
    {"X-Tenant", kAbsent, " absent", false},
    {"Accept-Encoding", kAbsent, "", false},
    {"Accept-Encoding", kAbsent, " , ", false},
    {"X-Tenant", "acme", "acme", true},
    {"X-Tenant", "acme", "acme2", false},

    // RFC 9110 section 5.6.3: OWS around a value and runs of it inside are not significant.
    {"X-Tenant", "  acme\t", "acme", true},
    {"X-Tenant", "a \t b", "a b", true},
    {"X-Tenant", "ab", "a b", false},
    {"Accept-Language", " en-US ", "en-US", true},

    // Case: language tags (RFC 9110 section 12.5.4) and codings are case-insensitive; an unknown field's
    // value is not.
    {"Accept-Language", "EN-us", "en-US", true},
    {"Accept-Encoding", "GZIP", "gzip", true},
    {"Accept-Charset", "UTF-8", "utf-8", true},
    {"X-Tenant", "Acme", "acme", false},

    // RFC 9110 section 5.6.1 lists: OWS around commas and empty members. An unknown field keeps its empty
    // members, since it may not be a list at all.
    {"X-List", "a , b", "a,b", true},
    {"X-List", "a,\tb", "a, b", true},
    {"X-List", "a,,b", "a,b", false},
    {"Accept-Encoding", "gzip,, br,", ", br , gzip", true},

    // Order: irrelevant in Accept, Accept-Charset and Accept-Encoding (RFC 9110 sections 12.5.1 to
    // 12.5.3), kept in an unknown field.
    {"Accept-Encoding", "gzip, br", "br, gzip", true},
    {"Accept", "text/html, application/json", "application/json,text/html", true},
    {"Accept-Charset", "utf-8, iso-8859-1;q=0.5", "iso-8859-1;q=0.5, utf-8", true},
    {"X-List", "a, b", "b, a", false},

    // RFC 9110 section 12.5.4 Accept-Language: members of different weights may be reordered, those of equal
    // weight not, as their order is the preference among them (RFC 4647 section 2.3).
    {"Accept-Language", "en-US, fr;q=0.5", "fr; q=0.5,EN-us", true},
    {"Accept-Language", "de, en;q=0.5, fr;q=0.8", "fr;q=0.8, de, en;q=0.5", true},
    {"Accept-Language", "en, fr", "fr, en", false},
    {"Accept-Language", "en;q=0.8, fr;q=0.8", "fr;q=0.8, en;q=0.8", false},
    {"Accept-Language", "en;q=0.5, fr;q=1", "fr, en;q=0.5", true},
    {"Accept-Language", "en;q=x, fr", "fr, en;q=x", false},  // a weight that does not parse: no reordering

    // RFC 9110 section 12.4.2 weights: a missing q is q=1, other q-values are compared as written.
    {"Accept-Encoding", "gzip;q=0.5", "gzip;q=0.8", false},
    {"Accept-Encoding", "gzip", "gzip;q=1", true},
    {"Accept-Encoding", "gzip", "gzip ; Q = 1.000", true},
    {"Accept-Encoding", "gzip;q=0.5", "gzip ; q = 0.5", true},
    {"Accept-Encoding", "gzip;q=0.5", "gzip;q=0.50", false},
    {"Accept-Encoding", "gzip", "gzip;q=0", false},

    // RFC 9110 section 12.5.1 Accept: parameters after the weight are accept-ext, so q=1 ahead of one is
    // kept; parameter names are case-insensitive, media type parameter values not in general.
    {"Accept", "text/html;q=0.5;level=1", "TEXT/HTML; Q=0.5; level=1", true},
    {"Accept", "text/html;level=1", "text/html;q=1;level=1", false},
    {"Accept", "text/plain;Format=flowed", "text/plain;format=flowed", true},
    {"Accept", "application/foo;profile=Abc", "application/foo;profile=abc", false},

    // RFC 9110 section 5.6.4 quoted-strings: kept byte for byte (whitespace and case), escapes included, and
    // a comma in one does not split a list.
    {"X-Tenant", "\"a  b\"", "\"a b\"", false},
    {"X-Tenant", "x=\"a  b\"  y", "x=\"a  b\" y", true},
    {"X-Tenant", "\"a\\\"  b\"  c", "\"a\\\"  b\" c", true},
    {"X-List", "\"a,b\" , c", "\"a,b\",c", true},
    {"Accept", "text/plain;f=\"A, B\", text/html", "text/html, text/plain;f=\"A, B\"", true},
    {"Accept", "text/plain;f=\"A  B\"", "text/plain;f=\"a  b\"", false},
    {"Accept", "text/plain;f=\"A  B\"", "text/plain;f=\"A B\"", false},
    {"Accept", "A;f=\"x\\\\\", b", "b, a;f=\"x\\\\\"", true},  // an escaped backslash, then the closing quote

    // An unterminated quoted-string (invalid) runs to the end; such a list is compared as an opaque value.
    {"Accept", "text/html, text/plain;f=\"x", "text/plain;f=\"x, text/html", false},
    {"Accept", "text/html , text/plain;f=\"x", "text/html,text/plain;f=\"x", true},
};

TEST(VaryValue, MatchesAfterNormalisation) {
  for (const auto& row : kRows) {
    SCOPED_TRACE(std::string(row.name) + ": " + show(row.a) + " vs " + show(row.b));
    auto a = vary_value(row.name, row.a);
    auto b = vary_value(row.name, row.b);
    if (row.equal)
      EXPECT_EQ(a, b);
    else
      EXPECT_NE(a, b);
  }
}

// The absent marker is apart from present values by construction: they never start with OWS.
TEST(VaryValue, PresentValuesNeverStartWithWhitespace) {
  EXPECT_EQ(vary_value("X-Tenant", kAbsent), kVaryAbsent);
  for (const auto& row : kRows) {
    for (auto v : {row.a, row.b}) {
      if (!v) continue;
      SCOPED_TRACE(std::string(row.name) + ": " + show(v));
      auto n = vary_value(row.name, v);
      EXPECT_TRUE(n.empty() || (n[0] != ' ' && n[0] != '\t')) << n;
    }
  }
}

TEST(VaryValue, NormalisedForms) {
  struct Form {
    std::string_view name;
    std::string_view value;
    std::string_view expect;
  };
  const Form forms[] = {
      {"Accept-Language", "fr; q=0.5,EN-us", "en-us,fr;q=0.5"},
      {"Accept-Encoding", "gzip;q=1.0, br", "br,gzip"},
      {"Accept", "Text/HTML ; Level = 1 ; q=0.9 ; Ext=Val", "text/html;level=1;q=0.9;ext=Val"},
      {"X-List", " a ,  b \t c ", "a,b c"},
      {"X-List", "a, ,b", "a,,b"},
      {"X-Tenant", "", ""},
      {"Accept", "TEXT/html , b;f=\"x  y", "TEXT/html,b;f=\"x  y"},
  };
  for (const auto& f : forms) {
    SCOPED_TRACE(std::string(f.name) + ": \"" + std::string(f.value) + "\"");
    EXPECT_EQ(vary_value(f.name, f.value), f.expect);
  }
}

// Field names are case-insensitive (RFC 9110 section 5.1).
TEST(VaryValue, FieldNamesAnyCase) {
  for (std::string_view name : {"Accept-Language", "ACCEPT-LANGUAGE", "accept-language", "aCcEpT-lAnGuAgE"}) {
    SCOPED_TRACE(std::string(name));
    EXPECT_EQ(vary_value(name, "FR;q=0.5, EN"), "en,fr;q=0.5");
  }
  EXPECT_EQ(vary_value("x-tenant", "Acme"), vary_value("X-TENANT", "Acme"));
}

}  // namespace
}  // namespace orc::cache
