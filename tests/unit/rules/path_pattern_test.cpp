// Unit tests for rules/path_pattern: pattern parsing, shapes and request-path normalisation.
#include "rules/path_pattern.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace orc::rules {
namespace {

using Strings = std::vector<std::string>;

PathPattern parse_ok(std::string_view text) {
  std::string error;
  auto p = parse_path_pattern(text, error);
  EXPECT_TRUE(p) << text << ": " << error;
  return p ? *p : PathPattern{};
}

std::string parse_error(std::string_view text) {
  std::string error;
  auto p = parse_path_pattern(text, error);
  EXPECT_FALSE(p) << text << " parsed";
  return error;
}

TEST(PathPattern, ParsesLiteralsParamsAndRest) {
  auto p = parse_ok("/api/v1/risks/:risk_id/**");
  ASSERT_EQ(p.segments.size(), 5u);
  EXPECT_EQ(p.segments[0].kind, Segment::Kind::literal);
  EXPECT_EQ(p.segments[0].text, "api");
  EXPECT_EQ(p.segments[2].text, "risks");
  EXPECT_EQ(p.segments[3].kind, Segment::Kind::param);
  EXPECT_EQ(p.segments[3].text, "risk_id");
  EXPECT_EQ(p.segments[4].kind, Segment::Kind::rest);
  EXPECT_EQ(p.segments[4].text, "");
  EXPECT_TRUE(p.has_param("risk_id"));
  EXPECT_FALSE(p.has_param("risks"));  // a literal is not a parameter
  EXPECT_FALSE(p.has_param("id"));
}

TEST(PathPattern, ShapeIgnoresParameterNames) {
  EXPECT_EQ(parse_ok("/api/v1/risks/:id/**").shape(), "/api/v1/risks/:/**");
  EXPECT_EQ(parse_ok("/api/v1/risks/:x/**").shape(), parse_ok("/api/v1/risks/:id/**").shape());
  EXPECT_NE(parse_ok("/api/:id").shape(), parse_ok("/api/id").shape());
  EXPECT_EQ(parse_ok("/").shape(), "/");
  EXPECT_TRUE(parse_ok("/").segments.empty());
}

TEST(PathPattern, TrailingSlashIsIgnored) {
  auto p = parse_ok("/a/b/");
  ASSERT_EQ(p.segments.size(), 2u);
  EXPECT_EQ(p.shape(), "/a/b");
}

TEST(PathPattern, LiteralEscapesAreNormalisedLikeRequestPaths) {
  auto p = parse_ok("/users/%7ebob/a%2fb");
  ASSERT_EQ(p.segments.size(), 3u);
  EXPECT_EQ(p.segments[0].text, "users");
  EXPECT_EQ(p.segments[1].text, "~bob");
  EXPECT_EQ(p.segments[2].text, "a%2Fb");
}

TEST(PathPattern, Errors) {
  EXPECT_EQ(parse_error(""), "a path starting with '/'");
  EXPECT_EQ(parse_error("api/v1"), "a path starting with '/'");
  EXPECT_EQ(parse_error("/a//b"), "no empty segment ('//') in a path pattern");
  EXPECT_EQ(parse_error("/a/**/b"), "'**' only as the last segment");
  EXPECT_EQ(parse_error("/a/:"), "a parameter name after ':' (letters, digits, '_'), got ':'");
  EXPECT_EQ(parse_error("/a/:1st"), "a parameter name after ':' (letters, digits, '_'), got ':1st'");
  EXPECT_EQ(parse_error("/a/:id-x"), "a parameter name after ':' (letters, digits, '_'), got ':id-x'");
  EXPECT_EQ(parse_error("/a/:id/b/:id"), "each parameter name once, but ':id' appears twice");
  EXPECT_EQ(parse_error("/a/b*"), "literal segments without '*', ':', '?' or dot segments, got 'b*'");
  EXPECT_EQ(parse_error("/a/*"), "literal segments without '*', ':', '?' or dot segments, got '*'");
  EXPECT_EQ(parse_error("/a/b:c"), "literal segments without '*', ':', '?' or dot segments, got 'b:c'");
  EXPECT_EQ(parse_error("/a?x=1"), "literal segments without '*', ':', '?' or dot segments, got 'a?x=1'");
  EXPECT_EQ(parse_error("/a/./b"), "literal segments without '*', ':', '?' or dot segments, got '.'");
  EXPECT_EQ(parse_error("/a/../b"), "literal segments without '*', ':', '?' or dot segments, got '..'");
}

// An escaped dot segment normalises to a dot segment, which no request path can contain (split_request_path
// refuses them): the pattern must be refused like its unescaped form rather than yield a rule that never
// matches.
TEST(PathPattern, EscapedDotSegmentsAreErrorsToo) {
  std::string error;
  EXPECT_FALSE(parse_path_pattern("/a/%2e%2e/b", error)) << "parsed into a literal '..' segment";
  EXPECT_FALSE(parse_path_pattern("/a/%2E", error)) << "parsed into a literal '.' segment";
}

TEST(PathPattern, ParamNamesMayHoldDigitsAfterTheFirstCharacter) {
  auto p = parse_ok("/a/:v2_id");
  EXPECT_TRUE(p.has_param("v2_id"));
}

TEST(SplitRequestPath, DropsEmptySegments) {
  EXPECT_EQ(split_request_path("/a//b/"), (Strings{"a", "b"}));
  EXPECT_EQ(split_request_path("/"), Strings{});
  EXPECT_EQ(split_request_path(""), Strings{});
  EXPECT_EQ(split_request_path("//"), Strings{});
}

TEST(SplitRequestPath, DecodesOnlyUnreservedEscapes) {
  EXPECT_EQ(split_request_path("/%61%70%69/%7Euser"), (Strings{"api", "~user"}));
  EXPECT_EQ(split_request_path("/a%2d%5F%2E"), (Strings{"a-_."}));
  // A reserved or other character stays escaped (upper-cased): %2F never becomes a separator.
  EXPECT_EQ(split_request_path("/a%2fb/c%20d"), (Strings{"a%2Fb", "c%20d"}));
  // A '%' that starts no escape is not a URI: refused, since decoding its neighbours could make one
  // ("%%355" would become "%55", which the backend decodes once more).
  EXPECT_FALSE(split_request_path("/100%"));
  EXPECT_FALSE(split_request_path("/%zz"));
  EXPECT_FALSE(split_request_path("/%4"));
  EXPECT_FALSE(split_request_path("/a/%%355"));
}

TEST(SplitRequestPath, OnlyAnRfc3986PathIsSplit) {
  // Boost.URL's path grammar: a byte outside it is not a URI path (the client must percent-encode it).
  for (const char* path : {"/a b", "/a\"b", "/a{b}", "/a|b", "/a^b", "/a`b", "/a[0]", "/caf\xc3\xa9", "/a#b"})
    EXPECT_FALSE(split_request_path(path)) << path;
  EXPECT_EQ(split_request_path("/caf%C3%A9/a:b@c!$&'()*+,=-._~"),
            (Strings{"caf%C3%A9", "a:b@c!$&'()*+,=-._~"}));
}

TEST(SplitRequestPath, RejectsDotSegments) {
  EXPECT_FALSE(split_request_path("/a/./b"));
  EXPECT_FALSE(split_request_path("/a/../b"));
  EXPECT_FALSE(split_request_path("/.."));
  EXPECT_FALSE(split_request_path("/a/.."));
  // Escaped dots decode to dot segments and are rejected too.
  EXPECT_FALSE(split_request_path("/a/%2e%2e/b"));
  EXPECT_FALSE(split_request_path("/a/.%2E/b"));
  EXPECT_FALSE(split_request_path("/a/%2E"));
  // Dots inside a segment are fine.
  EXPECT_EQ(split_request_path("/a/..b/.c/d."), (Strings{"a", "..b", ".c", "d."}));
}

TEST(JoinPath, JoinsSegments) {
  EXPECT_EQ(join_path({}), "/");
  EXPECT_EQ(join_path({"a"}), "/a");
  EXPECT_EQ(join_path({"api", "v1", "x%2Fy"}), "/api/v1/x%2Fy");
  EXPECT_EQ(join_path(*split_request_path("/a//%62/")), "/a/b");
}

// split_request_path splits a path that is already normal by hand and any other through Boost.URL's parse;
// normalise_request_path returns a normal path as it is. Every path of up to 5 characters over an alphabet
// with the separators, escapes, dots and refused bytes, and longer ones made of real segments, give the same
// as the parse alone: the same segments, and a normalised path (when there is one) that joins them.
TEST(SplitRequestPath, TheNormalPathsShortcutAgreesWithTheParseOnEveryPath) {
  constexpr std::string_view kAlphabet = "/aB.%2F:@;~ \\";
  std::size_t checked = 0, normal = 0;
  auto check = [&](const std::string& path) {
    ++checked;
    const auto split = split_request_path(path);
    const auto parsed = split_parsed_path(path);
    ASSERT_EQ(split, parsed) << "'" << path << "'";
    const auto normalised = normalise_request_path(path);
    if (!parsed) {
      EXPECT_FALSE(normalised) << "'" << path << "'";
      return;
    }
    if (normalised) {
      EXPECT_EQ(*normalised, join_path(*parsed)) << "'" << path << "'";
      if (*normalised == path) ++normal;
    }
  };
  std::string path;
  std::function<void(std::size_t)> all = [&](std::size_t left) {
    check(path);
    if (left == 0) return;
    for (char c : kAlphabet) {
      path.push_back(c);
      all(left - 1);
      path.pop_back();
    }
  };
  all(5);
  for (const char* p : {"/api/v1/risks/3f2a9c4e-1b2d-4e5f-8a9b-0c1d2e3f4a5b", "/api/v1/stats/risk-matrix",
                        "/a:b/@c/~d/e.f/..g/.h./x-y_z", "/api/v1//risks", "/api/v1/risks/", "/api/./v1",
                        "/api/v1/%72isks", "/api/v1;x=1/risks", "/"})
    check(p);
  EXPECT_GT(checked, 400'000u);
  EXPECT_GT(normal, 1'000u) << "the shortcut was never taken";
}

}  // namespace
}  // namespace orc::rules
