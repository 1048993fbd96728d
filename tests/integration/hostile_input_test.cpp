// Black-box tests of hostile input that is not about framing (that is SmugglingTest in
// proxy_limits_test.cpp): cache poisoning through what is not in the key, cache deception through path
// variants, path normalisation (the key and the forwarded path must agree), credentials in logs and the admin
// token gate.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "cache_fixture.hpp"
#include "proxy_fixture.hpp"

namespace orc::test {
namespace {

constexpr const char* kAdminToken = "s3cret-admin-token-0123456789";

// The daemon in front of a scriptable backend that, like a permissive framework, answers from whatever the
// request says: the body names the target, the caller, and every URL/host/method-rewriting header it saw,
// and a counter shows whether the backend was asked. `?status=N` makes it answer N.
class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_.set_handler([this](const BackendRequest& req, ResponseWriter& w) {
      int n = ++served_;
      std::string body = "n=" + std::to_string(n) + " target=" + req.target;
      for (const char* h : {"Authorization", "Accept-Language", "X-Forwarded-Host", "X-Forwarded-Proto",
                            "X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "Forwarded",
                            "X-Host", "X-Forwarded-Scheme", "X-Forwarded-Port", "X-Forwarded-Prefix"})
        if (auto v = req.headers.get(h)) body += std::string(" ") + h + "=" + *v;
      int status = 200;
      if (auto q = req.target.find("status="); q != std::string::npos)
        status = std::stoi(req.target.substr(q + 7));
      w.respond(status, body);
    });
  }

  void start(const std::string& logging = "") {
    std::string y = "listen: 127.0.0.1:0\nthreads: 1\nupstream: { url: " + backend_.url() + " }\n";
    y += std::string("admin: { listen: 127.0.0.1:0, token: ") + kAdminToken + " }\n";
    y += logging;
    y += "rules:\n"
         "  - name: items\n"
         "    match: { method: GET, path: \"/items/:id\" }\n"
         "    cache: { ttl: 5m, scope: public, key: { headers: [Accept-Language] } }\n"
         "  - name: flaky\n"
         "    match: { method: GET, path: \"/flaky/:id\" }\n"
         "    cache: { ttl: 5m, scope: public, statuses: [200, 503] }\n";
    daemon_ = std::make_unique<DaemonProcess>(daemon_path(), y);
    ASSERT_TRUE(daemon_->wait_listening()) << daemon_->stderr_text();
    auto admin = daemon_->wait_for_log(R"(admin endpoints on 127\.0\.0\.1:(\d+))");
    ASSERT_TRUE(admin) << daemon_->stderr_text();
    admin_port_ = static_cast<std::uint16_t>(std::stoi(admin->groups[1]));
  }

  // One GET on a fresh connection; returns once the daemon logged the exchange (a fill is stored by then).
  HttpResponse get(const std::string& target, const HeaderList& headers = {}) {
    HttpResponse r = roundtrip(daemon_->port(), make_request("GET", target, headers));
    std::string id = r.headers.get("X-Request-ID").value_or("");
    EXPECT_FALSE(id.empty()) << r.describe();
    if (!id.empty()) {
      EXPECT_TRUE(daemon_->wait_for_log(" id=" + id + " ")) << "no access line for " << id;
    }
    return r;
  }

  std::vector<std::string> backend_targets() const {
    std::vector<std::string> out;
    for (const auto& r : backend_.requests()) out.push_back(r.target);
    return out;
  }

  TestBackend backend_;
  std::atomic<int> served_{0};
  std::unique_ptr<DaemonProcess> daemon_;
  std::uint16_t admin_port_ = 0;
};

// ---- Cache poisoning: what is not in the key cannot change what is stored for others

TEST_F(HostileTest, RewritingHeadersCannotChangeTheStoredEntry) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::vector<std::pair<std::string, std::string>> attacks = {
      {"X-Forwarded-Host", "evil.example"}, {"X-Forwarded-Proto", "gopher"},
      {"X-Original-URL", "/admin"},         {"X-Rewrite-URL", "/admin"},
      {"X-HTTP-Method-Override", "DELETE"}, {"Forwarded", "host=evil.example;proto=https"},
      {"X-Host", "evil.example"},           {"X-Forwarded-Scheme", "nothttp"},
      {"X-Forwarded-Port", "31337"},        {"X-Forwarded-Prefix", "/evil"},
      {"Connection", "Accept-Language"},  // asks the hop to drop a header the key names
  };
  for (std::size_t i = 0; i < attacks.size(); ++i) {
    const auto& [name, value] = attacks[i];
    const std::string target = "/items/" + std::to_string(i);
    HeaderList h;
    h.add(name, value);
    h.add("Accept-Language", "de");
    HttpResponse attacker = get(target, h);
    ASSERT_EQ(attacker.status, 200) << name << "\n" << attacker.describe();

    // The victim: same key (same path, same Accept-Language), no rewriting header.
    HeaderList plain;
    plain.add("Accept-Language", "de");
    HttpResponse victim = get(target, plain);
    ASSERT_EQ(victim.status, 200) << victim.describe();
    EXPECT_EQ(victim.body.find("evil"), std::string::npos) << name << " reached another caller\n"
                                                           << victim.body;
    if (name != "Connection") {
      EXPECT_EQ(victim.body.find(value), std::string::npos) << name << " reached another caller\n"
                                                            << victim.body;
    }
    EXPECT_NE(victim.body.find("Accept-Language=de"), std::string::npos)
        << name << ": the victim was served an answer to another request\n"
        << victim.body;
    // And what the victim got is what is stored now.
    HttpResponse again = get(target, plain);
    EXPECT_EQ(x_cache(again), "HIT") << name << "\n" << again.describe();
    EXPECT_EQ(again.body, victim.body) << name;
  }
}

TEST_F(HostileTest, ForwardedHostAndProtoReachTheBackendAsTheProxySetsThem) {
  ASSERT_NO_FATAL_FAILURE(start());
  HeaderList h;
  h.add("X-Forwarded-Host", "evil.example");
  h.add("X-Forwarded-Proto", "gopher");
  HttpResponse r = get("/items/x", h);
  ASSERT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(backend_.request_count(), 1u);
  auto req = backend_.requests()[0];
  EXPECT_EQ(req.headers.get("X-Forwarded-Host").value_or(""), "test.local");
  EXPECT_EQ(req.headers.get("X-Forwarded-Proto").value_or(""), "http");
}

// Authorization is no list: with two lines the backend (Fiber) reads the first while the proxy read both
// joined, so a write was applied under tags the proxy could not render (found by a probe). 400, as nginx
// answers, and nothing reaches the backend.
TEST_F(HostileTest, TwoAuthorizationLinesGet400AndReachNoBackend) {
  ASSERT_NO_FATAL_FAILURE(start());
  for (const char* second : {"Bearer a", "", "Bearer b"}) {
    HeaderList h;
    h.add("Authorization", "Bearer a");
    h.add("Authorization", second);
    HttpResponse r = roundtrip(daemon_->port(), make_request("GET", "/items/1", h));
    expect_json_error(r, 400);
  }
  EXPECT_EQ(backend_.request_count(), 0u);
  HeaderList one;
  one.add("Authorization", "Bearer a");
  EXPECT_EQ(roundtrip(daemon_->port(), make_request("GET", "/items/1", one)).status, 200);
}

TEST_F(HostileTest, GetWithABodyIsNotCached) {
  ASSERT_NO_FATAL_FAILURE(start());
  // Content-Length body, then a chunked one: both forwarded (the backend may read them), neither stored.
  HttpResponse with_length = roundtrip(daemon_->port(), make_request("GET", "/items/b", {}, "q=other"));
  ASSERT_EQ(with_length.status, 200) << with_length.describe();
  EXPECT_EQ(x_cache(with_length), "BYPASS") << with_length.describe();
  HeaderList chunked;
  chunked.add("Transfer-Encoding", "chunked");
  HttpResponse with_chunks = roundtrip(daemon_->port(), make_request("GET", "/items/b", chunked) +
                                                            make_chunk("q=other") + std::string(kLastChunk));
  ASSERT_EQ(with_chunks.status, 200) << with_chunks.describe();
  EXPECT_EQ(x_cache(with_chunks), "BYPASS") << with_chunks.describe();

  HttpResponse plain = get("/items/b");
  EXPECT_EQ(x_cache(plain), "MISS") << "a GET with a body filled the entry\n" << plain.describe();
  EXPECT_EQ(backend_.request_count(), 3u);
  ASSERT_EQ(backend_.requests()[0].body, "q=other");
}

TEST_F(HostileTest, ErrorResponsesAreNotStoredUnlessTheRuleAllowsThem) {
  ASSERT_NO_FATAL_FAILURE(start());
  for (int code : {400, 401, 403, 429, 500, 502, 503, 504}) {
    const std::string target = "/items/e" + std::to_string(code);
    // The status parameter is not in the key (other_query: ignore): the error would land on the plain key.
    HttpResponse error = get(target + "?status=" + std::to_string(code));
    ASSERT_EQ(error.status, code) << error.describe();
    const auto before = backend_.request_count();
    HttpResponse next = get(target);
    EXPECT_EQ(next.status, 200) << code << " was stored\n" << next.describe();
    EXPECT_NE(x_cache(next), "HIT") << code;
    EXPECT_EQ(backend_.request_count(), before + 1) << code;
  }
  // The flaky rule lists 503: there it is stored (and only there).
  HttpResponse stored = get("/flaky/1?status=503");
  ASSERT_EQ(stored.status, 503) << stored.describe();
  HttpResponse hit = get("/flaky/1");
  EXPECT_EQ(hit.status, 503) << hit.describe();
  EXPECT_EQ(x_cache(hit), "HIT") << hit.describe();
}

// ---- Path normalisation: the backend is asked for the path the key names

TEST_F(HostileTest, PathVariantsAreForwardedAsTheNormalisedPathTheKeyNames) {
  ASSERT_NO_FATAL_FAILURE(start());
  // The first variant fills; the plain path and every other variant are hits on the same entry, and the only
  // request the backend saw was for the plain path: the entry holds what the plain path returns.
  HttpResponse fill = get("/items//4%32/");
  ASSERT_EQ(fill.status, 200) << fill.describe();
  EXPECT_EQ(x_cache(fill), "MISS") << fill.describe();
  EXPECT_NE(fill.body.find("target=/items/42 "), std::string::npos) << fill.body;
  for (const char* variant : {"/items/42", "//items/42", "/items/%34%32", "/items/42/", "/items/42//"}) {
    HttpResponse r = get(variant);
    EXPECT_EQ(x_cache(r), "HIT") << variant << "\n" << r.describe();
    EXPECT_EQ(r.body, fill.body) << variant;
  }
  EXPECT_EQ(backend_targets(), std::vector<std::string>{"/items/42"});

  // Unmatched and passed-through requests are normalised the same way; the query is forwarded as it came.
  HttpResponse pass = get("/other//%70ath/?a=%2F..&b");
  ASSERT_EQ(pass.status, 200) << pass.describe();
  EXPECT_EQ(backend_targets().back(), "/other/path?a=%2F..&b");
}

struct AmbiguousPath {
  const char* name;
  const char* target;
};

class AmbiguousPathTest : public HostileTest, public ::testing::WithParamInterface<AmbiguousPath> {};

// A path the proxy cannot normalise without guessing how the backend reads it: 400 and close, like the
// framing errors, and nothing forwarded. Dot segments: clients resolve them before sending (RFC 3986 5.2);
// encoded '/', '\' and NUL: servers differ on decoding them before routing; ';': some servers strip path
// parameters before routing ("/users/me;x.css" is /users/me to them, a different key to the proxy).
TEST_P(AmbiguousPathTest, IsRejectedWith400AndNothingForwarded) {
  ASSERT_NO_FATAL_FAILURE(start());
  RawClient client(daemon_->port());
  ASSERT_TRUE(client.connected()) << client.error();
  ASSERT_TRUE(client.send(make_request("GET", GetParam().target)));
  HttpResponse r = client.read_response();
  expect_json_error(r, 400);
  auto connection = r.headers.tokens("Connection");
  EXPECT_NE(std::find(connection.begin(), connection.end(), "close"), connection.end()) << r.describe();
  EXPECT_TRUE(client.wait_closed(deadline_in())) << "the proxy kept the connection open";
  EXPECT_EQ(backend_.request_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(HostileTest, AmbiguousPathTest,
                         ::testing::Values(AmbiguousPath{"DotDot", "/items/../admin"},
                                           AmbiguousPath{"Dot", "/items/./42"},
                                           AmbiguousPath{"EncodedDotDot", "/items/%2e%2E/admin"},
                                           AmbiguousPath{"HalfEncodedDotDot", "/items/.%2e/admin"},
                                           AmbiguousPath{"DotDotAtTheEnd", "/items/42/.."},
                                           AmbiguousPath{"EncodedSlash", "/items/a%2Fb"},
                                           AmbiguousPath{"EncodedSlashLowerCase", "/items/..%2fadmin"},
                                           AmbiguousPath{"EncodedBackslash", "/items/..%5Cadmin"},
                                           AmbiguousPath{"RawBackslash", "/items/..\\admin"},
                                           AmbiguousPath{"EncodedNul", "/items/42%00.css"},
                                           AmbiguousPath{"PathParameter", "/items/42;x.css"},
                                           AmbiguousPath{"DotDotWithPathParameter", "/items/..;/admin"},
                                           AmbiguousPath{"StrayPercent", "/items/100%"},
                                           AmbiguousPath{"PercentFormingAnEscape", "/items/%%355"}),
                         [](const ::testing::TestParamInfo<AmbiguousPath>& info) {
                           return std::string(info.param.name);
                         });

// ---- Credentials

TEST_F(HostileTest, QueryTokensAreRedactedFromEveryLogLineWhateverTheirSpelling) {
  // The default redact_query list; a backend failure adds a warning line with the target to the log too.
  ASSERT_NO_FATAL_FAILURE(start());
  const std::vector<std::string> targets = {
      "/items/t1?token=s3cretA",           "/items/t2?%74oken=s3cretB",
      "/items/t3?TOKEN=s3cretC",           "/items/t4?a=1&access_token=s3cretD",
      "/items/t5?refresh%5Ftoken=s3cretE", "/items/t6?pass%77ord=s3cretF",
  };
  for (const auto& t : targets) {
    HttpResponse r = get(t);
    ASSERT_EQ(r.status, 200) << r.describe();
  }
  ASSERT_NO_FATAL_FAILURE(backend_.set_handler([](const BackendRequest&, ResponseWriter& w) {
    w.close_connection();  // no response at all: 502 and a warning naming the request
  }));
  HttpResponse failed = get("/other?%74oken=s3cretG");
  EXPECT_EQ(failed.status, 502) << failed.describe();
  ASSERT_TRUE(daemon_->wait_for_log("upstream .* failed"));

  const std::string log = daemon_->stderr_text();
  for (const char* secret : {"s3cretA", "s3cretB", "s3cretC", "s3cretD", "s3cretE", "s3cretF", "s3cretG"})
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " is in the log:\n" << log;
  EXPECT_NE(log.find("%74oken=REDACTED"), std::string::npos) << log;
  // The backend got them as they were: redaction is for the log only.
  EXPECT_NE(backend_targets().at(1).find("%74oken=s3cretB"), std::string::npos);
}

// The admin token gate: missing, malformed, wrong tokens of every length and tokens sharing a prefix with the
// real one all get the same 401, byte for byte (the comparison itself is over equal-length digests with
// CRYPTO_memcmp; timing is not measured here).
TEST_F(HostileTest, AdminRejectsEveryWrongTokenIdentically) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string token = kAdminToken;
  auto call = [&](const std::optional<std::string>& authorization) {
    HeaderList h;
    if (authorization) h.add("Authorization", *authorization);
    return roundtrip(admin_port_, make_request("GET", "/admin/rules", h));
  };
  auto canonical = [](const HttpResponse& r) {
    std::string out = std::to_string(r.status) + "\n";
    for (const auto& [k, v] : r.headers.fields) out += k + ": " + v + "\n";
    return out + r.body;
  };

  std::vector<std::optional<std::string>> wrong = {std::nullopt,     "",         "Bearer", "Bearer ",
                                                   "Basic " + token, "Bearer  ", token,    "bearer" + token};
  for (std::size_t n = 0; n <= token.size() + 2; ++n) {
    if (n == token.size()) continue;  // that one is the token
    wrong.push_back("Bearer " + token.substr(0, std::min(n, token.size())) +
                    std::string(n > token.size() ? n - token.size() : 0, 'x'));  // prefixes and extensions
    wrong.push_back("Bearer " + std::string(n, 'z'));                            // every length
  }
  std::string last = token;
  last.back() = last.back() == 'a' ? 'b' : 'a';
  wrong.push_back("Bearer " + last);  // all but the last byte right
  wrong.push_back("Bearer " + token + token);

  const HttpResponse reference = call(std::nullopt);
  ASSERT_EQ(reference.status, 401) << reference.describe();
  EXPECT_EQ(reference.headers.get("WWW-Authenticate").value_or(""), "Bearer");
  for (const auto& w : wrong) {
    HttpResponse r = call(w);
    EXPECT_EQ(canonical(r), canonical(reference)) << (w ? *w : std::string("(no Authorization)"));
  }
  HttpResponse right = call("Bearer " + token);
  EXPECT_EQ(right.status, 200) << right.describe();
  HttpResponse right_case = call("bearer " + token);
  EXPECT_EQ(right_case.status, 200) << "the scheme is case-insensitive\n" << right_case.describe();
}

// ---- The same against the real simulator and a shipped-style rulebook

class HostileSimTest : public CacheTest {
 protected:
  void SetUp() override {
    start_sim();
    ASSERT_NE(start_proxy(config_yaml(kSimRules, false)), nullptr);
  }
};

// Cache deception: a private route dressed up as a static file, or as another route through ';' or an encoded
// slash, is never stored: the second caller is answered for themselves, never from the first one's entry.
TEST_F(HostileSimTest, DeceptionVariantsOfUsersMeAreNeverServedToAnotherCaller) {
  const std::string admin = sim_login(sim_port(), "admin@acme.test");
  const std::string analyst = sim_login(sim_port(), "analyst@acme.test");
  for (const char* target :
       {"/api/v1/users/me/x.css", "/api/v1/users/me/.css", "/api/v1/users/me;x.css",
        "/api/v1/users/me%2Fx.css", "/api/v1/users%2Fme", "/api/v1/risks/..%2Fusers%2Fme",
        "/api/v1/risks/..;/users/me", "/api/v1/risks/%2e%2e/users/me"}) {
    HttpResponse first = get(target, admin);
    HttpResponse second = get(target, analyst);
    EXPECT_NE(x_cache(second), "HIT") << target << "\n" << second.describe();
    EXPECT_EQ(second.body.find("admin@acme.test"), std::string::npos)
        << target << ": the analyst got the admin's data\n"
        << second.body;
    EXPECT_NE(first.status, 200) << target << " is not a route of the API\n" << first.describe();
  }
}

// A query parameter name the key skipped because it was percent-encoded ("%73everity" is "severity" to the
// backend) filtered the list stored for the whole tenant.
TEST_F(HostileSimTest, EncodedQueryNamesCannotPoisonTheUnfilteredList) {
  const std::string admin = sim_login(sim_port(), "admin@acme.test");
  const std::string analyst = sim_login(sim_port(), "analyst@acme.test");
  const std::string plain = "/api/v1/risks?limit=50";
  const std::string expected = get(plain, admin).body;  // fills the entry other tenant members get
  ASSERT_FALSE(expected.empty());

  // Ground truth first: a filter changes the answer.
  HttpResponse filtered = get("/api/v1/risks?limit=50&severity=CRITICAL", admin);
  ASSERT_EQ(filtered.status, 200) << filtered.describe();
  ASSERT_NE(filtered.body, expected) << "pick a filter that changes the list";

  // The same filter, encoded, on a fresh key (another limit) ...
  const std::string fresh = "/api/v1/risks?limit=49";
  HttpResponse attack = get("/api/v1/risks?limit=49&%73everity=CRITICAL", admin);
  ASSERT_EQ(attack.status, 200) << attack.describe();
  // ... must not be what another member of the tenant gets for the unfiltered list.
  HttpResponse victim = get(fresh, analyst);
  ASSERT_EQ(victim.status, 200) << victim.describe();
  EXPECT_NE(x_cache(victim), "HIT") << "the encoded filter filled the unfiltered key\n" << victim.describe();
  EXPECT_NE(victim.body, attack.body);
  // And the encoded spelling shares the entry of the plain one: the key reads names as the backend does.
  HttpResponse plain_filter = get("/api/v1/risks?limit=49&severity=CRITICAL", analyst);
  EXPECT_EQ(x_cache(plain_filter), "HIT") << plain_filter.describe();
  EXPECT_EQ(plain_filter.body, attack.body);
}

}  // namespace
}  // namespace orc::test
