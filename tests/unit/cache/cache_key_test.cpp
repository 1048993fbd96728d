// Unit tests for cache/cache_key: the keyed query, the key material and the hashed key.
#include "cache/cache_key.hpp"

#include <gtest/gtest.h>
#include <strings.h>

#include <map>

namespace orc::cache {
namespace {

config::CacheAction keyed_on(std::vector<std::string> names, bool bypass = false) {
  config::CacheAction a;
  a.key_query = std::move(names);
  a.other_query_bypass = bypass;
  return a;
}

TEST(KeyQuery, SortsByNameAndIgnoresOtherParameters) {
  auto a = keyed_on({"page", "expand"});
  EXPECT_EQ(key_query(a, util::Query("page=2&utm=x&expand=owner")), "expand=owner&page=2");
  EXPECT_EQ(key_query(a, util::Query("expand=owner&page=2")), "expand=owner&page=2");
  EXPECT_EQ(key_query(a, util::Query("utm=x")), "");
  EXPECT_EQ(key_query(a, util::Query("")), "");
}

TEST(KeyQuery, DuplicatesAreKeptInRequestOrder) {
  auto a = keyed_on({"b", "a"});
  EXPECT_EQ(key_query(a, util::Query("b=2&a=1&b=1")), "a=1&b=2&b=1");
  EXPECT_EQ(key_query(a, util::Query("b=1&a=1&b=2")), "a=1&b=1&b=2");
  EXPECT_NE(key_query(a, util::Query("b=2&b=1")), key_query(a, util::Query("b=1&b=2")));
}

TEST(KeyQuery, NamesAreReadDecodedAsTheBackendReadsThem) {
  auto a = keyed_on({"severity", "page"});
  EXPECT_EQ(key_query(a, util::Query("%73everity=high&page=1")), "page=1&severity=high");
  EXPECT_EQ(key_query(a, util::Query("%73everity=high")), key_query(a, util::Query("severity=high")));
  EXPECT_EQ(key_query(a, util::Query("sev%65rity=a%20b")), "severity=a%20b");  // values stay as they came
  EXPECT_EQ(key_query(keyed_on({"page"}, true), util::Query("p%61ge=1")), "page=1");
  EXPECT_FALSE(
      key_query(keyed_on({"page"}, true), util::Query("%73everity=high")));  // still another parameter
}

TEST(KeyQuery, EmptyPairsAndValuelessParameters) {
  auto a = keyed_on({"a", "flag"});
  EXPECT_EQ(key_query(a, util::Query("&&a=1&")), "a=1");
  EXPECT_EQ(key_query(a, util::Query("flag&a=")), "a=&flag=");
  EXPECT_EQ(key_query(a, util::Query("a=x%20y")), "a=x%20y");  // raw, not decoded
}

TEST(KeyQuery, OtherQueryBypass) {
  auto a = keyed_on({"page"}, true);
  EXPECT_EQ(key_query(a, util::Query("page=1")), "page=1");
  EXPECT_EQ(key_query(a, util::Query("")), "");
  EXPECT_FALSE(key_query(a, util::Query("page=1&utm=x")));
  EXPECT_FALSE(key_query(a, util::Query("debug")));
  EXPECT_FALSE(key_query(keyed_on({}, true), util::Query("x=1")));
}

class BuildCacheKey : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = config::load_config_string(R"(cache: { key_secret: k }
rules:
  - name: items
    match: { path: /items/:id }
    cache:
      scope: public
      key: { query: [b, a], headers: [Accept-Language] }
)",
                                        "test.yaml");
    ASSERT_TRUE(r.config);
    auto c = rules::Rulebook::compile(*r.config);
    ASSERT_TRUE(c.rulebook);
    book_ = c.rulebook;
  }

  CacheKey key(std::string_view path, std::string_view query, std::map<std::string, std::string> headers,
               std::string_view scope_part, std::string_view method = "GET") {
    const util::Query split(query);
    rules::RequestView view{method, path, &split, "", [](std::string_view) { return false; }};
    auto m = book_->match(view);
    EXPECT_TRUE(m) << path;
    if (!m) return {};
    auto kq = key_query(m->rule->cfg.cache, split);
    EXPECT_TRUE(kq);
    identity::HeaderLookup lookup = [&headers](std::string_view name) -> std::optional<std::string_view> {
      for (const auto& [k, v] : headers)
        if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0)
          return std::string_view(v);
      return std::nullopt;
    };
    return build_cache_key(*m->rule, *m, *kq, lookup, scope_part, "orc:");
  }

  std::shared_ptr<const rules::Rulebook> book_;
};

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

TEST_F(BuildCacheKey, MaterialNamesEverythingTheResponseDependsOn) {
  auto k = key("/items/42", "a=1&b=2&utm=x", {{"accept-language", "fr"}}, "public");
  EXPECT_EQ(
      k.material,
      "rule=items\nmethod=GET\npath=/items/42\nquery=a=1&b=2\nheader.accept-language=fr\nscope=public\n");
  ASSERT_EQ(k.key.size(), 6u + 64u);
  EXPECT_EQ(k.key.substr(0, 6), "orc:e:");
  EXPECT_TRUE(lower_hex(k.key.substr(6))) << k.key;
  EXPECT_EQ(k.key, "orc:e:" + identity::sha256_hex(k.material));
}

TEST_F(BuildCacheKey, AbsentKeyHeaderIsEmpty) {
  auto k = key("/items/42", "", {}, "public");
  EXPECT_NE(k.material.find("\nheader.accept-language=\n"), std::string::npos) << k.material;
}

TEST_F(BuildCacheKey, EquivalentRequestsShareTheKey) {
  auto base = key("/items/42", "a=1&b=2", {{"Accept-Language", "fr"}}, "public");
  EXPECT_EQ(key("/items/42", "b=2&a=1", {{"Accept-Language", "fr"}}, "public").key, base.key);
  EXPECT_EQ(key("/items/42", "b=2&utm=y&a=1", {{"Accept-Language", "fr"}, {"X-Other", "1"}}, "public").key,
            base.key);
  EXPECT_EQ(key("//items/%34%32/", "a=1&b=2", {{"Accept-Language", "fr"}}, "public").key, base.key);
  EXPECT_EQ(key("/items/42", "a=1&b=2", {{"Accept-Language", "fr"}}, "public", "HEAD").key, base.key);
}

TEST_F(BuildCacheKey, DifferentInputsGiveDifferentKeys) {
  auto base = key("/items/42", "a=1", {{"Accept-Language", "fr"}}, "public");
  EXPECT_NE(key("/items/43", "a=1", {{"Accept-Language", "fr"}}, "public").key, base.key);
  EXPECT_NE(key("/items/42", "a=2", {{"Accept-Language", "fr"}}, "public").key, base.key);
  EXPECT_NE(key("/items/42", "a=1", {{"Accept-Language", "de"}}, "public").key, base.key);
  EXPECT_NE(key("/items/42", "a=1", {{"Accept-Language", "fr"}}, "tenant:t-1").key, base.key);
  EXPECT_NE(key("/items/42", "a=1", {{"Accept-Language", "fr"}}, "tenant:t-2").key,
            key("/items/42", "a=1", {{"Accept-Language", "fr"}}, "tenant:t-1").key);
  EXPECT_NE(key("/items/42", "a=1", {{"Accept-Language", "fr"}}, "user:t-1").key,
            key("/items/42", "a=1", {{"Accept-Language", "fr"}}, "tenant:t-1").key);
}

TEST_F(BuildCacheKey, RawCredentialNeverEntersTheKey) {
  const std::string raw = "Bearer very-secret-api-token";
  config::IdentityConfig id;
  std::map<std::string, std::string> headers{{"Authorization", raw}, {"Accept-Language", "fr"}};
  identity::HeaderLookup lookup = [&headers](std::string_view name) -> std::optional<std::string_view> {
    for (const auto& [k, v] : headers)
      if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0)
        return std::string_view(v);
    return std::nullopt;
  };
  auto scope =
      identity::resolve_scope(config::Scope::credential, id, nullptr, "key-secret", lookup, util::Query());
  ASSERT_FALSE(scope.bypass) << scope.bypass_reason;
  auto k = key("/items/42", "", headers, scope.key_part);
  EXPECT_EQ(k.material.find("very-secret-api-token"), std::string::npos) << k.material;
  EXPECT_EQ(k.key.find("very-secret-api-token"), std::string::npos);
  EXPECT_NE(k.material.find(
                "\nscope=cred:" + identity::hmac_sha256_hex("key-secret", "very-secret-api-token") + "\n"),
            std::string::npos)
      << k.material;
}

}  // namespace
}  // namespace orc::cache
