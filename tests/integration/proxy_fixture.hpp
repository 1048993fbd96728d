// The common set-up of the black-box proxy tests: a test backend, the real daemon in front of it (config
// written per test), request building and the checks every proxy-generated error response must pass.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "support/daemon_process.hpp"
#include "support/raw_client.hpp"
#include "support/test_backend.hpp"

namespace orc::test {

// The daemon's config file; every section a map of key -> YAML value written as is.
struct ProxyConfig {
  std::string listen = "127.0.0.1:0";
  int threads = 1;  // one worker: one upstream pool, so connection reuse is deterministic
  std::map<std::string, std::string> upstream;
  std::map<std::string, std::string> limits;
  std::map<std::string, std::string> timeouts;
  std::map<std::string, std::string> logging;

  std::string to_yaml() const;
};

std::string daemon_path();

// A request as bytes: "METHOD target HTTP/1.1", Host: test.local unless `headers` has a Host, then `headers`,
// then Content-Length (when `body` is not empty and no framing header was given) and `body`.
std::string make_request(std::string_view method, std::string_view target, const HeaderList& headers = {},
                         std::string_view body = "");

// A port on 127.0.0.1 where nothing listens (bound, then closed).
std::uint16_t unused_port();

// Checks the proxy's own error shape: the status, Content-Type application/json and
// {"error":true,"msg":"..."}.
void expect_json_error(const HttpResponse& r, int status);

class ProxyTest : public ::testing::Test {
 protected:
  void TearDown() override;

  // The default test config, pointing at backend_.
  ProxyConfig config() const;
  // Starts the daemon and waits until it listens. Use with ASSERT_NO_FATAL_FAILURE.
  void start_proxy(const ProxyConfig& cfg);
  void start_proxy() { start_proxy(config()); }
  std::uint16_t port() const { return daemon_->port(); }

  // The daemon's access log line of the request that `r` answers, found by its X-Request-ID. The line is
  // written once the exchange is over, which also makes it the signal that the upstream connection is idle.
  std::optional<LogMatch> access_line(const HttpResponse& r);

  // A fresh connection, one request, one final response.
  HttpResponse send_request(std::string_view raw, const ReadOptions& options = {}) {
    return roundtrip(port(), raw, options);
  }

  TestBackend backend_;  // declared first: outlives the daemon, whose connections it serves
  std::unique_ptr<DaemonProcess> daemon_;
};

}  // namespace orc::test
