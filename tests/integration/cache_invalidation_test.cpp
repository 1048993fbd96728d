// Black-box tests of read-your-writes: every write family of the shipped rulebook purges the cached reads it
// changes, and a slow fill that races with a write never plants pre-write data (simulator and scripted).
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "cache_fixture.hpp"
#include "support/paths.hpp"
#include "support/test_backend.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

// config/openrisk.yaml as shipped, with only the daemon settings changed: listen on a free port, 2 threads,
// the simulator upstream, a slower Redis command timeout (a loaded test machine), no redis section for
// memory.
// config/openrisk.yaml for a test: loopback, two threads, the simulator; its redis section kept (with a
// shorter command timeout, and `cluster_seeds` as redis.cluster when given) or removed.
std::string shipped_config(const std::string& sim_url, bool with_redis,
                           const std::string& cluster_seeds = "") {
  std::ifstream in(source_file("config/openrisk.yaml"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  EXPECT_FALSE(text.empty()) << "cannot read config/openrisk.yaml";
  auto replace = [&](const std::string& pattern, const std::string& by) {
    std::regex re(pattern, std::regex::multiline);
    EXPECT_TRUE(std::regex_search(text, re)) << "config/openrisk.yaml has no " << pattern;
    text = std::regex_replace(text, re, by, std::regex_constants::format_first_only);
  };
  replace("^listen: .*$", "listen: 127.0.0.1:0");
  replace("^threads: .*$", "threads: 2");
  replace(R"(^(upstream:\n(?:  #.*\n)*)  url: .*$)", "$1  url: " + sim_url);
  if (with_redis) {
    replace(R"(^(redis:\n(?:  .*\n)*?)  command_timeout: .*$)", "$1  command_timeout: 200ms");
    if (!cluster_seeds.empty())
      replace(R"(^(redis:\n(?:  .*\n)*?  url: .*$))", "$1\n  cluster: \"" + cluster_seeds + "\"");
  } else
    replace(R"(^redis:\n(?:  .*\n)*)", "");
  text += "\nadmin: { listen: 127.0.0.1:0, token: rulebook-test-admin-token }\n";  // for metric_of
  return text;
}

bool is_2xx(const HttpResponse& r) {
  return r.status >= 200 && r.status < 300;
}

// The shipped rulebook between a client and the simulator; every test logs in as Acme's admin.
class CacheRulebookTest : public CacheStorageTest {
 protected:
  void SetUp() override {
    ASSERT_NO_THROW(start_sim());
    if (use_redis()) {
      ASSERT_NO_THROW(start_redis());
    }
    std::vector<std::string> env = {"ORC_JWT_PUBLIC_KEY_FILE=" + sim_->key_path(),
                                    "ORC_KEY_SECRET=test-secret"};
    if (redis_) env.push_back("ORC_REDIS_URL=" + redis_->url() + "/0");
    if (redis_cluster_) env.push_back("ORC_REDIS_URL=" + redis_cluster_->node(0).url());
    ASSERT_NE(
        start_proxy(shipped_config(sim_->url(), use_redis(), redis_cluster_ ? redis_cluster_->seeds() : ""),
                    env),
        nullptr);
    token_ = sim_login(sim_port(), "admin@acme.test");
    risk_ = sim_sample_risks(sim_port(), 0).at(0);
  }

  // Creates a plan with two sub-actions on risk_ straight on the simulator (the proxy does not see it).
  void create_plan() {
    HttpResponse r = http(sim_port(), "POST", "/api/v1/risks/" + risk_ + "/mitigations", bearer(token_),
                          R"({"title":"plan-by-test","sub_actions":["first step","second step"]})");
    ASSERT_EQ(r.status, 201) << r.describe();
    plan_ = json_string(r.body, "id");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.body, m, std::regex(R"re("sub_actions":\[\{"id":"([^"]+)")re")))
        << r.body;
    sub_action_ = m[1];
  }

  // Reads every target twice through the proxy (the second must be a HIT). The body may not change with
  // every write (a title does not change /stats); X-Sim-Version always does, so it tells pre- from
  // post-write.
  void prime(const std::vector<std::string>& reads) {
    for (const auto& target : reads) {
      HttpResponse first = get(target, token_);
      EXPECT_EQ(first.status, 200) << target << "\n" << first.describe();
      HttpResponse hit = get(target, token_);
      EXPECT_EQ(x_cache(hit), "HIT") << "not cached, the test proves nothing for " << target << "\n"
                                     << hit.describe();
    }
  }

  // Primes `reads`, sends the write through the proxy, and reads again: none may be pre-write data.
  HttpResponse write_then_read(const std::vector<std::string>& reads, const std::string& method,
                               const std::string& target, const std::string& body,
                               std::map<std::string, HttpResponse>* after = nullptr) {
    prime(reads);
    HttpResponse w = through(0, method, target, bearer(token_), body);
    EXPECT_TRUE(is_2xx(w)) << method << " " << target << "\n" << w.describe();
    EXPECT_EQ(x_cache(w), "BYPASS") << w.describe();
    const std::uint64_t written = sim_version(w);
    for (const auto& read : reads) {
      HttpResponse r = get(read, token_);
      EXPECT_GE(sim_version(r), written)
          << "pre-write data for GET " << read << " after " << method << " " << target << "\n"
          << r.describe();
      EXPECT_NE(x_cache(r), "HIT") << "GET " << read << " after " << method << " " << target << "\n"
                                   << r.describe();
      if (after != nullptr) (*after)[read] = r;
    }
    return w;
  }

  std::string token_;
  std::string risk_;
  std::string plan_;
  std::string sub_action_;
};

TEST_P(CacheRulebookTest, RiskPatchPurgesRiskReads) {
  const std::string detail = "/api/v1/risks/" + risk_;
  std::map<std::string, HttpResponse> after;
  write_then_read(
      {detail, "/api/v1/risks?limit=5", "/api/v1/assets", detail + "/mitigations", "/api/v1/mitigations"},
      "PATCH", detail, R"({"title":"patched-by-cache-test"})", &after);
  EXPECT_NE(after[detail].body.find("patched-by-cache-test"), std::string::npos);
}

// Issue 17: the counting views (risk-counts) stay cached across an edit of a risk's title, description or
// tags, which moves no count, and are purged by an edit of anything else (status, impact, probability).
// A write whose client broke off its body (a Content-Length it never sent whole, then a close). Within
// limits.request_buffer (16 KiB) the body never reached the backend: nothing is purged, whoever sent it.
// A longer one streams, and reached the backend as part of a request. OpenRisk's Fiber reads a body whole
// before its handler runs, so it never acted on it; a backend that streams the body into its handler might
// have. Such a write purges for a caller whose JWT verified, and never for an anonymous one: a probe emptied
// every tenant's cached list of a path by aborting anonymous writes to it.
TEST_P(CacheRulebookTest, ABrokenOffWritePurgesOnlyForAVerifiedCaller) {
  const std::string detail = "/api/v1/risks/" + risk_;
  prime({detail});
  const auto broken_off = [&](const std::string& fields, std::size_t length = 100000) {
    const std::string head =
        "PATCH " + detail + " HTTP/1.1\r\nHost: test.local\r\nContent-Type: application/json\r\n" + fields;
    RawClient client(proxy_port());
    ASSERT_TRUE(client.connected()) << client.error();
    ASSERT_TRUE(client.send(head + "Content-Length: " + std::to_string(length) +
                            "\r\n\r\n{\"title\":\"never whole\"}"));
    client.shutdown_write();
    HttpResponse r = client.read_response();
    EXPECT_EQ(r.status, 400) << r.describe();
    // Its access line is written once the exchange, purge included, is over.
    const auto id = r.headers.get("X-Request-ID");
    ASSERT_TRUE(id) << r.describe();
    ASSERT_TRUE(proxies_.at(0)->wait_for_log("id=" + std::string(*id))) << proxies_.at(0)->stderr_text();
  };
  broken_off("");
  EXPECT_EQ(x_cache(get(detail, token_)), "HIT") << "an anonymous broken-off write purged";
  broken_off("Authorization: Bearer " + token_ + "\r\n", 100);
  EXPECT_EQ(x_cache(get(detail, token_)), "HIT") << "a small broken-off write, which never reached the "
                                                    "backend, purged";
  broken_off("Authorization: Bearer " + token_ + "\r\n");
  EXPECT_NE(x_cache(get(detail, token_)), "HIT") << "a verified caller's broken-off write did not purge";
}

TEST_P(CacheRulebookTest, RiskEditsPurgeTheCountsOnlyWhenACountMayMove) {
  const std::string detail = "/api/v1/risks/" + risk_;
  const std::vector<std::string> counts = {"/api/v1/stats", "/api/v1/stats/risk-matrix",
                                           "/api/v1/stats/trends"};
  prime(counts);
  const std::string stats_before = get("/api/v1/stats", token_).body;
  const auto skipped = [&] {
    return metric_of(*proxies_.at(0), R"(openrisk_cache_purges_skipped_total{rule="risk-patch"})")
        .value_or(0);
  };
  HttpResponse w = through(0, "PATCH", detail, bearer(token_),
                           R"({"title":"renamed-by-cache-test","description":"d","tags":["t"]})");
  ASSERT_TRUE(is_2xx(w)) << w.describe();
  EXPECT_EQ(skipped(), 1) << "the skipped purge of risk-counts was not counted";
  HttpResponse stats = get("/api/v1/stats", token_);
  EXPECT_EQ(x_cache(stats), "HIT") << "a title, description and tags edit purged the counts\n"
                                   << stats.describe();
  // What the cache keeps is what the backend answers now: the edit moved no count.
  HttpResponse direct = http(sim_port(), "GET", "/api/v1/stats", bearer(token_));
  EXPECT_EQ(stats.body, direct.body) << "the counts changed after all: the condition is wrong for /stats";
  EXPECT_EQ(stats.body, stats_before);
  // The risk's own views and the lists are purged whatever the body says.
  EXPECT_NE(get(detail, token_).body.find("renamed-by-cache-test"), std::string::npos);

  for (const char* body : {R"({"status":"MITIGATED"})", R"({"title":"x","impact":5,"probability":5})"}) {
    std::map<std::string, HttpResponse> after;
    write_then_read(counts, "PATCH", detail, body, &after);
  }
  EXPECT_EQ(skipped(), 1) << "a purge that happened was counted as skipped";
}

// A chunked write whose purge depends on its body (risk-patch's unless_body_only) reaches the backend whole:
// read within limits.request_buffer, it leaves with its length, and the flow reads the same body for the
// condition (found by a probe: the body moved to the kept copy before its length was taken, and the write
// left with Content-Length: 0, its body then read as the next request).
TEST_P(CacheRulebookTest, AChunkedConditionalWriteReachesTheBackendWhole) {
  const std::string detail = "/api/v1/risks/" + risk_;
  prime({"/api/v1/stats", detail});
  const auto skipped = [&] {
    return metric_of(*proxies_.at(0), R"(openrisk_cache_purges_skipped_total{rule="risk-patch"})")
        .value_or(0);
  };
  HeaderList h = bearer(token_);
  h.add("Content-Type", "application/json");
  h.add("Transfer-Encoding", "chunked");
  HttpResponse w = through(0, "PATCH", detail, h,
                           make_chunk(R"({"title":"chunked-)") + make_chunk(R"(rename"})") + "0\r\n\r\n");
  ASSERT_TRUE(is_2xx(w)) << w.describe();
  EXPECT_EQ(skipped(), 1) << "the condition did not read the title-only body";
  EXPECT_EQ(x_cache(get("/api/v1/stats", token_)), "HIT");
  EXPECT_NE(get(detail, token_).body.find("chunked-rename"), std::string::npos);
  HttpResponse direct = http(sim_port(), "GET", detail, bearer(token_));
  EXPECT_NE(direct.body.find("chunked-rename"), std::string::npos) << direct.describe();
}

// The backend routes paths in any case (Fiber's default; shared/openrisk-api.md section 11), and so does the
// shipped rulebook (routing.case_insensitive): a read spelled in capitals is the entry of the rule's
// spelling, and a write spelled in capitals purges what the same write in lower case purges.
TEST_P(CacheRulebookTest, PathsInAnyCaseShareEntriesAndPurges) {
  const std::string detail = "/api/v1/risks/" + risk_;
  prime({detail});
  HttpResponse shouted = get("/API/V1/RISKS/" + risk_, token_);
  EXPECT_EQ(shouted.status, 200) << shouted.describe();
  EXPECT_EQ(x_cache(shouted), "HIT") << shouted.describe();
  EXPECT_EQ(sim_route_count(sim_port(), "GET /api/v1/risks/:id"), 1);

  std::map<std::string, HttpResponse> after;
  write_then_read({detail, "/api/v1/risks?limit=5"}, "PATCH", "/Api/V1/Risks/" + risk_,
                  R"({"title":"patched-in-capitals"})", &after);
  EXPECT_NE(after[detail].body.find("patched-in-capitals"), std::string::npos) << after[detail].describe();
}

TEST_P(CacheRulebookTest, RiskCreatePurgesRiskLists) {
  std::map<std::string, HttpResponse> after;
  write_then_read({"/api/v1/risks?limit=5", "/api/v1/stats", "/api/v1/assets"}, "POST", "/api/v1/risks",
                  R"({"title":"created-by-cache-test","impact":3,"probability":3})", &after);
  EXPECT_NE(after["/api/v1/risks?limit=5"].body.find("created-by-cache-test"), std::string::npos);
}

// A read of an id before the risk existed is a 404, kept a minute; the create that makes that id purges it
// (`{answer.id}`; found by a probe). The simulator's ids are the same after every reset: a risk created
// straight on it shows the id the next create will get.
TEST_P(CacheRulebookTest, RiskCreatePurgesAReadOfItsIdFromBeforeIt) {
  const std::string body = R"({"title":"created-by-cache-test","impact":3,"probability":3})";
  HttpResponse probe = http(sim_port(), "POST", "/api/v1/risks", bearer(token_), body);
  ASSERT_EQ(probe.status, 201) << probe.describe();
  const std::string id = json_string(probe.body, "id");
  ASSERT_FALSE(id.empty()) << probe.body;
  ASSERT_EQ(http(sim_port(), "POST", "/__sim/reset").status, 200);
  const std::string detail = "/api/v1/risks/" + id;
  ASSERT_EQ(get(detail, token_).status, 404);
  HttpResponse cached = get(detail, token_);
  ASSERT_EQ(cached.status, 404) << cached.describe();
  ASSERT_EQ(x_cache(cached), "HIT") << "the 404 is not cached: the test proves nothing\n"
                                    << cached.describe();
  HttpResponse created = through(0, "POST", "/api/v1/risks", bearer(token_), body);
  ASSERT_EQ(created.status, 201) << created.describe();
  ASSERT_EQ(json_string(created.body, "id"), id) << "the simulator gave another id after its reset";
  HttpResponse after = get(detail, token_);
  EXPECT_EQ(after.status, 200) << "the 404 from before the create outlived it\n" << after.describe();
}

// The risk list's filters, in the backend's spellings and in the simulator's (search, severity, sort), each
// select an entry of their own: a list is never answered with another filter's (or the plain list's) entry.
// Filtered lists first, so that a key missing a filter would plant them where the plain list is read.
TEST_P(CacheRulebookTest, EveryFilterOfTheRiskListHasItsOwnEntry) {
  const std::vector<std::string> lists = {"/api/v1/risks?search=zzzz-no-match",
                                          "/api/v1/risks?q=zzzz-no-match",
                                          "/api/v1/risks?severity=LOW",
                                          "/api/v1/risks?sort=title",
                                          "/api/v1/risks?mine=true&search=zzzz-no-match",
                                          "/api/v1/risks?mine=true",
                                          "/api/v1/risks"};
  for (const char* pass : {"filled", "hit"}) {
    for (const auto& target : lists) {
      HttpResponse proxied = get(target, token_);
      HttpResponse direct = http(sim_port(), "GET", target, bearer(token_));
      ASSERT_EQ(direct.status, 200) << target << "\n" << direct.describe();
      EXPECT_EQ(proxied.body, direct.body) << target << " (" << pass << ")\n" << proxied.describe();
      if (std::string_view(pass) == "hit") {
        EXPECT_EQ(x_cache(proxied), "HIT") << target;
      }
    }
  }
}

// The access cookie in any Cookie line: the proxy keys the request on the cookie the backend (fasthttp, and
// the simulator like it) reads, the first or_access of every line, so a hit goes to a caller the backend
// answers 200 and a forged first cookie bypasses to the backend's 401.
TEST_P(CacheRulebookTest, TheAccessCookieOfAnyCookieLineIsTheOneTheBackendReads) {
  prime({"/api/v1/stats"});
  HeaderList second_line;
  second_line.add("Cookie", "theme=dark");
  second_line.add("Cookie", "or_access=" + token_);
  HttpResponse hit = through(0, "GET", "/api/v1/stats", second_line);
  EXPECT_EQ(hit.status, 200) << hit.describe();
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
  EXPECT_EQ(http(sim_port(), "GET", "/api/v1/stats", second_line).status, 200);

  HeaderList forged_first;
  forged_first.add("Cookie", "or_access=forged");
  forged_first.add("Cookie", "or_access=" + token_);
  HttpResponse refused = through(0, "GET", "/api/v1/stats", forged_first);
  EXPECT_EQ(refused.status, 401) << refused.describe();
  EXPECT_EQ(http(sim_port(), "GET", "/api/v1/stats", forged_first).status, 401);
}

TEST_P(CacheRulebookTest, RiskDeletePurgesTheDetail) {
  const std::string detail = "/api/v1/risks/" + risk_;
  std::map<std::string, HttpResponse> after;
  write_then_read({detail, "/api/v1/risks?limit=5", "/api/v1/mitigations"}, "DELETE", detail, "", &after);
  EXPECT_EQ(after[detail].status, 404) << after[detail].describe();
}

TEST_P(CacheRulebookTest, MitigationPatchPurgesPlanAndRiskReads) {
  ASSERT_NO_FATAL_FAILURE(create_plan());
  const std::string plan = "/api/v1/mitigations/" + plan_;
  std::map<std::string, HttpResponse> after;
  write_then_read({plan, "/api/v1/mitigations", "/api/v1/risks/" + risk_ + "/mitigations",
                   "/api/v1/risks/" + risk_, "/api/v1/stats/mitigation-metrics", "/api/v1/risks?limit=5"},
                  "PATCH", plan, R"({"title":"plan-patched-by-cache-test"})", &after);
  EXPECT_NE(after[plan].body.find("plan-patched-by-cache-test"), std::string::npos);
  EXPECT_NE(after["/api/v1/risks/" + risk_].body.find("plan-patched-by-cache-test"), std::string::npos);
}

TEST_P(CacheRulebookTest, MitigationCreateOnARiskPurgesItsPlans) {
  std::map<std::string, HttpResponse> after;
  const std::string plans = "/api/v1/risks/" + risk_ + "/mitigations";
  write_then_read(
      {plans, "/api/v1/mitigations", "/api/v1/risks/" + risk_, "/api/v1/stats/mitigation-metrics"}, "POST",
      plans, R"({"title":"plan-created-by-cache-test"})", &after);
  EXPECT_NE(after[plans].body.find("plan-created-by-cache-test"), std::string::npos);
}

TEST_P(CacheRulebookTest, MitigationDeletePurgesThePlan) {
  ASSERT_NO_FATAL_FAILURE(create_plan());
  const std::string plan = "/api/v1/mitigations/" + plan_;
  std::map<std::string, HttpResponse> after;
  write_then_read({plan, "/api/v1/mitigations", "/api/v1/risks/" + risk_ + "/mitigations"}, "DELETE", plan,
                  "", &after);
  EXPECT_EQ(after[plan].status, 404) << after[plan].describe();
}

TEST_P(CacheRulebookTest, SubActionWritesPurgeThePlanAndItsRisk) {
  ASSERT_NO_FATAL_FAILURE(create_plan());
  const std::string plan = "/api/v1/mitigations/" + plan_;
  const std::string sub = plan + "/sub-actions/" + sub_action_;
  const std::vector<std::string> reads = {plan, "/api/v1/mitigations", "/api/v1/risks/" + risk_,
                                          "/api/v1/risks/" + risk_ + "/mitigations"};
  const std::vector<std::tuple<std::string, std::string, std::string>> writes = {
      {"POST", plan + "/sub-actions", R"({"title":"third step"})"},
      {"PATCH", sub, R"({"title":"first step renamed"})"},
      {"POST", sub + "/complete", ""},
      {"POST", sub + "/revert", ""},
      {"DELETE", sub, ""},
  };
  for (const auto& [method, target, body] : writes) {
    SCOPED_TRACE(method + " " + target);
    write_then_read(reads, method, target, body);
  }
}

// Issue 17: a plan or sub-action write purges the views of the risk its answer (the plan) names by risk_id,
// and leaves another risk's cached; a write whose answer does not name it (a DELETE's 204) purges every
// risk's views (the fallback, risk-details), and is counted.
TEST_P(CacheRulebookTest, SubActionWritesPurgeTheRiskTheirAnswerNamesElseEveryRisk) {
  ASSERT_NO_FATAL_FAILURE(create_plan());
  const auto risks = sim_sample_risks(sim_port(), 0);
  ASSERT_GE(risks.size(), 2u);
  const std::string other = "/api/v1/risks/" + (risks[0] == risk_ ? risks[1] : risks[0]);
  const std::string mine = "/api/v1/risks/" + risk_;
  const std::string sub = "/api/v1/mitigations/" + plan_ + "/sub-actions/" + sub_action_;

  prime({other, mine});
  HttpResponse done = through(0, "POST", sub + "/complete", bearer(token_), "");
  ASSERT_TRUE(is_2xx(done)) << done.describe();
  ASSERT_NE(done.body.find(R"("risk_id":")" + risk_ + "\""), std::string::npos)
      << "the simulator's answer does not name the plan's risk: the test proves nothing\n"
      << done.body;
  HttpResponse after = get(mine, token_);
  EXPECT_NE(x_cache(after), "HIT") << after.describe();
  EXPECT_GE(sim_version(after), sim_version(done)) << "pre-write data for the plan's risk";
  EXPECT_EQ(x_cache(get(other, token_)), "HIT")
      << "the answer named another risk, yet " << other << " was purged";
  EXPECT_EQ(metric_of(*proxies_.at(0), R"(openrisk_cache_purge_fallbacks_total{rule="mitigation-write"})"),
            0.0)
      << "the rule's series starts at 0";

  prime({other, mine});
  HttpResponse deleted = through(0, "DELETE", sub, bearer(token_), "");
  ASSERT_EQ(deleted.status, 204) << deleted.describe();
  for (const auto& read : {mine, other}) {
    HttpResponse r = get(read, token_);
    EXPECT_NE(x_cache(r), "HIT") << "a 204 names no risk: every risk's views go\n" << r.describe();
    EXPECT_GE(sim_version(r), sim_version(deleted));
  }
  EXPECT_EQ(metric_of(*proxies_.at(0), R"(openrisk_cache_purge_fallbacks_total{rule="mitigation-write"})"),
            1.0);
}

TEST_P(CacheRulebookTest, AssetCreatePurgesAssetAndRiskReads) {
  std::map<std::string, HttpResponse> after;
  write_then_read({"/api/v1/assets", "/api/v1/risks?limit=5", "/api/v1/risks/" + risk_, "/api/v1/stats"},
                  "POST", "/api/v1/assets", R"({"name":"asset-by-cache-test","type":"server"})", &after);
  EXPECT_NE(after["/api/v1/assets"].body.find("asset-by-cache-test"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Storages, CacheRulebookTest,
                         ::testing::Values(Storage::memory, Storage::redis, Storage::redis_cluster),
                         storage_name);

// ---- the fill / write race
// ----------------------------------------------------------------------------------

class CacheRaceTest : public CacheStorageTest {};

TEST_P(CacheRaceTest, WriteDuringSlowFillIsNotHiddenBySimulatorRead) {
  // Reads take 600 ms in the simulator, writes are not slowed: the PATCH completes while the GET is pending.
  ASSERT_NO_FATAL_FAILURE(start_all(kSimRules, {"--class-latency", "read=600ms"}));
  const std::string token = sim_login(sim_port(), "admin@acme.test");
  const std::string target = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(3);
  const std::string route = "GET /api/v1/risks/:id";

  HttpResponse slow;
  std::thread reader([&] { slow = get(target, token); });
  // The GET has reached the simulator (counted on arrival, before its latency).
  bool arrived = poll_until([&] { return sim_route_count(sim_port(), route) == 1; }, deadline_in(10s));
  HttpResponse write;
  if (arrived) write = through(0, "PATCH", target, bearer(token), R"({"title":"written-during-fill"})");
  reader.join();
  ASSERT_TRUE(arrived) << "the slow GET never reached the simulator";
  ASSERT_EQ(write.status, 200) << write.describe();
  ASSERT_EQ(slow.status, 200) << slow.describe();
  const std::uint64_t written = sim_version(write);

  for (int i = 0; i < 2; ++i) {  // the entry (if any) and a second look at it
    HttpResponse next = get(target, token);
    ASSERT_EQ(next.status, 200) << next.describe();
    EXPECT_GE(sim_version(next), written) << "pre-write data after the write\n" << next.describe();
    EXPECT_NE(next.body.find("written-during-fill"), std::string::npos) << next.describe();
  }
}

// /items cached under `scope` (tenant: the simulator signs the tokens; the scripted backend ignores them),
// purged by its writes.
std::string scripted_race_rules(std::string_view scope) {
  return R"(rules:
  - name: items
    match: { method: GET, path: /items }
    cache: { ttl: 5m, scope: )" +
         std::string(scope) + R"(, tags: ["items"] }
  - name: items-write
    match: { method: [POST, PATCH], path: /items }
    invalidate: ["items"]
  - name: warmup
    match: { method: GET, path: /warmup }
    cache: { ttl: 1s, scope: public }
)";
}

// The scripted backend makes the race exact: the GET's body is read before the write, and is sent only after
// the write's response (and purge) reached the client.
class CacheScriptedRaceTest : public CacheStorageTest {
 protected:
  void SetUp() override { start(scripted_race_rules("public")); }
  void start(const std::string& rules) {
    backend_.set_handler([this](const BackendRequest& req, ResponseWriter& w) {
      if (req.method == "PATCH") {
        w.update([&] { ++version_; });
        w.respond(200, "patched");
        return;
      }
      int seen = 0;
      bool first = false;
      w.update([&] {
        seen = version_;
        first = req.target == "/items" && !get_arrived_;
        if (first) get_arrived_ = true;
      });
      if (req.target == "/items") w.update([&] { ++gets_; });
      if (first) w.wait_until([&] { return release_get_; }, deadline_in(20s));
      w.respond(200, "version=" + std::to_string(seen));
    });
    if (use_redis()) {
      ASSERT_NO_THROW(start_redis());
    }
    ASSERT_NE(start_proxy(config_yaml(rules, use_redis(), "", backend_.url()), {}, "/warmup"), nullptr);
  }
  void TearDown() override { CacheStorageTest::TearDown(); }  // the daemons go before the backend

  // A GET of /items that reads version 0, held until a PATCH through the proxy has completed.
  void race() {
    HttpResponse slow;
    std::thread reader([&] { slow = through(0, "GET", "/items"); });
    bool arrived = backend_.wait_until([&] { return get_arrived_; }, deadline_in(10s));
    HttpResponse write;
    if (arrived) write = through(0, "PATCH", "/items", {}, R"({"x":1})");
    backend_.update([&] { release_get_ = true; });
    reader.join();
    ASSERT_TRUE(arrived) << "the GET never reached the backend";
    ASSERT_EQ(write.status, 200) << write.describe();
    EXPECT_EQ(slow.status, 200) << slow.describe();
    EXPECT_EQ(slow.body, "version=0") << "the GET that started before the write sees pre-write data";
  }

  // A GET of /items by `writer` that reads version 0 and is held; a PATCH by `writer` completes; then a GET
  // by `reader` (the same key: the writer, or another user of the tenant). That read starts after the write
  // and must not be handed the held GET's pre-write answer: it asks the backend itself. The held GET is
  // released only once that read reached the backend (or 10 s passed: then it waited for the held fetch).
  void read_after_write(const HeaderList& writer, const HeaderList& reader) {
    HttpResponse slow, write, next;
    std::thread first([&] { slow = through(0, "GET", "/items", writer); });
    bool arrived = backend_.wait_until([&] { return get_arrived_; }, deadline_in(10s));
    bool fetched = false;
    std::thread second;
    if (arrived) {
      write = through(0, "PATCH", "/items", writer, R"({"x":1})");
      second = std::thread([&] { next = through(0, "GET", "/items", reader); });
      fetched = backend_.wait_until([&] { return gets_ >= 2; }, deadline_in(10s));
    }
    backend_.update([&] { release_get_ = true; });
    first.join();
    if (second.joinable()) second.join();
    ASSERT_TRUE(arrived) << "the GET never reached the backend";
    ASSERT_EQ(write.status, 200) << write.describe();
    EXPECT_EQ(slow.body, "version=0") << slow.describe();
    EXPECT_TRUE(fetched) << "the read after the write joined the fetch from before it";
    EXPECT_EQ(next.status, 200) << next.describe();
    EXPECT_EQ(next.body, "version=1") << "pre-write data after the write\n" << next.describe();
    EXPECT_EQ(header(next, "Cache-Status").find("collapsed"), std::string::npos) << next.describe();
    // The read after the write filled the entry: the next one is a hit with post-write data.
    HttpResponse hit = get_expecting_hit(reader);
    EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
    EXPECT_EQ(hit.body, "version=1") << hit.describe();
  }

  // GET /items through proxy 0 where the entry should be a hit. On a loaded machine Redis may not answer the
  // write's purge within command_timeout: the daemon logs it, owes the purge and bypasses its tags
  // (Cache-Status detail purge-pending), as it should, until a request finds Redis back and replays it
  // (docs/operations.md, OpenRiskCacheRedisUnreachable). Then this reads until a request is no longer held
  // back (the replay, then its fill), and returns the read after it; any other answer is returned as it is.
  HttpResponse get_expecting_hit(const HeaderList& headers = {}) {
    auto purge_pending = [](const HttpResponse& r) {
      return x_cache(r) == "BYPASS" && header(r, "Cache-Status").find("purge-pending") != std::string::npos;
    };
    HttpResponse r = through(0, "GET", "/items", headers);
    if (!purge_pending(r)) return r;
    EXPECT_TRUE(poll_until(
        [&] {
          r = through(0, "GET", "/items", headers);
          return !purge_pending(r);
        },
        deadline_in(10s)))
        << "the owed purge was never replayed";
    EXPECT_EQ(r.body, "version=1") << r.describe();
    return through(0, "GET", "/items", headers);
  }

  int version_ = 0;  // these four under the backend's lock
  int gets_ = 0;
  bool get_arrived_ = false;
  bool release_get_ = false;
  TestBackend backend_;
};

TEST_P(CacheScriptedRaceTest, FillThatRacedWithAWriteIsNotStored) {
  ASSERT_NO_FATAL_FAILURE(race());
  HttpResponse next = through(0, "GET", "/items");
  EXPECT_EQ(next.status, 200) << next.describe();
  EXPECT_EQ(next.body, "version=1") << "the racing fill planted pre-write data\n" << next.describe();
  EXPECT_NE(x_cache(next), "HIT") << next.describe();
}

TEST_P(CacheScriptedRaceTest, KeyIsCachedAgainRightAfterARefusedFill) {
  ASSERT_NO_FATAL_FAILURE(race());
  HttpResponse next = through(0, "GET", "/items");
  ASSERT_EQ(next.body, "version=1") << next.describe();
  HttpResponse again = get_expecting_hit();
  EXPECT_EQ(again.body, "version=1") << again.describe();
  EXPECT_EQ(x_cache(again), "HIT") << "the post-write response (a plain storable 200) was not cached\n"
                                   << again.describe();
}

TEST_P(CacheScriptedRaceTest, ReadAfterAWriteNeverJoinsAFetchFromBeforeIt) {
  ASSERT_NO_FATAL_FAILURE(read_after_write({}, {}));
}

// Keyed on the tenant: the writer's own next read, and a colleague's, share the held GET's key.
class CacheTenantRaceTest : public CacheScriptedRaceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_THROW(start_sim());  // signs the tokens the proxy verifies
    start(scripted_race_rules("tenant"));
  }
};

TEST_P(CacheTenantRaceTest, WritersNextReadNeverJoinsAFetchFromBeforeTheWrite) {
  const auto writer = bearer(sim_login(sim_port(), "admin@acme.test"));
  ASSERT_NO_FATAL_FAILURE(read_after_write(writer, writer));
}

TEST_P(CacheTenantRaceTest, ColleaguesNextReadNeverJoinsAFetchFromBeforeTheWrite) {
  const auto writer = bearer(sim_login(sim_port(), "admin@acme.test"));
  const auto colleague = bearer(sim_login(sim_port(), "analyst@acme.test"));
  ASSERT_NO_FATAL_FAILURE(read_after_write(writer, colleague));
}

INSTANTIATE_TEST_SUITE_P(Storages, CacheTenantRaceTest,
                         ::testing::Values(Storage::memory, Storage::redis, Storage::redis_cluster),
                         storage_name);

INSTANTIATE_TEST_SUITE_P(Storages, CacheScriptedRaceTest,
                         ::testing::Values(Storage::memory, Storage::redis, Storage::redis_cluster),
                         storage_name);

INSTANTIATE_TEST_SUITE_P(Storages, CacheRaceTest,
                         ::testing::Values(Storage::memory, Storage::redis, Storage::redis_cluster),
                         storage_name);

}  // namespace
}  // namespace orc::test
