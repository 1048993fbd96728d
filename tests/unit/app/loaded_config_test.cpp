// Unit tests for app/loaded_config: one file read, compiled and checked, with every error and warning.
#include "app/loaded_config.hpp"

#include <gtest/gtest.h>

#include "test_helpers.hpp"

namespace orc::app {
namespace {

std::string diagnostics(const Loaded& l) {
  std::string out;
  for (const auto& d : l.errors) out += d.to_string() + "\n";
  for (const auto& d : l.warnings) out += d.to_string() + "\n";
  return out;
}

TEST(LoadAll, ValidFileGivesConfigRulebookAndVerifier) {
  test::TempDir dir;
  auto pem = test::rsa_key().write_public_pem(dir.file("jwt.pem"));
  auto path = dir.write(
      "c.yaml", "identity: { jwt: { algorithm: RS256, public_key_file: '" + pem +
                    "' } }\nrules:\n  - { name: r, match: { path: /r }, cache: { scope: user, ttl: 0 } }\n");
  auto l = load_all(path);
  ASSERT_TRUE(l.ok()) << diagnostics(l);
  ASSERT_TRUE(l.config);
  ASSERT_TRUE(l.rulebook);
  EXPECT_TRUE(l.verifier);
  EXPECT_EQ(l.rulebook->rules().size(), 1u);
  // Warnings do not stop the load.
  ASSERT_EQ(l.warnings.size(), 1u) << diagnostics(l);
  EXPECT_EQ(l.warnings[0].to_string(), path + ":3:64: warning: rule 'r' has ttl 0: nothing is ever fresh");
}

TEST(LoadAll, NoJwtNoVerifier) {
  test::TempDir dir;
  auto l = load_all(dir.write("c.yaml", "rules:\n  - { name: r, match: { path: /r }, pass: true }\n"));
  ASSERT_TRUE(l.ok()) << diagnostics(l);
  EXPECT_FALSE(l.verifier);
  EXPECT_TRUE(l.rulebook);
}

// A Redis URL the storage cannot use is reported where it is written, with what was expected.
TEST(LoadAll, AMalformedRedisUrlIsReportedAtItsPlace) {
  test::TempDir dir;
  auto path = dir.write("c.yaml",
                        "redis:\n  key_prefix: 'x:'\n  url: 'unix:///run/redis.sock?db=two'\n"
                        "rules:\n  - { name: r, match: { path: /r }, pass: true }\n");
  auto l = load_all(path);
  EXPECT_FALSE(l.ok());
  EXPECT_FALSE(l.config);
  ASSERT_EQ(l.errors.size(), 1u) << diagnostics(l);
  EXPECT_EQ(l.errors[0].to_string(),
            path + ":3:8: error: 'redis.url': the database must be a non-negative number");

  auto tcp = load_all(dir.write("d.yaml", "redis: { url: 'redis://cache:99999' }\n"));
  ASSERT_EQ(tcp.errors.size(), 1u) << diagnostics(tcp);
  EXPECT_EQ(tcp.errors[0].to_string(),
            dir.file("d.yaml") + ":1:15: error: 'redis.url': the port must be 1-65535");
}

// One run lists every error: those of the file, and those of the checks beyond it (the JWT key file, the
// Redis URL) made on what could be read, unless the file's errors are already about that section.
TEST(LoadAll, EveryErrorIsListedInOneRun) {
  test::TempDir dir;
  const std::string missing = dir.file("no-such-key.pem");
  auto path = dir.write("c.yaml", "listen: nope\nidentity: { jwt: { algorithm: RS256, public_key_file: '" +
                                      missing + "' } }\nredis: { url: 'redis://cache:99999' }\n");
  auto l = load_all(path);
  EXPECT_FALSE(l.ok());
  EXPECT_FALSE(l.verifier);
  const std::string all = diagnostics(l);
  EXPECT_EQ(l.errors.size(), 3u) << all;
  EXPECT_NE(all.find(path + ":1:9: error: 'listen'"), std::string::npos) << all;
  EXPECT_NE(all.find(path + ":2:"), std::string::npos) << all;
  EXPECT_NE(all.find(missing), std::string::npos) << all;
  EXPECT_NE(all.find(path + ":3:15: error: 'redis.url': the port must be 1-65535"), std::string::npos) << all;

  // A file error about the URL itself is not repeated by the URL's own check.
  auto twice = load_all(dir.write("d.yaml", "redis: { url: '${ORC_TEST_UNSET_VARIABLE}' }\n"));
  EXPECT_EQ(twice.errors.size(), 1u) << diagnostics(twice);
}

// docs/configuration.md, cache.max_fill: a fill slower than it is not stored, so a backend allowed to take
// longer than that to answer gets a warning (the shipped defaults, 2m against 2s + 30s, do not).
TEST(LoadAll, AMaxFillTheBackendsTimeoutsOutlastIsAWarning) {
  test::TempDir dir;
  const std::string rules =
      "rules:\n  - { name: r, match: { path: /r }, cache: { scope: public, ttl: 1m } }\n";
  auto path =
      dir.write("c.yaml", "upstream: { first_byte_timeout: 30s }\ncache: { max_fill: 20s }\n" + rules);
  auto l = load_all(path);
  ASSERT_TRUE(l.ok()) << diagnostics(l);
  ASSERT_EQ(l.warnings.size(), 1u) << diagnostics(l);
  EXPECT_EQ(l.warnings[0].to_string(),
            path +
                ":2:20: warning: cache.max_fill (20s) is not above upstream.connect_timeout + "
                "upstream.first_byte_timeout (32s): a response that takes longer than max_fill is served but "
                "never stored");

  auto defaults = load_all(dir.write("d.yaml", rules));
  ASSERT_TRUE(defaults.ok()) << diagnostics(defaults);
  EXPECT_TRUE(defaults.warnings.empty()) << diagnostics(defaults);
  auto no_cache_rule = load_all(dir.write(
      "e.yaml", "cache: { max_fill: 1s }\nrules:\n  - { name: p, match: { path: /p }, pass: true }\n"));
  ASSERT_TRUE(no_cache_rule.ok()) << diagnostics(no_cache_rule);
  EXPECT_TRUE(no_cache_rule.warnings.empty()) << diagnostics(no_cache_rule);
}

TEST(LoadAll, MissingFile) {
  test::TempDir dir;
  auto l = load_all(dir.file("absent.yaml"));
  EXPECT_FALSE(l.ok());
  EXPECT_FALSE(l.config);
  EXPECT_FALSE(l.rulebook);
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_EQ(l.errors[0].to_string(),
            dir.file("absent.yaml") +
                ": error: cannot read the config file: cannot open: No such file or directory");
}

TEST(LoadAll, RuleErrorsAndAnUnreadableKeyAreAllReported) {
  test::TempDir dir;
  auto key = dir.file("missing.pem");
  auto path = dir.write("c.yaml", "identity:\n  jwt:\n    algorithm: RS256\n    public_key_file: '" + key +
                                      "'\nrules:\n  - { name: r, match: { path: /r }, cache: {} }\n");
  auto l = load_all(path);
  EXPECT_FALSE(l.ok());
  EXPECT_FALSE(l.config);
  EXPECT_FALSE(l.rulebook);
  EXPECT_FALSE(l.verifier && l.ok());
  ASSERT_EQ(l.errors.size(), 2u) << diagnostics(l);
  EXPECT_EQ(l.errors[0].to_string(), path +
                                         ":6:5: error: rule 'r': scope 'credential' keys on an HMAC of the "
                                         "credential: set 'cache.key_secret' (or cache.key_secret_file)");
  EXPECT_EQ(l.errors[1].to_string(), path + ":3:5: error: identity.jwt.public_key_file: cannot read '" + key +
                                         "': cannot open: No such file or directory");
}

TEST(LoadAll, KeyFileThatIsNotAnRsaKey) {
  test::TempDir dir;
  auto key = dir.write("k.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  auto l = load_all(
      dir.write("c.yaml", "identity: { jwt: { algorithm: RS256, public_key_file: '" + key + "' } }\n"));
  EXPECT_FALSE(l.ok());
  ASSERT_EQ(l.errors.size(), 1u) << diagnostics(l);
  EXPECT_NE(l.errors[0].message.find("is not a PEM RSA public key"), std::string::npos) << diagnostics(l);
}

}  // namespace
}  // namespace orc::app
