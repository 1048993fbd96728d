// The shipped rulebooks: both check clean (no error, no warning), and config/openrisk.yaml meets the
// expectations derived from the API reference (tests/data/openrisk_expectations.yaml): never-cache routes
// pass, streams stream, cacheable reads cache, and every write purges the reads it changes.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "app/loaded_config.hpp"
#include "support/paths.hpp"

namespace orc {
namespace {

namespace fs = std::filesystem;

// The shipped files read their secrets from the environment, as a deployment would.
class ShippedEnvironment {
 public:
  ShippedEnvironment() {
    dir_ = fs::temp_directory_path() / ("orc-shipped-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto key = (dir_ / "jwt-public.pem").string();
    EVP_PKEY* pkey = EVP_RSA_gen(2048);
    FILE* f = std::fopen(key.c_str(), "wb");
    PEM_write_PUBKEY(f, pkey);
    std::fclose(f);
    EVP_PKEY_free(pkey);
    ::setenv("ORC_JWT_PUBLIC_KEY_FILE", key.c_str(), 1);
    ::setenv("ORC_KEY_SECRET", "test-key-secret", 1);
    ::setenv("JWT_SECRET", "dev-secret-key", 1);
    ::setenv("ORC_REDIS_URL", "redis://127.0.0.1:6379/0", 1);
  }
  ~ShippedEnvironment() { fs::remove_all(dir_); }

 private:
  fs::path dir_;
};

std::string source(const std::string& relative) {
  return test::source_file(relative);
}

std::string diagnostics(const app::Loaded& l) {
  std::string out;
  for (const auto& d : l.errors) out += d.to_string() + "\n";
  for (const auto& d : l.warnings) out += d.to_string() + "\n";
  return out;
}

class ShippedRulebook : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedRulebook, ChecksWithoutErrorsOrWarnings) {
  ShippedEnvironment env;
  auto loaded = app::load_all(source("config/" + GetParam()));
  ASSERT_TRUE(loaded.ok()) << diagnostics(loaded);
  EXPECT_TRUE(loaded.warnings.empty()) << diagnostics(loaded);
  EXPECT_GT(loaded.rulebook->rules().size(), 10u);
}

INSTANTIATE_TEST_SUITE_P(Files, ShippedRulebook, ::testing::Values("openrisk.yaml", "openrisk-phase5.yaml"));

// "METHOD /path?query" -> a match against the rulebook.
struct Probe {
  std::string method, path, query, text;
};

Probe probe(const std::string& line) {
  Probe p;
  p.text = line;
  auto space = line.find(' ');
  p.method = line.substr(0, space);
  std::string url = line.substr(space + 1);
  auto q = url.find('?');
  p.path = url.substr(0, q);
  if (q != std::string::npos) p.query = url.substr(q + 1);
  return p;
}

std::optional<rules::Match> match(const rules::Rulebook& book, const Probe& p) {
  const util::Query query(p.query);
  return book.match({p.method, p.path, &query, "", [](std::string_view) { return true; }});
}

// The tags an entry or a purge would carry, for one tenant and one user.
std::set<std::string> tags_of(const rules::Match& m, const Probe& p) {
  std::set<std::string> out;
  const util::Query query(p.query);
  rules::TagContext ctx{&m.params, &query, "tenant-1", "user-1"};
  for (const auto& t : m.rule->tags)
    if (auto v = rules::render(t, ctx)) out.insert(*v);
  return out;
}

class OpenRiskExpectations : public ::testing::Test {
 protected:
  void SetUp() override {
    loaded_ = app::load_all(source("config/openrisk.yaml"));
    ASSERT_TRUE(loaded_.ok()) << diagnostics(loaded_);
    expectations_ = YAML::LoadFile(source("tests/data/openrisk_expectations.yaml"));
  }
  const rules::Rulebook& book() const { return *loaded_.rulebook; }

  ShippedEnvironment env_;
  app::Loaded loaded_;
  YAML::Node expectations_;
};

TEST_F(OpenRiskExpectations, NeverCacheRoutesAreNeverCached) {
  ASSERT_TRUE(expectations_["never_cache"].IsSequence());
  for (const auto& item : expectations_["never_cache"]) {
    auto p = probe(item.as<std::string>());
    auto m = match(book(), p);
    if (!m) continue;  // no rule: passed
    EXPECT_TRUE(m->rule->cfg.action == config::ActionKind::pass ||
                m->rule->cfg.action == config::ActionKind::stream ||
                m->rule->cfg.action == config::ActionKind::invalidate)
        << p.text << " resolves to rule '" << m->rule->cfg.name << "' ("
        << config::to_string(m->rule->cfg.action) << ")";
  }
}

TEST_F(OpenRiskExpectations, UncacheableReadsAreNotCached) {
  ASSERT_TRUE(expectations_["not_cached"].IsSequence());
  for (const auto& item : expectations_["not_cached"]) {
    auto p = probe(item.as<std::string>());
    auto m = match(book(), p);
    if (!m) continue;
    EXPECT_NE(m->rule->cfg.action, config::ActionKind::cache)
        << p.text << " resolves to cache rule '" << m->rule->cfg.name << "'";
  }
}

TEST(BrokenConfigs, EveryFileTheSchemaRejectsTheLoaderRejectsToo) {
  ShippedEnvironment env;
  std::size_t files = 0;
  for (const auto& f : fs::directory_iterator(source("tests/data/schema_invalid"))) {
    if (f.path().extension() != ".yaml") continue;
    ++files;
    auto loaded = app::load_all(f.path().string());
    EXPECT_FALSE(loaded.ok()) << f.path().filename() << " is accepted by the loader";
  }
  EXPECT_GE(files, 10u);
}

TEST_F(OpenRiskExpectations, StreamingRoutesStream) {
  ASSERT_TRUE(expectations_["streaming"].IsSequence());
  for (const auto& item : expectations_["streaming"]) {
    auto p = probe(item.as<std::string>());
    auto m = match(book(), p);
    ASSERT_TRUE(m) << p.text << " matches no rule (it would be passed, but buffered routes need 'stream')";
    EXPECT_EQ(m->rule->cfg.action, config::ActionKind::stream) << p.text << " -> " << m->rule->cfg.name;
  }
}

TEST_F(OpenRiskExpectations, CacheableReadsAreCached) {
  ASSERT_TRUE(expectations_["cached"].IsSequence());
  for (const auto& item : expectations_["cached"]) {
    auto p = probe(item.as<std::string>());
    auto m = match(book(), p);
    ASSERT_TRUE(m) << p.text << " matches no rule";
    EXPECT_EQ(m->rule->cfg.action, config::ActionKind::cache) << p.text << " -> " << m->rule->cfg.name;
  }
}

TEST_F(OpenRiskExpectations, EveryWritePurgesTheReadsItChanges) {
  ASSERT_TRUE(expectations_["invalidation"].IsSequence());
  for (const auto& family : expectations_["invalidation"]) {
    auto w = probe(family["write"].as<std::string>());
    auto wm = match(book(), w);
    ASSERT_TRUE(wm) << w.text << " matches no rule: it would purge nothing";
    ASSERT_EQ(wm->rule->cfg.action, config::ActionKind::invalidate) << w.text << " -> " << wm->rule->cfg.name;
    auto purged = tags_of(*wm, w);
    for (const auto& read : family["purges"]) {
      auto r = probe(read.as<std::string>());
      auto rm = match(book(), r);
      if (!rm || rm->rule->cfg.action != config::ActionKind::cache) continue;  // not cached: nothing to purge
      // A write also purges the cached GET of its own URI (RFC 9111 section 4.4).
      if (r.path == w.path && r.query == w.query) continue;
      auto carried = tags_of(*rm, r);
      bool reached =
          std::any_of(carried.begin(), carried.end(), [&](const auto& t) { return purged.count(t) > 0; });
      std::string carried_list, purged_list;
      for (const auto& t : carried) carried_list += t + " ";
      for (const auto& t : purged) purged_list += t + " ";
      EXPECT_TRUE(reached) << w.text << " (rule " << wm->rule->cfg.name << ", purges: " << purged_list
                           << ") leaves " << r.text << " (rule " << rm->rule->cfg.name
                           << ", tags: " << carried_list << ") stale";
    }
  }
}

}  // namespace
}  // namespace orc
