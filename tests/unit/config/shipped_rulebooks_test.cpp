// The shipped rulebooks: both check clean (no error, no warning), and config/openrisk.yaml meets the
// expectations derived from the API reference (tests/data/openrisk_expectations.yaml): never-cache routes
// pass, streams stream, cacheable reads cache, every write purges the reads it changes (in its own tenant,
// and in the others where its effect reaches them), tenant-local writes keep other tenants' entries,
// targets that select other content get other cache keys, and caller-dependent reads are keyed per user.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "app/loaded_config.hpp"
#include "cache/cache_key.hpp"
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

// An example configuration (`path` from the source root) loads without an error or a warning, with rules.
void load_example(const std::string& path, app::Loaded& loaded) {
  ShippedEnvironment env;
  loaded = app::load_all(source(path));
  ASSERT_TRUE(loaded.ok()) << diagnostics(loaded);
  EXPECT_TRUE(loaded.warnings.empty()) << diagnostics(loaded);
  ASSERT_FALSE(loaded.rulebook->rules().empty());
}

// The generic-origin example: an RFC 9111 shared cache, every rule following the backend's headers and keyed
// on the whole target URI.
TEST(ShippedExample, Rfc9111ChecksCleanAndFollowsTheOrigin) {
  app::Loaded loaded;
  ASSERT_NO_FATAL_FAILURE(load_example("config/rfc9111.yaml", loaded));
  for (const auto& r : loaded.rulebook->rules()) {
    if (r.cfg.action != config::ActionKind::cache) continue;
    EXPECT_TRUE(r.cfg.cache.ttl_origin) << r.cfg.name;
    EXPECT_TRUE(r.cfg.cache.key_query_all) << r.cfg.name;
    EXPECT_GT(r.cfg.cache.validation_window.count(), 0) << r.cfg.name;
  }
}

// The bench's many-keys configuration (load_tests/bench, scenario `many`): loads clean, and every rule keys
// on the credential, as the scenario's comparison with nginx assumes.
TEST(ShippedExample, BenchManyKeysChecksCleanAndKeysOnTheCredential) {
  app::Loaded loaded;
  ASSERT_NO_FATAL_FAILURE(load_example("load_tests/config/many-keys.yaml", loaded));
  for (const auto& r : loaded.rulebook->rules())
    EXPECT_EQ(r.cfg.cache.scope, config::Scope::credential) << r.cfg.name;
}

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

// The tags an entry or a purge would carry, for one tenant and one user. A write's tag from its answer
// ({answer.field}) is rendered from `answer` (a mapping of member paths to values, as the backend answers
// the write), or is its fallback when `answer` lacks the field (or is not given).
std::set<std::string> tags_of(const rules::Match& m, const Probe& p, std::string_view tenant = "tenant-1",
                              std::string_view user = "user-1", const YAML::Node& answer = YAML::Node()) {
  std::set<std::string> out;
  const util::Query query(p.query);
  rules::TagContext ctx{&m.params, &query, tenant, user};
  const auto& rule = *m.rule;
  for (std::size_t i = 0; i < rule.tags.size(); ++i) {
    const auto* fallback = i < rule.fallbacks.size() && rule.fallbacks[i] ? &*rule.fallbacks[i] : nullptr;
    std::optional<std::string> v;
    if (fallback) {
      if (auto partial = rules::render_partial(rule.tags[i], ctx))
        v = rules::complete(*partial, [&](std::string_view field) -> std::optional<std::string> {
          if (!answer.IsMap() || !answer[std::string(field)]) return std::nullopt;
          return answer[std::string(field)].as<std::string>();
        });
      if (!v) v = rules::render(*fallback, ctx);
    } else {
      v = rules::render(rule.tags[i], ctx);
    }
    if (v) out.insert(*v);
  }
  return out;
}

bool share_a_tag(const std::set<std::string>& a, const std::set<std::string>& b) {
  return std::any_of(a.begin(), a.end(), [&](const auto& t) { return b.count(t) > 0; });
}

std::string tag_list(const std::set<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) out += t + " ";
  return out;
}

bool is_cache_rule(const std::optional<rules::Match>& m) {
  return m && m->rule->cfg.action == config::ActionKind::cache;
}

// The cache key of a cached read, for one user of one tenant and no request header: the key material and its
// hash, built by the two functions cache::plan builds the daemon's keys with. Empty: the read bypasses the
// cache (a parameter the rule does not name, with other_query: bypass), so it is never stored under any key.
std::optional<cache::CacheKey> cache_key_of(const rules::Match& m, const Probe& p) {
  const util::Query query(p.query);
  auto kq = cache::key_query(m.rule->cfg.cache, query);
  if (!kq) return std::nullopt;
  const identity::HeaderLookup no_headers = [](std::string_view) -> std::optional<std::string_view> {
    return std::nullopt;
  };
  return cache::build_cache_key(*m.rule, m, *kq, no_headers, "user-1@tenant-1", "orc:");
}

// One write of an expectation section ({write, <reads_key>: [...]}) and one of its reads that resolves to a
// cache rule, with the tags the write purges (made by user-1 of `write_tenant`) and the tags the read's entry
// carries (user-1 of `read_tenant`, or user-2 when the tenants differ). A write that does not resolve to an
// invalidate rule is a failure; a read that resolves to no cache rule is skipped (nothing to purge or keep).
struct WriteRead {
  Probe w, r;
  std::string write_rule, read_rule;
  std::vector<std::string> write_segments, read_segments;
  std::set<std::string> purged, carried;
};

std::vector<WriteRead> write_reads(const rules::Rulebook& book, const YAML::Node& section,
                                   const char* reads_key, std::string_view write_tenant,
                                   std::string_view read_tenant) {
  std::vector<WriteRead> out;
  EXPECT_TRUE(section.IsSequence());
  const std::string_view read_user = read_tenant == write_tenant ? "user-1" : "user-2";
  for (const auto& family : section) {
    auto w = probe(family["write"].as<std::string>());
    auto wm = match(book, w);
    if (!wm || wm->rule->cfg.action != config::ActionKind::invalidate) {
      ADD_FAILURE() << w.text << " resolves to " << (wm ? wm->rule->cfg.name : "no rule")
                    << ", not to an invalidate rule: it would purge nothing";
      continue;
    }
    // A rule with tags from the answer is checked twice: with the answer the family gives (`answer:`, what
    // the backend answers this write) and with an answer that lacks the fields (the fallbacks).
    const bool answered = std::any_of(wm->rule->fallbacks.begin(), wm->rule->fallbacks.end(),
                                      [](const auto& f) { return f.has_value(); });
    std::vector<std::pair<std::string, YAML::Node>> answers = {{"", YAML::Node()}};
    if (answered && family["answer"])
      answers.push_back({" [answered " + YAML::Dump(family["answer"]) + "]", family["answer"]});
    for (const auto& [label, answer] : answers) {
      const auto purged = tags_of(*wm, w, write_tenant, "user-1", answer);
      Probe shown = w;
      shown.text += answered && label.empty() ? " [an answer without the fields]" : label;
      for (const auto& read : family[reads_key]) {
        auto r = probe(read.as<std::string>());
        auto rm = match(book, r);
        if (!is_cache_rule(rm)) continue;
        out.push_back({shown, r, wm->rule->cfg.name, rm->rule->cfg.name, wm->segments, rm->segments, purged,
                       tags_of(*rm, r, read_tenant, read_user)});
      }
    }
  }
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

// Verify mode (issue 15 item 4): the HEAD file samples a few hits; the GETs with side effects are never cache
// rules (never_cache, not_cached), and a cache rule whose body moves with the clock opts out.
TEST_F(OpenRiskExpectations, VerifyModeSamplesAFewHitsAndSkipsCountdowns) {
  const auto& v = loaded_.config->cache.verify;
  EXPECT_GT(v.sample, 0.0);
  EXPECT_LE(v.sample, 0.01) << "a small sample: every verify is one more backend request";
  for (const char* target : {"GET /api/v1/automation/sla", "GET /api/v1/automation/sla/stats"}) {
    auto m = match(book(), probe(target));
    ASSERT_TRUE(is_cache_rule(m)) << target;
    EXPECT_FALSE(m->rule->cfg.cache.verify) << target << ": SLA countdowns (§5.9) would always mismatch";
  }
  auto risk = match(book(), probe("GET /api/v1/risks/6f1c2b1e-0000-4000-8000-000000000001"));
  ASSERT_TRUE(is_cache_rule(risk));
  EXPECT_TRUE(risk->rule->cfg.cache.verify);
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
  for (const auto& x : write_reads(book(), expectations_["invalidation"], "purges", "tenant-1", "tenant-1")) {
    // A write also purges the cached GET of its own URI (RFC 9111 section 4.4).
    if (x.r.path == x.w.path && x.r.query == x.w.query) continue;
    EXPECT_TRUE(share_a_tag(x.carried, x.purged))
        << x.w.text << " (rule " << x.write_rule << ", purges: " << tag_list(x.purged) << ") leaves "
        << x.r.text << " (rule " << x.read_rule << ", tags: " << tag_list(x.carried) << ") stale";
  }
}

// A write made by one user of one tenant must purge reads made by another user of another tenant: the write
// changes rows every tenant shows, or an aggregate over every tenant, or carries no JWT at all.
TEST_F(OpenRiskExpectations, WritesPurgeTheReadsTheyChangeInOtherTenants) {
  for (const auto& x :
       write_reads(book(), expectations_["other_tenants"], "purges", "tenant-1", "tenant-2")) {
    EXPECT_TRUE(share_a_tag(x.carried, x.purged))
        << x.w.text << " in tenant-1 (rule " << x.write_rule << ", purges: " << tag_list(x.purged)
        << ") leaves " << x.r.text << " of tenant-2 (rule " << x.read_rule
        << ", tags: " << tag_list(x.carried) << ") stale";
  }
}

// A write whose effect stays in its tenant must not purge another tenant's entries. The daemon also purges
// the GET entries of the write's own path in every tenant (its uri: tag): that tag is counted too.
TEST_F(OpenRiskExpectations, TenantLocalWritesKeepOtherTenantsEntries) {
  for (auto x : write_reads(book(), expectations_["tenant_local"], "keeps", "tenant-1", "tenant-2")) {
    x.purged.insert("uri:" + rules::join_path(x.write_segments));
    x.carried.insert("uri:" + rules::join_path(x.read_segments));
    std::set<std::string> shared;
    for (const auto& t : x.carried)
      if (x.purged.count(t)) shared.insert(t);
    EXPECT_TRUE(shared.empty()) << x.w.text << " in tenant-1 (rule " << x.write_rule << ") purges "
                                << x.r.text << " of tenant-2 (rule " << x.read_rule
                                << ") through: " << tag_list(shared);
  }
}

// A read whose body depends on the calling user (§3.5: "me", ?mine=true, /search) is cached per user or not
// at all. A tenant, role, public or credential entry would be shared: role, for one, by every member of the
// tenant holding the same permissions and org roles, so one member would read another's rows.
TEST_F(OpenRiskExpectations, CallerDependentReadsAreCachedPerUserOrNotAtAll) {
  ASSERT_TRUE(expectations_["caller_dependent"].IsSequence());
  std::size_t cached = 0;
  for (const auto& item : expectations_["caller_dependent"]) {
    auto p = probe(item.as<std::string>());
    auto m = match(book(), p);
    if (!is_cache_rule(m)) continue;  // pass, stream, invalidate or no rule: never stored, never shared
    ++cached;
    EXPECT_EQ(m->rule->cfg.cache.scope, config::Scope::user)
        << p.text << " resolves to cache rule '" << m->rule->cfg.name << "' with scope '"
        << config::to_string(m->rule->cfg.cache.scope) << "': one caller's entry would answer another";
  }
  // Most of them are cached (notifications, ?mine=true, /search, ...): the check is not vacuous.
  EXPECT_GE(cached, 10u);
}

// A `perm x` read (§3.2) is answered 403 to a member without x: its entry is never shared with one. Scope
// role and user key on the permission set; tenant only with the rule's `permission` naming x itself (a
// member holding another permission would otherwise read it).
TEST_F(OpenRiskExpectations, PermissionGatedReadsNeverShareAnEntryWithAMemberWithoutThePermission) {
  ASSERT_TRUE(expectations_["permission_gated"].IsMap());
  std::size_t by_permission = 0;
  for (const auto& item : expectations_["permission_gated"]) {
    auto p = probe(item.first.as<std::string>());
    const auto needed = item.second.as<std::string>();
    auto m = match(book(), p);
    if (!is_cache_rule(m)) continue;
    const auto& c = m->rule->cfg.cache;
    const auto scope = std::string(config::to_string(c.scope));
    if (c.scope == config::Scope::tenant) {
      EXPECT_EQ(c.permission, needed)
          << p.text << " resolves to rule '" << m->rule->cfg.name << "' (scope tenant): a member without "
          << needed << " would read the entry";
      ++by_permission;
    } else {
      EXPECT_TRUE(c.scope == config::Scope::role || c.scope == config::Scope::user)
          << p.text << " resolves to rule '" << m->rule->cfg.name << "' with scope '" << scope << "'";
      EXPECT_TRUE(c.permission.empty()) << p.text;
    }
  }
  EXPECT_EQ(by_permission, expectations_["permission_gated"].size())
      << "every perm-gated read of the shipped rulebook shares its entry by the permission";
}

// The pairs of an expectation section ({first, second}) that both resolve to cache rules, with their keys
// (empty when the target bypasses). A target that resolves to no cache rule is a failure.
struct KeyedPair {
  Probe a, b;
  std::string rule_a, rule_b;
  std::optional<cache::CacheKey> ka, kb;
};

std::vector<KeyedPair> keyed_pairs(const rules::Rulebook& book, const YAML::Node& section) {
  std::vector<KeyedPair> out;
  EXPECT_TRUE(section.IsSequence());
  for (const auto& pair : section) {
    KeyedPair k{probe(pair["first"].as<std::string>()), probe(pair["second"].as<std::string>())};
    auto ma = match(book, k.a);
    auto mb = match(book, k.b);
    EXPECT_TRUE(is_cache_rule(ma)) << k.a.text << " does not resolve to a cache rule";
    EXPECT_TRUE(is_cache_rule(mb)) << k.b.text << " does not resolve to a cache rule";
    if (!is_cache_rule(ma) || !is_cache_rule(mb)) continue;
    k.rule_a = ma->rule->cfg.name;
    k.rule_b = mb->rule->cfg.name;
    k.ka = cache_key_of(*ma, k.a);
    k.kb = cache_key_of(*mb, k.b);
    out.push_back(std::move(k));
  }
  return out;
}

// Two spellings of one route (the backend's router ignores case) are one entry: same rule, same key.
TEST_F(OpenRiskExpectations, SpellingsOfOneRouteShareOneKey) {
  for (const auto& k : keyed_pairs(book(), expectations_["same_key"])) {
    EXPECT_EQ(k.rule_a, k.rule_b) << k.a.text << " and " << k.b.text;
    ASSERT_TRUE(k.ka && k.kb) << k.a.text << " or " << k.b.text << " bypasses";
    EXPECT_EQ(k.ka->key, k.kb->key) << k.a.text << " and " << k.b.text << ":\n"
                                    << k.ka->material << "\n"
                                    << k.kb->material;
  }
}

// Two targets that select other content must not share a cache entry: the key material built for them (one
// user, one tenant) must differ.
TEST_F(OpenRiskExpectations, TargetsThatSelectOtherContentGetOtherKeys) {
  for (const auto& k : keyed_pairs(book(), expectations_["distinct_keys"])) {
    if (!k.ka || !k.kb) continue;  // one of them bypasses the cache: never stored, so never shared
    EXPECT_NE(k.ka->key, k.kb->key) << k.a.text << " and " << k.b.text << " share one cache entry (rule "
                                    << k.rule_a << "), key material:\n"
                                    << k.ka->material;
  }
}

}  // namespace
}  // namespace orc
