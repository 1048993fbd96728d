// Unit tests for rules/tag_template: parsing, globs, rendering, query values and glob overlap.
#include "rules/tag_template.hpp"

#include <gtest/gtest.h>

namespace orc::rules {
namespace {

using Kind = TemplatePart::Kind;
using Params = std::vector<std::pair<std::string, std::string>>;

TagTemplate tag_ok(std::string_view text) {
  std::string error;
  auto t = parse_tag_template(text, error);
  EXPECT_TRUE(t) << text << ": " << error;
  return t ? *t : TagTemplate{};
}

std::string tag_error(std::string_view text) {
  std::string error;
  auto t = parse_tag_template(text, error);
  EXPECT_FALSE(t) << text << " parsed";
  return error;
}

TEST(TagTemplate, ParsesEveryPlaceholderKind) {
  auto t = tag_ok("risk:{tenant}:{id}:{query.page}:{user}");
  EXPECT_EQ(t.source, "risk:{tenant}:{id}:{query.page}:{user}");
  ASSERT_EQ(t.parts.size(), 8u);
  EXPECT_EQ(t.parts[0].kind, Kind::literal);
  EXPECT_EQ(t.parts[0].text, "risk:");
  EXPECT_EQ(t.parts[1].kind, Kind::tenant);
  EXPECT_EQ(t.parts[2].kind, Kind::literal);
  EXPECT_EQ(t.parts[2].text, ":");
  EXPECT_EQ(t.parts[3].kind, Kind::param);
  EXPECT_EQ(t.parts[3].text, "id");
  EXPECT_EQ(t.parts[5].kind, Kind::query);
  EXPECT_EQ(t.parts[5].text, "page");
  EXPECT_EQ(t.parts[7].kind, Kind::user);
  EXPECT_TRUE(t.uses(Kind::tenant));
  EXPECT_TRUE(t.uses(Kind::user));
  EXPECT_TRUE(t.uses(Kind::query));
}

TEST(TagTemplate, LiteralOnly) {
  auto t = tag_ok("risks");
  ASSERT_EQ(t.parts.size(), 1u);
  EXPECT_EQ(t.parts[0].kind, Kind::literal);
  EXPECT_FALSE(t.uses(Kind::tenant));
  EXPECT_FALSE(t.uses(Kind::param));
  EXPECT_EQ(t.glob(), "risks");
}

TEST(TagTemplate, ParseErrors) {
  EXPECT_EQ(tag_error(""), "a non-empty tag");
  EXPECT_EQ(tag_error("risk}"), "'{' before '}' in 'risk}'");
  EXPECT_EQ(tag_error("risk:{id"), "a closing '}' in 'risk:{id'");
  EXPECT_EQ(tag_error("risk:{}"), "a placeholder name inside '{}' in 'risk:{}'");
  EXPECT_EQ(tag_error("risk:{a{b}"), "a placeholder name inside '{}' in 'risk:{a{b}'");
  EXPECT_EQ(tag_error("{id}}"), "'{' before '}' in '{id}}'");
  for (const char* bad : {"risk:{answer.}", "risk:{answer..id}", "risk:{answer.plan.}", "risk:{answer.a..b}"})
    EXPECT_EQ(tag_error(bad),
              "a member path after 'answer.' (names joined by '.') in '" + std::string(bad) + "'");
}

TEST(TagTemplate, AnswerPlaceholders) {
  auto t = tag_ok("risk:{tenant}:{answer.plan.risk_id}");
  ASSERT_EQ(t.parts.size(), 4u);
  EXPECT_EQ(t.parts[3].kind, Kind::answer);
  EXPECT_EQ(t.parts[3].text, "plan.risk_id");
  EXPECT_TRUE(t.uses(Kind::answer));
  EXPECT_FALSE(tag_ok("risk:{tenant}:{id}").uses(Kind::answer));
  EXPECT_EQ(t.glob(), "risk:*:*");
  EXPECT_EQ(tag_ok("{answer}").parts[0].kind, Kind::param) << "'answer' alone is a path parameter's name";
}

// A tag from the answer renders from the request first, then from the answer's values.
TEST(Render, PartialThenCompleteFromTheAnswer) {
  Params params{{"id", "m-1"}};
  TagContext ctx{&params, nullptr, "t-1", ""};
  auto partial = render_partial(tag_ok("risk:{tenant}:{answer.risk_id}/{id}/{answer.n}"), ctx);
  ASSERT_TRUE(partial);
  EXPECT_EQ(partial->pieces, (std::vector<std::string>{"risk:t-1:", "/m-1/", ""}));
  EXPECT_EQ(partial->fields, (std::vector<std::string>{"risk_id", "n"}));
  auto values = [](std::string_view field) -> std::optional<std::string> {
    if (field == "risk_id") return "r-9";
    if (field == "n") return "7";
    return std::nullopt;
  };
  EXPECT_EQ(complete(*partial, values), "risk:t-1:r-9/m-1/7");
  auto partial_missing = render_partial(tag_ok("risk:{answer.risk_id}:{answer.other}"), ctx);
  ASSERT_TRUE(partial_missing);
  EXPECT_FALSE(complete(*partial_missing, values)) << "one field the answer lacks: no tag";
  EXPECT_FALSE(render_partial(tag_ok("risk:{user}:{answer.risk_id}"), ctx)) << "no user claim";
  auto plain = render_partial(tag_ok("risk:{tenant}:{id}"), ctx);
  ASSERT_TRUE(plain);
  EXPECT_EQ(complete(*plain, values), "risk:t-1:m-1") << "no answer field: the request's rendering";
}

TEST(TagTemplate, GlobReplacesPlaceholdersWithOneStar) {
  EXPECT_EQ(tag_ok("risk:{tenant}:{id}").glob(), "risk:*:*");
  EXPECT_EQ(tag_ok("{tenant}{id}:x").glob(), "*:x");
  EXPECT_EQ(tag_ok("list:{query.page}").glob(), "list:*");
}

TEST(Render, FromParamsQueryTenantAndUser) {
  Params params{{"id", "42"}, {"kind", "controls"}};
  const util::Query query("page=3&sort=name");
  TagContext ctx{&params, &query, "t-1", "u-9"};
  EXPECT_EQ(render(tag_ok("risk:{tenant}:{id}"), ctx), "risk:t-1:42");
  EXPECT_EQ(render(tag_ok("{kind}:{query.page}:{query.sort}"), ctx), "controls:3:name");
  EXPECT_EQ(render(tag_ok("mine:{user}"), ctx), "mine:u-9");
  EXPECT_EQ(render(tag_ok("static"), ctx), "static");
}

// A UUID is case-insensitive text (RFC 9562 section 4) and the backend reads either case as one id: a tag
// renders it in lowercase, from the path, the query or the answer, so that a write naming it in one case
// purges a read that named it in the other. Anything else keeps its case.
TEST(Render, AUuidIsRenderedInLowercase) {
  const std::string upper = "6F1C2B1E-0000-4000-8000-00000000000A",
                    lower = "6f1c2b1e-0000-4000-8000-00000000000a";
  Params params{{"id", upper}, {"name", "Mixed-Case"}};
  const util::Query query("risk_id=" + upper);
  TagContext ctx{&params, &query, "T-1", ""};
  EXPECT_EQ(render(tag_ok("risk:{tenant}:{id}"), ctx), "risk:T-1:" + lower);
  EXPECT_EQ(render(tag_ok("q:{query.risk_id}"), ctx), "q:" + lower);
  EXPECT_EQ(render(tag_ok("n:{name}"), ctx), "n:Mixed-Case");
  auto partial = render_partial(tag_ok("risk:{answer.risk_id}"), ctx);
  ASSERT_TRUE(partial);
  EXPECT_EQ(complete(*partial, [&](std::string_view) -> std::optional<std::string> { return upper; }),
            "risk:" + lower);
  for (const std::string not_uuid :
       {"6F1C2B1E-0000-4000-8000-00000000000", "6F1C2B1E00000-4000-8000-00000000000A",
        "6F1C2B1E-0000-4000-8000-00000000000G"}) {
    Params p{{"id", not_uuid}};
    TagContext c{&p, nullptr, "", ""};
    EXPECT_EQ(render(tag_ok("x:{id}"), c), "x:" + not_uuid);
  }
}

TEST(Render, MissingParamOrQueryRendersEmpty) {
  Params params{{"id", "42"}};
  const util::Query query("other=1");
  TagContext ctx{&params, &query, "", ""};
  EXPECT_EQ(render(tag_ok("x:{nope}:{query.page}"), ctx), "x::");
  TagContext no_params{nullptr, nullptr, "", ""};
  EXPECT_EQ(render(tag_ok("risk:{id}"), no_params), "risk:");
}

TEST(Render, TenantOrUserWithoutAValueRendersNothing) {
  Params params{{"id", "42"}};
  EXPECT_FALSE(render(tag_ok("risk:{tenant}:{id}"), TagContext{&params, nullptr, "", "u"}));
  EXPECT_FALSE(render(tag_ok("mine:{user}"), TagContext{&params, nullptr, "t", ""}));
  EXPECT_EQ(render(tag_ok("risk:{tenant}:{id}"), TagContext{&params, nullptr, "t", ""}), "risk:t:42");
}

TEST(Query, FirstValueRawAndDecodedName) {
  EXPECT_EQ(util::Query("a=1&b=2").raw_value("b"), "2");
  EXPECT_EQ(util::Query("a=1&a=2").raw_value("a"), "1");
  EXPECT_EQ(util::Query("flag&x=1").raw_value("flag"), "");
  EXPECT_TRUE(util::Query("flag&x=1").raw_value("flag").has_value());
  EXPECT_EQ(util::Query("q=a%20b").raw_value("q"), "a%20b");
  EXPECT_EQ(util::Query("x=a=b").raw_value("x"), "a=b");
  EXPECT_FALSE(util::Query("ab=1&b").raw_value("a"));
  EXPECT_FALSE(util::Query("").raw_value("a"));
  EXPECT_FALSE(util::Query("a=1").raw_value("A"));
}

TEST(GlobsIntersect, Cases) {
  EXPECT_TRUE(globs_intersect("risk:*", "risk:42"));
  EXPECT_TRUE(globs_intersect("risk:42", "risk:*"));
  EXPECT_TRUE(globs_intersect("risk:*:x", "risk:t1:*"));
  EXPECT_TRUE(globs_intersect("*", ""));
  EXPECT_TRUE(globs_intersect("*", "anything"));
  EXPECT_TRUE(globs_intersect("", ""));
  EXPECT_TRUE(globs_intersect("*a", "b*"));  // "ba"
  EXPECT_TRUE(globs_intersect("x*", "*y"));  // "xy"
  EXPECT_TRUE(globs_intersect("risks", "risks"));
  EXPECT_TRUE(globs_intersect("risk:*:*", "risk:*"));
  EXPECT_FALSE(globs_intersect("a*", "b*"));
  EXPECT_FALSE(globs_intersect("abc", "abd"));
  EXPECT_FALSE(globs_intersect("a*b", "*c"));
  EXPECT_FALSE(globs_intersect("", "a"));
  EXPECT_FALSE(globs_intersect("risk", "risks"));
  EXPECT_FALSE(globs_intersect("risk:*", "risks:*"));
  EXPECT_FALSE(globs_intersect("risk:*:x", "risk:*:y"));
}

}  // namespace
}  // namespace orc::rules
