// Unit tests for config/config_loader: defaults, every section, and errors with file, line and column.
#include "config/config_loader.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace orc::config {
namespace {

using std::chrono::milliseconds;

LoadResult load(const std::string& yaml) {
  return load_config_string(yaml, "test.yaml");
}

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

TEST(ConfigLoader, EmptyFileGivesDocumentedDefaults) {
  auto r = load("");
  ASSERT_TRUE(r.config) << all_errors(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.listen.to_string(), "0.0.0.0:8080");
  EXPECT_EQ(c.limits.header_bytes, 16u * 1024);
  EXPECT_EQ(c.limits.header_count, 100u);
  EXPECT_EQ(c.limits.uri_length, 8u * 1024);
  EXPECT_EQ(c.limits.request_body, 4u * 1024 * 1024);
  EXPECT_EQ(c.limits.request_buffer, 16u * 1024);
  EXPECT_EQ(c.upstream.connect_timeout, milliseconds(2000));
  EXPECT_EQ(c.logging.format, LogFormat::text);
  EXPECT_GE(c.effective_threads(), 1u);
}

TEST(ConfigLoader, ReadsEverySection) {
  auto r = load(R"(
listen: 127.0.0.1:9000
threads: 3
upstream:
  url: http://backend.local:8081
  connect_timeout: 250ms
  first_byte_timeout: 5s
  read_timeout: 1m
  send_timeout: 7s
  idle_timeout: 20s
  max_idle_connections: 8
limits: { header_bytes: 32KiB, header_count: 50, uri_length: 4KiB, request_body: 1MiB, request_buffer: 0, max_connections: 500 }
timeouts: { client_header: 3s, keepalive: 30s, client_body: 9s, client_send: 11s, drain: 0 }
logging: { level: debug, format: json, access_log: false, access_log_buffer: 1MiB, redact_query: [token, sig] }
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.listen.host, "127.0.0.1");
  EXPECT_EQ(c.listen.port, 9000);
  EXPECT_EQ(c.threads, 3u);
  EXPECT_EQ(c.upstream.target.host, "backend.local");
  EXPECT_EQ(c.upstream.target.port, 8081);
  EXPECT_EQ(c.upstream.connect_timeout, milliseconds(250));
  EXPECT_EQ(c.upstream.first_byte_timeout, milliseconds(5000));
  EXPECT_EQ(c.upstream.read_timeout, milliseconds(60000));
  EXPECT_EQ(c.upstream.send_timeout, milliseconds(7000));
  EXPECT_EQ(c.upstream.idle_timeout, milliseconds(20000));
  EXPECT_EQ(c.upstream.max_idle_connections, 8u);
  EXPECT_EQ(c.limits.header_bytes, 32u * 1024);
  EXPECT_EQ(c.limits.header_count, 50u);
  EXPECT_EQ(c.limits.uri_length, 4u * 1024);
  EXPECT_EQ(c.limits.request_body, 1u * 1024 * 1024);
  EXPECT_EQ(c.limits.request_buffer, 0u) << "0 turns request buffering off";
  EXPECT_EQ(c.limits.max_connections, 500u);
  EXPECT_EQ(c.timeouts.client_header, milliseconds(3000));
  EXPECT_EQ(c.timeouts.keepalive, milliseconds(30000));
  EXPECT_EQ(c.timeouts.client_body, milliseconds(9000));
  EXPECT_EQ(c.timeouts.client_send, milliseconds(11000));
  EXPECT_EQ(c.timeouts.drain, milliseconds(0));
  EXPECT_EQ(c.logging.level, "debug");
  EXPECT_EQ(c.logging.format, LogFormat::json);
  EXPECT_FALSE(c.logging.access_log);
  EXPECT_EQ(c.logging.access_log_buffer, 1024u * 1024);
  EXPECT_EQ(c.logging.redact_query, (std::vector<std::string>{"token", "sig"}));
}

TEST(ConfigLoader, UpstreamPortDefaultsTo80) {
  auto r = load("upstream: { url: http://backend }\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->upstream.target.port, 80);
}

TEST(ConfigLoader, UnknownKeyNamesLineColumnAndSuggestion) {
  auto r = load("listen: 127.0.0.1:1\nupstream:\n  url: http://a:1\n  conect_timeout: 2s\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].column, 3);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:4:3: error: unknown key 'upstream.conect_timeout'; did you mean 'connect_timeout'?");
}

TEST(ConfigLoader, ReportsEveryErrorAtOnce) {
  auto r =
      load("listn: 1\nthreads: many\nlimits:\n  header_bytes: lots\ntimeouts:\n  keepalive: 5 minutes\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 4u) << all_errors(r);
  auto text = all_errors(r);
  EXPECT_NE(text.find("test.yaml:1:1: error: unknown key 'listn'; did you mean 'listen'?"), std::string::npos)
      << text;
  EXPECT_NE(text.find("test.yaml:2:10: error: 'threads': expected a whole number"), std::string::npos)
      << text;
  EXPECT_NE(text.find("test.yaml:4:17: error: 'limits.header_bytes': expected a size"), std::string::npos)
      << text;
  EXPECT_NE(text.find("test.yaml:6:14: error: 'timeouts.keepalive': expected a duration"), std::string::npos)
      << text;
}

TEST(ConfigLoader, WrongTypesAreErrors) {
  auto r = load("upstream: [1, 2]\nlogging:\n  redact_query: token\n  access_log: maybe\n");
  ASSERT_FALSE(r.config);
  auto text = all_errors(r);
  EXPECT_NE(text.find("test.yaml:1:11: error: 'upstream' must be a mapping"), std::string::npos) << text;
  EXPECT_NE(text.find("'logging.redact_query': expected a list of strings"), std::string::npos) << text;
  EXPECT_NE(text.find("'logging.access_log': expected true or false, got 'maybe'"), std::string::npos)
      << text;
}

TEST(ConfigLoader, AccessLogBufferIsBounded) {
  EXPECT_EQ(load("upstream: { url: http://a }\n").config->logging.access_log_buffer, 4u * 1024 * 1024);
  EXPECT_EQ(load("upstream: { url: http://a }\nlogging: { access_log_buffer: 64KiB }\n")
                .config->logging.access_log_buffer,
            64u * 1024);
  for (const char* bad : {"0", "65535", "2GiB", "-1MiB", "many"}) {
    auto r = load(std::string("upstream: { url: http://a }\nlogging: { access_log_buffer: ") + bad + " }\n");
    ASSERT_FALSE(r.config) << bad;
    EXPECT_NE(all_errors(r).find("'logging.access_log_buffer': expected a size from 64KiB to 1GiB, got '" +
                                 std::string(bad) + "'"),
              std::string::npos)
        << all_errors(r);
  }
}

TEST(ConfigLoader, BadValuesAreErrors) {
  auto r = load(
      "listen: nowhere\nupstream: { url: 'https://x:1/api' }\nlogging: { level: loud, format: xml }\n"
      "timeouts: { client_header: 0 }\n");
  ASSERT_FALSE(r.config);
  auto text = all_errors(r);
  EXPECT_NE(text.find("test.yaml:1:9: error: 'listen': expected host:port"), std::string::npos) << text;
  EXPECT_NE(text.find("'upstream.url': expected http://host[:port] (no path)"), std::string::npos) << text;
  EXPECT_NE(text.find("'logging.level': expected one of trace"), std::string::npos) << text;
  EXPECT_NE(text.find("'logging.format': expected text or json, got 'xml'"), std::string::npos) << text;
  EXPECT_NE(text.find("'timeouts.client_header': expected a duration greater than zero"), std::string::npos)
      << text;
}

TEST(ConfigLoader, InvalidYamlHasPosition) {
  auto r = load("listen: 1\nupstream: {url: x\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_GT(r.errors[0].line, 0);
  EXPECT_NE(r.errors[0].message.find("invalid YAML"), std::string::npos);
}

// A `,` outside a flow collection stops yaml-cpp's parser: YAML::Load keeps what came before it and drops the
// rest without a word, and YAML::LoadAll never returns (found by fuzz_config: the loader ran out of memory).
// The loader reports it at its place and returns.
TEST(ConfigLoader, AStrayCommaIsAnErrorAtItsPlace) {
  auto first = load(", upstream: {url: http://a:1}\n");
  ASSERT_FALSE(first.config);
  ASSERT_FALSE(first.errors.empty());
  EXPECT_EQ(first.errors[0].to_string(),
            "test.yaml:1:1: error: invalid YAML: unexpected ',' (nothing from here on can be read)");

  auto after = load("{upstream: {url: http://a:1}}\n, threads: 3\n");
  ASSERT_FALSE(after.config) << "threads: 3 would be dropped";
  ASSERT_EQ(after.errors.size(), 1u) << all_errors(after);
  EXPECT_EQ(after.errors[0].line, 2);
  EXPECT_EQ(after.errors[0].column, 1);
}

// yaml-cpp keeps a repeated key and finds the first, and ignores a second document: either would drop what
// the operator wrote without a word. Both are errors at their position.
TEST(ConfigLoader, ARepeatedKeyOrASecondDocumentIsAnError) {
  auto twice = load("upstream:\n  url: http://a:1\nupstream:\n  url: http://a:2\n");
  ASSERT_FALSE(twice.config);
  ASSERT_EQ(twice.errors.size(), 1u) << all_errors(twice);
  EXPECT_EQ(twice.errors[0].to_string(),
            "test.yaml:3:1: error: duplicate key 'upstream' (first at line 1): each key once per mapping");

  auto nested =
      load("upstream: {url: http://a:1}\ntimeouts:\n  drain: 1s\n  client_header: 2s\n  drain: 5s\n");
  ASSERT_FALSE(nested.config);
  ASSERT_EQ(nested.errors.size(), 1u) << all_errors(nested);
  EXPECT_EQ(nested.errors[0].line, 5);
  EXPECT_EQ(nested.errors[0].column, 3);

  auto in_a_list = load("upstream: {url: http://a:1}\nrules:\n  - name: a\n    pass: true\n    name: b\n");
  ASSERT_FALSE(in_a_list.config);
  EXPECT_NE(all_errors(in_a_list).find("test.yaml:5:5: error: duplicate key 'name' (first at line 3)"),
            std::string::npos)
      << all_errors(in_a_list);

  auto second = load("upstream: {url: http://a:1}\n...\n---\nthreads: 3\n");
  ASSERT_FALSE(second.config);
  ASSERT_EQ(second.errors.size(), 1u) << all_errors(second);
  EXPECT_EQ(second.errors[0].line, 4);
  EXPECT_NE(second.errors[0].message.find("a second YAML document"), std::string::npos);

  EXPECT_TRUE(load("upstream: {url: http://a:1}\n---\n").config) << "an empty second document says nothing";
  EXPECT_TRUE(load("upstream: {url: http://a:1}\n---\n...\n---\n~\n").config) << "nor do several";
  // An alias inside its own anchor is a cycle, and aliases of aliases a tree far larger than the file: the
  // walk ends (the keys are then refused as unknown or of the wrong type, not by a stack overflow).
  EXPECT_FALSE(load("upstream: {url: http://a:1}\nx: &a [*a]\n").config);
  EXPECT_FALSE(load("upstream: {url: http://a:1}\nx: &a {b: *a, c: *a}\n").config);
  std::string laughs = "upstream: {url: http://a:1}\nl0: &l0 {a: 1, b: 2}\n";
  for (int i = 1; i < 40; ++i)
    laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [*l" + std::to_string(i - 1) + ", *l" +
              std::to_string(i - 1) + "]\n";
  EXPECT_FALSE(load(laughs).config);
  EXPECT_TRUE(load("upstream: {url: http://a:1}\ntimeouts: {drain: 1s}\nlogging: {level: info}\n").config);
}

TEST(ConfigLoader, UriLimitMustFitInHeaderLimit) {
  auto r = load("limits: { header_bytes: 4KiB, uri_length: 8KiB }\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:1:43: error: 'limits.uri_length' (8KiB) must not exceed 'limits.header_bytes' (4KiB)");
}

// A head over 64 KiB could carry a field value longer than the HTTP parser's field container holds.
TEST(ConfigLoader, TheHeaderLimitIsAtMost60KiB) {
  auto r = load("limits: { header_bytes: 64KiB }\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:1:25: error: 'limits.header_bytes': expected a size from 1B to 60KiB, got '64KiB'");
  EXPECT_TRUE(load("limits: { header_bytes: 60KiB, uri_length: 8KiB }\n").config) << "60KiB is allowed";
}

TEST(ConfigLoader, TheRequestBufferIsAtMost16MiB) {
  auto r = load("limits: { request_buffer: 17MiB }\n");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_NE(r.errors[0].to_string().find("'limits.request_buffer': expected a size from 0B to 16MiB"),
            std::string::npos)
      << all_errors(r);
}

// check refused nothing, and serve then failed to bind: the admin listener on the main listener's port.
TEST(ConfigLoader, TheAdminListenerNeedsAPortOfItsOwn) {
  for (const char* admin : {"127.0.0.1:8080", "0.0.0.0:8080", ":8080"}) {
    auto r = load(std::string("listen: 127.0.0.1:8080\nadmin: { listen: '") + admin + "' }\n");
    ASSERT_EQ(r.errors.size(), 1u) << admin << "\n" << all_errors(r);
    EXPECT_EQ(r.errors[0].line, 2) << all_errors(r);
    EXPECT_NE(r.errors[0].message.find("give the admin listener a port of its own"), std::string::npos);
  }
  EXPECT_TRUE(load("listen: 127.0.0.1:8080\nadmin: { listen: 127.0.0.2:8080 }\n").config);
  EXPECT_TRUE(load("listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\n").config);
  EXPECT_TRUE(load("listen: 127.0.0.1:8080\n").config);
}

TEST(ConfigLoader, SubstitutesEnvironmentVariables) {
  ::setenv("ORC_TEST_UPSTREAM", "http://127.0.0.1:7777", 1);
  auto r = load("upstream: { url: '${ORC_TEST_UPSTREAM}' }\n");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->upstream.target.port, 7777);

  ::unsetenv("ORC_TEST_UNSET_VAR");
  auto bad = load("upstream: { url: '${ORC_TEST_UNSET_VAR}' }\n");
  ASSERT_FALSE(bad.config);
  EXPECT_NE(all_errors(bad).find("environment variable 'ORC_TEST_UNSET_VAR' is not set"), std::string::npos);
}

TEST(ConfigLoader, MissingFileIsAnError) {
  auto r = load_config_file("/nonexistent/openrisk-cache.yaml");
  ASSERT_FALSE(r.config);
  EXPECT_EQ(r.errors[0].to_string(),
            "/nonexistent/openrisk-cache.yaml: error: cannot read the config file: cannot open: No such file "
            "or directory");
}

TEST(ParseHostPort, Forms) {
  EXPECT_EQ(parse_host_port("127.0.0.1:80")->to_string(), "127.0.0.1:80");
  EXPECT_EQ(parse_host_port(":8080")->to_string(), "0.0.0.0:8080");
  EXPECT_EQ(parse_host_port("[::1]:8080")->to_string(), "[::1]:8080");
  EXPECT_FALSE(parse_host_port("::1:8080"));
  EXPECT_FALSE(parse_host_port("host:70000"));
  EXPECT_FALSE(parse_host_port("host"));
  EXPECT_FALSE(parse_host_port("host:"));
  EXPECT_FALSE(parse_host_port("user@host:80")) << "no userinfo in a listen address";
  EXPECT_FALSE(parse_host_port("host:8a"));
  EXPECT_FALSE(parse_host_port("[v1.x]:80"));
}

}  // namespace
}  // namespace orc::config
