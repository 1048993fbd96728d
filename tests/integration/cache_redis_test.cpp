// Black-box tests of the shared Redis storage: the proxy fails open while Redis is gone and resumes hitting
// once it is back, and two proxy instances share entries and purges.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>

#include "cache_fixture.hpp"
#include "support/daemon_process.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

class CacheRedisTest : public CacheTest {
 protected:
  void SetUp() override {
    ASSERT_NO_THROW(start_sim());
    ASSERT_NO_THROW(start_redis());
    token_ = sim_login(sim_port(), "admin@acme.test");
    detail_ = "/api/v1/risks/" + sim_sample_risks(sim_port(), 0).at(0);
  }

  // Two daemons sharing this test's Redis (proxies 0 and 1), each with its L1 on (subscribed).
  void start_two_with_l1(DaemonProcess*& a, DaemonProcess*& b);
  // PATCHes detail_'s title to `title` through proxy 0; proxy 1 must serve the written version within 5 s
  // (its L1, if it holds the entry, hears of the purge).
  void write_through_a_reaches_b(const std::string& title);
  // Pauses Redis's writes (CLIENT PAUSE WRITE: reads still work) and PATCHes detail_'s title through proxy 0,
  // `a`: the backend accepts it and its purge fails (logged). Returns the simulator's version after the
  // write, 0 on a failure (each reported). Redis stays paused.
  std::uint64_t write_with_a_failed_purge(DaemonProcess& a, const std::string& title) {
    EXPECT_EQ(redis_command(redis_->port(), {"CLIENT", "PAUSE", "60000", "WRITE"}), "+OK");
    HttpResponse write = through(0, "PATCH", detail_, bearer(token_), R"({"title":")" + title + R"("})");
    EXPECT_EQ(write.status, 200) << write.describe();
    EXPECT_TRUE(a.wait_for_log("purge of .* failed", deadline_in(10s))) << a.stderr_text();
    return write.status == 200 ? sim_version(write) : 0;
  }
  // Two daemons without the L1 sharing this test's Redis (A: proxy 0, B: proxy 1), and detail_ a HIT through
  // B. Returns A (null on a failure) and the simulator's version B served.
  std::pair<DaemonProcess*, std::uint64_t> two_with_a_hit_on_b() {
    l1_ = false;
    const std::string yaml = config_yaml(kSimRules, true);
    DaemonProcess* a = start_proxy(yaml);
    if (a == nullptr || start_proxy(yaml) == nullptr) return {nullptr, 0};
    EXPECT_EQ(x_cache(get(detail_, token_, 1)), "MISS");
    HttpResponse hit = get(detail_, token_, 1);
    EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
    return {x_cache(hit) == "HIT" ? a : nullptr, sim_version(hit)};
  }

  std::string token_;
  std::string detail_;
};

double metric_now(DaemonProcess& proxy, std::string_view series) {
  return metric_of(proxy, series).value_or(-1);
}

// Polls `series` until `want` returns true for its value.
bool wait_metric(DaemonProcess& proxy, std::string_view series, const std::function<bool(double)>& want) {
  return poll_until(
      [&] {
        auto v = metric_of(proxy, series);
        return v && want(*v);
      },
      deadline_in(20s));
}

// How many GETs Redis ran since the last CONFIG RESETSTAT (INFO commandstats).
long redis_gets(std::uint16_t port) {
  auto reply = redis_command(port, {"EVAL",
                                    "local s = redis.call('INFO', 'commandstats') "
                                    "return tonumber(string.match(s, 'cmdstat_get:calls=(%d+)') or '0')",
                                    "0"});
  return reply && reply->size() > 1 && (*reply)[0] == ':' ? std::stol(reply->substr(1)) : -1;
}

TEST_F(CacheRedisTest, RedisOutageFailsOpenAndHitsResumeAfterRestart) {
  DaemonProcess* proxy = start_proxy(config_yaml(kSimRules, true));
  ASSERT_NE(proxy, nullptr);
  ASSERT_EQ(get(detail_, token_).status, 200);
  HttpResponse hit = get(detail_, token_);
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();

  redis_->stop();
  // The L1 goes off as soon as its listener sees the reset (until then a hit may still come from memory).
  ASSERT_TRUE(wait_metric(*proxy, "openrisk_cache_l1_up", [](double v) { return v == 0; }));
  for (int i = 0; i < 3; ++i) {
    HttpResponse r = get(detail_, token_);
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_TRUE(x_cache(r) == "BYPASS" || x_cache(r) == "MISS") << r.describe();
    HttpResponse list = get("/api/v1/risks?limit=2", token_);
    EXPECT_EQ(list.status, 200) << list.describe();
    EXPECT_TRUE(x_cache(list) == "BYPASS" || x_cache(list) == "MISS") << list.describe();
  }
  HttpResponse write = through(0, "PATCH", detail_, bearer(token_), R"({"title":"written-without-redis"})");
  EXPECT_EQ(write.status, 200) << write.describe();
  const std::uint64_t written = sim_version(write);
  HttpResponse after_write = get(detail_, token_);
  EXPECT_EQ(after_write.status, 200) << after_write.describe();
  EXPECT_GE(sim_version(after_write), written) << after_write.describe();

  ASSERT_NO_THROW(redis_->start());  // same port, empty
  HttpResponse r;
  EXPECT_TRUE(poll_until(
      [&] {
        r = get(detail_, token_);
        EXPECT_EQ(r.status, 200) << r.describe();
        return x_cache(r) == "HIT";
      },
      deadline_in(30s)))
      << "no HIT after Redis came back; last:\n"
      << r.describe();
  EXPECT_GE(sim_version(r), written) << r.describe();
  EXPECT_NE(r.body.find("written-without-redis"), std::string::npos);
  EXPECT_TRUE(proxy->running());
}

// A write's purge fails while reads still work (Redis refuses writes: CLIENT PAUSE WRITE makes the purge
// script wait past the 200 ms command timeout). The pre-write entry must not be served: reads of the purged
// tags bypass until the purge is replayed, then the cache serves post-write data again. (Found by the soak:
// one worker's purge failed while another already filled after a Redis restart.)
TEST_F(CacheRedisTest, FailedPurgeIsReplayedAndItsReadsBypassMeanwhile) {
  DaemonProcess* proxy =
      start_proxy(config_yaml(kSimRules, true) + "admin: { listen: 127.0.0.1:0, token: admin-test-token }\n");
  ASSERT_NE(proxy, nullptr);
  auto admin = proxy->wait_for_log(R"(admin endpoints on 127\.0\.0\.1:(\d+))");
  ASSERT_TRUE(admin) << proxy->stderr_text();
  const auto admin_port = static_cast<std::uint16_t>(std::stoi(admin->groups[1]));
  auto owed_tags = [&] {
    HttpResponse m = http(admin_port, "GET", "/metrics");
    EXPECT_EQ(m.status, 200) << m.describe();
    return metric_sample(m.body, "openrisk_cache_purges_owed_tags");
  };
  EXPECT_EQ(owed_tags(), 0.0);
  ASSERT_EQ(get(detail_, token_).status, 200);
  HttpResponse hit = get(detail_, token_);
  ASSERT_EQ(x_cache(hit), "HIT") << hit.describe();
  const std::uint64_t before = sim_version(hit);

  const std::uint64_t written = write_with_a_failed_purge(*proxy, "purge-failed-write");
  ASSERT_GT(written, before);
  const double owed_by_the_write = owed_tags().value_or(0);
  EXPECT_GE(owed_by_the_write, 1.0) << "the owed tags are not in the metric";

  // An admin purge that fails is owed too (one purge for writes, the admin API and replays).
  HttpResponse admin_purge = http(admin_port, "POST", "/admin/purge", bearer("admin-test-token"),
                                  R"({"tags":["admin-purged-while-paused"]})");
  EXPECT_EQ(admin_purge.status, 503) << admin_purge.describe();
  EXPECT_EQ(owed_tags(), owed_by_the_write + 1) << "the admin purge's tag is not owed";

  for (int i = 0; i < 3; ++i) {  // Redis still answers reads, and still holds the pre-write entry
    HttpResponse r = get(detail_, token_);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(x_cache(r), "BYPASS") << r.describe();
    EXPECT_GE(sim_version(r), written) << "pre-write data served after the write\n" << r.describe();
    EXPECT_NE(r.headers.get("Cache-Status").value_or("").find("purge-pending"), std::string::npos)
        << r.describe();
  }

  ASSERT_EQ(redis_command(redis_->port(), {"CLIENT", "UNPAUSE"}), "+OK");
  HttpResponse r;
  EXPECT_TRUE(poll_until(
      [&] {
        r = get(detail_, token_);
        EXPECT_EQ(r.status, 200) << r.describe();
        EXPECT_GE(sim_version(r), written) << r.describe();
        return x_cache(r) == "HIT";
      },
      deadline_in(30s)))
      << "no HIT after the purge could be replayed; last:\n"
      << r.describe();
  EXPECT_NE(r.body.find("purge-failed-write"), std::string::npos) << r.describe();
  EXPECT_TRUE(proxy->wait_for_log("replayed the failed purge", deadline_in(10s))) << proxy->stderr_text();
  EXPECT_EQ(owed_tags(), 0.0);
}

// The same failure seen from another instance, which cannot know of the failed purge: it serves the entry
// from before the write until the writer's instance replays the purge. That replay runs once Redis answers,
// without waiting for a request to the writer's instance (found by a probe: an idle instance owed its purge
// for minutes while another served the pre-write entry until its TTL).
TEST_F(CacheRedisTest, AnOwedPurgeIsReplayedWithoutARequestAndReachesTheOtherInstances) {
  auto [a, before] = two_with_a_hit_on_b();
  ASSERT_NE(a, nullptr);

  const std::uint64_t written = write_with_a_failed_purge(*a, "owed-by-a");
  ASSERT_GT(written, before);
  ASSERT_EQ(redis_command(redis_->port(), {"CLIENT", "UNPAUSE"}), "+OK");

  // No request reaches A from now on.
  EXPECT_TRUE(a->wait_for_log("replayed the failed purge", deadline_in(10s))) << a->stderr_text();
  HttpResponse r = get(detail_, token_, 1);
  EXPECT_GE(sim_version(r), written) << "B still serves the entry from before the write\n" << r.describe();
  EXPECT_NE(r.body.find("owed-by-a"), std::string::npos) << r.describe();
}

// A write in flight when its instance is told to stop (a rolling deploy): it ends during the drain, and its
// purge must still reach Redis, or every other instance serves the entries from before it until their TTL
// (found in review: the drain closed the storage at its start).
TEST_F(CacheRedisTest, AWriteThatEndsDuringTheDrainStillPurges) {
  auto [a, before] = two_with_a_hit_on_b();
  ASSERT_NE(a, nullptr);

  sim_add_fault(sim_port(),
                R"({"faults":[{"route":"PATCH /api/v1/risks/:id","mode":"slow","delay":"2s","count":1}]})");
  RawClient writer(proxy_port(0));
  ASSERT_TRUE(
      writer.send(make_request("PATCH", detail_, with(bearer(token_), "Content-Type", "application/json"),
                               R"({"title":"during-the-drain"})")));
  ASSERT_TRUE(poll_until([&] { return sim_route_count(sim_port(), "PATCH /api/v1/risks/:id") >= 1; },
                         deadline_in(10s)));
  ASSERT_TRUE(a->send_signal(SIGTERM));
  auto draining = a->wait_for_log("shutdown requested");
  ASSERT_TRUE(draining) << a->stderr_text();
  HttpResponse written = writer.read_response(ReadOptions{.deadline = deadline_in(20s)});
  ASSERT_EQ(written.status, 200) << written.describe();
  // The write ended during the drain, not before it (else the test proves nothing).
  EXPECT_TRUE(
      a->wait_for_log("PATCH /api/v1/risks/[^ ]+ 200 .*cache=purge", deadline_in(10s), draining->end_offset))
      << a->stderr_text();
  ASSERT_GT(sim_version(written), before);
  auto status = a->wait_exit(deadline_in(30s));
  ASSERT_TRUE(status && status->success()) << a->stderr_text();
  EXPECT_EQ(a->stderr_text().find("purge of"), std::string::npos) << a->stderr_text();

  HttpResponse after = get(detail_, token_, 1);
  EXPECT_NE(x_cache(after), "HIT") << "B served the entry from before A's write\n" << after.describe();
  EXPECT_NE(after.body.find("during-the-drain"), std::string::npos) << after.describe();
}

TEST_F(CacheRedisTest, FirstRequestAfterListeningUsesRedis) {
  // Redis is up before the daemon starts: the daemon's first request should not have to step aside.
  DaemonProcess* proxy = start_proxy(config_yaml(kSimRules, true), {}, "");
  ASSERT_NE(proxy, nullptr);
  HttpResponse first = get(detail_, token_);
  EXPECT_EQ(first.status, 200) << first.describe();
  EXPECT_EQ(x_cache(first), "MISS") << "the cache stepped aside although Redis was running\n"
                                    << first.describe();
}

TEST_F(CacheRedisTest, AReloadThatChangesTheStorageIsRefusedAndTheStorageStays) {
  // The storage, the L1 and the listeners are set up once at start: a reload that changes them is refused as
  // a whole, naming them, and the running configuration (the entries' key prefix included, which must match
  // the keys of the tags' generations) stays.
  DaemonProcess* proxy = start_proxy(config_yaml(kSimRules, true));
  ASSERT_NE(proxy, nullptr);
  std::string changed;
  {
    std::ifstream in(proxy->config_path());
    changed.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (auto [from, to] :
       {std::pair<std::string, std::string>{"key_prefix: \"orc-test:\"", "key_prefix: \"moved:\""},
        {"l1_budget: 8MiB", "l1_budget: 16MiB, max_fill: 1m"}}) {
    auto at = changed.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    changed.replace(at, from.size(), to);
  }
  {
    std::ofstream out(proxy->config_path(), std::ios::trunc);
    out << changed;
  }
  ASSERT_TRUE(proxy->send_signal(SIGHUP));
  EXPECT_TRUE(proxy->wait_for_log(R"(redis, cache\.l1_\*, cache\.max_fill changed: read only at start)"))
      << proxy->stderr_text();
  ASSERT_TRUE(proxy->wait_for_log("reload refused"));

  HttpResponse miss = get(detail_, token_);
  ASSERT_EQ(miss.status, 200) << miss.describe();
  EXPECT_EQ(x_cache(get(detail_, token_)), "HIT");
  ExitStatus status;
  const std::string port = std::to_string(redis_->port());
  auto keys = [&](const std::string& pattern) {
    return run_command({"/usr/bin/redis-cli", "-p", port, "--scan", "--pattern", pattern}, status);
  };
  EXPECT_EQ(keys("moved:*"), "") << "entries were written under the file's new prefix";
  EXPECT_NE(keys("orc-test:e:*"), "") << "no entry under the running prefix";
}

// Without the L1, read-your-writes holds across instances with no window at all: the purge is in Redis before
// the writer's answer leaves. (With the L1 the other instance learns of it by a message: the next test.)
TEST_F(CacheRedisTest, TwoInstancesShareEntriesAndPurges) {
  l1_ = false;
  const std::string yaml = config_yaml(kSimRules, true);
  ASSERT_NE(start_proxy(yaml), nullptr);
  ASSERT_NE(start_proxy(yaml), nullptr);
  const std::size_t a = 0;
  const std::size_t b = 1;
  const std::string list = "/api/v1/risks?limit=4";

  HttpResponse primed = get(detail_, token_, a);
  ASSERT_EQ(primed.status, 200) << primed.describe();
  EXPECT_EQ(x_cache(primed), "MISS") << primed.describe();
  HttpResponse via_b = get(detail_, token_, b);
  EXPECT_EQ(x_cache(via_b), "HIT") << "instance B does not see instance A's entry\n" << via_b.describe();
  EXPECT_EQ(via_b.body, primed.body);
  EXPECT_EQ(sim_route_count(sim_port(), "GET /api/v1/risks/:id"), 1);

  HttpResponse list_b = get(list, token_, b);
  ASSERT_EQ(list_b.status, 200) << list_b.describe();
  HttpResponse list_a = get(list, token_, a);
  EXPECT_EQ(x_cache(list_a), "HIT") << list_a.describe();

  HttpResponse write = through(b, "PATCH", detail_, bearer(token_), R"({"title":"written-through-b"})");
  ASSERT_EQ(write.status, 200) << write.describe();
  const std::uint64_t written = sim_version(write);

  for (const std::string& target : {detail_, list}) {
    HttpResponse after = get(target, token_, a);
    EXPECT_EQ(after.status, 200) << after.describe();
    EXPECT_GE(sim_version(after), written) << "instance A served pre-write data for " << target << "\n"
                                           << after.describe();
    EXPECT_NE(x_cache(after), "HIT") << after.describe();
  }
  HttpResponse detail_a = get(detail_, token_, a);
  EXPECT_NE(detail_a.body.find("written-through-b"), std::string::npos);
  HttpResponse detail_b = get(detail_, token_, b);
  EXPECT_EQ(x_cache(detail_b), "HIT") << "instance B does not see the entry A refilled\n"
                                      << detail_b.describe();
  EXPECT_GE(sim_version(detail_b), written);
}

void CacheRedisTest::start_two_with_l1(DaemonProcess*& a, DaemonProcess*& b) {
  const std::string yaml = config_yaml(kSimRules, true);
  a = start_proxy(yaml);
  b = start_proxy(yaml);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (auto* p : {a, b})
    ASSERT_TRUE(wait_metric(*p, "openrisk_cache_l1_up", [](double v) { return v == 1; })) << p->stderr_text();
}

void CacheRedisTest::write_through_a_reaches_b(const std::string& title) {
  HttpResponse write = through(0, "PATCH", detail_, bearer(token_), R"({"title":")" + title + R"("})");
  ASSERT_EQ(write.status, 200) << write.describe();
  const std::uint64_t written = sim_version(write);
  HttpResponse r;
  EXPECT_TRUE(poll_until(
      [&] {
        r = get(detail_, token_, 1);
        return sim_version(r) >= written;
      },
      deadline_in(5s)))
      << "instance B kept serving pre-write data; last:\n"
      << r.describe();
  EXPECT_NE(r.body.find(title), std::string::npos) << r.describe();
}

TEST_F(CacheRedisTest, L1ServesHitsWithoutRedisAndForgetsWhatAnotherInstancePurged) {
  DaemonProcess *a = nullptr, *b = nullptr;
  ASSERT_NO_FATAL_FAILURE(start_two_with_l1(a, b));

  HttpResponse primed = get(detail_, token_, 0);
  ASSERT_EQ(x_cache(primed), "MISS") << primed.describe();
  HttpResponse from_redis = get(detail_, token_, 1);  // B: from Redis, into B's L1
  ASSERT_EQ(x_cache(from_redis), "HIT") << from_redis.describe();
  const double l1_hits = metric_now(*b, "openrisk_cache_l1_hits_total");
  ASSERT_EQ(redis_command(redis_->port(), {"CONFIG", "RESETSTAT"}), "+OK");
  HttpResponse from_l1 = get(detail_, token_, 1);
  ASSERT_EQ(x_cache(from_l1), "HIT") << from_l1.describe();
  EXPECT_EQ(from_l1.body, primed.body);
  EXPECT_EQ(redis_gets(redis_->port()), 0) << "the hit asked Redis";
  EXPECT_EQ(metric_now(*b, "openrisk_cache_l1_hits_total"), l1_hits + 1);
  EXPECT_GT(metric_now(*b, "openrisk_cache_l1_entries"), 0);

  // A write through A: B's L1 hears of the purge (it would keep the old entry for l1_max_age, 30 s, else).
  ASSERT_NO_FATAL_FAILURE(write_through_a_reaches_b("written-through-a"));
}

// docs/operations.md, "Redis on the same machine": redis.url unix://... carries every connection, the
// workers' pools and the purge listener, so that entries and purges are shared as over TCP.
TEST_F(CacheRedisTest, TwoInstancesShareEntriesAndPurgesOverAUnixSocket) {
  unix_ = true;
  ASSERT_NO_THROW(start_redis());  // in place of SetUp's server, which had no socket
  DaemonProcess *a = nullptr, *b = nullptr;
  ASSERT_NO_FATAL_FAILURE(start_two_with_l1(a, b));
  const std::string socket = redis_->unix_url().substr(std::string_view("unix://").size());
  EXPECT_NE(a->stderr_text().find("cache storage: redis unix:" + socket + ", db 0"), std::string::npos)
      << a->stderr_text();

  // Every client but this test's own (over TCP, running CLIENT LIST) came in on the socket (flag U), the
  // purge listeners among them.
  auto clients = redis_bulk(redis_->port(), {"CLIENT", "LIST"});
  ASSERT_TRUE(clients);
  int on_socket = 0, subscribed = 0;
  std::istringstream lines(*clients);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" cmd=client|list ") != std::string::npos) continue;
    const auto flags = line.find(" flags=");
    ASSERT_NE(flags, std::string::npos) << line;
    const std::string value = line.substr(flags + 7, line.find(' ', flags + 1) - flags - 7);
    EXPECT_NE(value.find('U'), std::string::npos) << "a client not on the Unix socket: " << line;
    ++on_socket;
    if (line.find(" sub=1 ") != std::string::npos) ++subscribed;
  }
  EXPECT_GE(on_socket, 4) << *clients;  // at least a pool connection and a listener each
  EXPECT_EQ(subscribed, 2) << *clients;

  HttpResponse primed = get(detail_, token_, 0);
  ASSERT_EQ(x_cache(primed), "MISS") << primed.describe();
  HttpResponse via_b = get(detail_, token_, 1);
  EXPECT_EQ(x_cache(via_b), "HIT") << "instance B does not see instance A's entry\n" << via_b.describe();
  EXPECT_EQ(via_b.body, primed.body);

  // A write through A: B's L1 hears of the purge through its listener on the socket.
  ASSERT_NO_FATAL_FAILURE(write_through_a_reaches_b("written-over-the-socket"));

  // Redis gone (its socket file left behind, nobody listening): the backend answers; back: hits again.
  redis_->stop();
  ASSERT_TRUE(wait_metric(*b, "openrisk_cache_l1_up", [](double v) { return v == 0; }));
  HttpResponse without = get(detail_, token_, 1);
  EXPECT_EQ(without.status, 200) << without.describe();
  EXPECT_NE(x_cache(without), "HIT") << without.describe();
  ASSERT_NO_THROW(redis_->start());
  ASSERT_TRUE(wait_metric(*b, "openrisk_cache_l1_up", [](double v) { return v == 1; })) << b->stderr_text();
  HttpResponse back;
  EXPECT_TRUE(poll_until(
      [&] {
        back = get(detail_, token_, 1);
        return x_cache(back) == "HIT";
      },
      deadline_in(10s)))
      << "no hit over the socket after Redis came back; last:\n"
      << back.describe();
}

// docs/operations.md, OpenRiskCacheRedisUnreachable: the log says why Redis cannot be reached, once however
// many connections fail and retry (two workers' pools here), and says so again when one connects.
TEST_F(CacheRedisTest, WhyRedisCannotBeReachedIsLoggedOnceAndSoIsItsReturn) {
  unix_ = true;
  ASSERT_NO_THROW(start_redis());
  redis_->stop();  // its socket file stays behind: every connection is refused
  DaemonProcess* proxy = start_proxy(config_yaml(kSimRules, true), {}, /*warmup=*/"");
  ASSERT_NE(proxy, nullptr);
  const std::string where = "redis unix:" + redis_->unix_url().substr(std::string_view("unix://").size());
  ASSERT_TRUE(proxy->wait_for_log("redis unix:.*: cannot connect \\(Connection refused\\)"))
      << proxy->stderr_text();
  HttpResponse without = get(detail_, token_);
  EXPECT_EQ(without.status, 200) << without.describe();
  EXPECT_EQ(x_cache(without), "BYPASS") << without.describe();

  ASSERT_NO_THROW(redis_->start());
  ASSERT_TRUE(proxy->wait_for_log("redis unix:.*: connected$")) << proxy->stderr_text();
  HttpResponse back;
  EXPECT_TRUE(poll_until(
      [&] {
        back = get(detail_, token_);
        return x_cache(back) == "HIT";
      },
      deadline_in(10s)))
      << back.describe();
  const std::string log = proxy->stderr_text();
  EXPECT_NE(log.find(where + ": cannot connect (Connection refused): the cache steps aside"),
            std::string::npos)
      << log;
  // The same reason is not repeated (a connect in the instant Redis re-creates its socket could give
  // another).
  const std::string refused = ": cannot connect (Connection refused)";
  std::size_t failures = 0;
  for (auto at = log.find(refused); at != std::string::npos; at = log.find(refused, at + 1)) ++failures;
  EXPECT_EQ(failures, 1u) << log;
  std::size_t returns = 0;
  for (auto at = log.find(where + ": connected\n"); at != std::string::npos;
       at = log.find(where + ": connected\n", at + 1))
    ++returns;
  EXPECT_EQ(returns, 1u) << log;
}

// A wrong password: the log names the refusal (Redis's text, never the password), and nothing is cached.
TEST_F(CacheRedisTest, AWrongRedisPasswordIsLoggedWithoutThePassword) {
  redis_ = std::make_unique<RedisServer>(std::vector<std::string>{"--requirepass", "s3cret"});
  std::string yaml = config_yaml(kSimRules, true);
  const std::string plain = redis_->url();
  const auto at = yaml.find(plain);
  ASSERT_NE(at, std::string::npos) << yaml;
  yaml.replace(at, plain.size(), "redis://:not-the-password@127.0.0.1:" + std::to_string(redis_->port()));
  DaemonProcess* proxy = start_proxy(yaml, {}, /*warmup=*/"");
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(proxy->wait_for_log(": refused AUTH \\(WRONGPASS")) << proxy->stderr_text();
  HttpResponse r = get(detail_, token_);
  EXPECT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(x_cache(r), "BYPASS") << r.describe();
  EXPECT_EQ(proxy->stderr_text().find("not-the-password"), std::string::npos) << proxy->stderr_text();
}

TEST_F(CacheRedisTest, L1IsOffWhileRedisIsGoneAndEmptyWhenItIsBack) {
  DaemonProcess *a = nullptr, *b = nullptr;
  ASSERT_NO_FATAL_FAILURE(start_two_with_l1(a, b));
  ASSERT_EQ(x_cache(get(detail_, token_, 0)), "MISS");
  HttpResponse cached = get(detail_, token_, 0);
  ASSERT_EQ(x_cache(cached), "HIT") << cached.describe();
  ASSERT_GT(metric_now(*a, "openrisk_cache_l1_entries"), 0);

  redis_->stop();
  ASSERT_TRUE(wait_metric(*a, "openrisk_cache_l1_up", [](double v) { return v == 0; })) << a->stderr_text();
  EXPECT_EQ(metric_now(*a, "openrisk_cache_l1_entries"), 0);
  // Another instance writes while Redis is gone: its purge fails (owed there, not here). A must not serve
  // what its L1 held before.
  HttpResponse write =
      through(1, "PATCH", detail_, bearer(token_), R"({"title":"written-while-redis-down"})");
  ASSERT_EQ(write.status, 200) << write.describe();
  const std::uint64_t written = sim_version(write);
  HttpResponse during = get(detail_, token_, 0);
  EXPECT_EQ(during.status, 200) << during.describe();
  EXPECT_NE(x_cache(during), "HIT") << during.describe();
  EXPECT_GE(sim_version(during), written) << during.describe();

  ASSERT_NO_THROW(redis_->start());
  ASSERT_TRUE(wait_metric(*a, "openrisk_cache_l1_up", [](double v) { return v == 1; })) << a->stderr_text();
  HttpResponse after = get(detail_, token_, 0);
  EXPECT_EQ(after.status, 200) << after.describe();
  EXPECT_GE(sim_version(after), written) << "pre-outage data after Redis came back\n" << after.describe();
}

}  // namespace
}  // namespace orc::test
