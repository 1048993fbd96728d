// Shared helpers of the black-box suites: one simulator per suite, reset before each test, and login.
#pragma once

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <memory>
#include <string>

#include "sim_client.hpp"
#include "sim_process.hpp"

namespace orc::sim::test {

inline boost::json::value parse_json(const std::string& s) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(s, ec);
  if (ec) ADD_FAILURE() << "not JSON: " << s.substr(0, 200);
  return v;
}

inline std::uint64_t sim_version(const HttpResponse& r) {
  std::string v = r.header("x-sim-version");
  EXPECT_FALSE(v.empty()) << "no X-Sim-Version";
  return v.empty() ? 0 : std::stoull(v);
}

inline Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

inline HttpResponse get(std::uint16_t port, const std::string& target, const Headers& h = {}) {
  return http_call(port, HttpRequest{"GET", target, "", h});
}

inline HttpResponse send(std::uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body, const Headers& h = {}) {
  return http_call(port, HttpRequest{method, target, body, h});
}

inline HttpResponse login_response(std::uint16_t port, const std::string& email,
                                   const std::string& password = "sim-password") {
  return send(port, "POST", "/api/v1/auth/login",
              "{\"email\":\"" + email + "\",\"password\":\"" + password + "\"}");
}

// The access token of a HEAD-mode (RS256) login.
inline std::string login(std::uint16_t port, const std::string& email) {
  HttpResponse r = login_response(port, email);
  EXPECT_EQ(r.status, 200) << r.body;
  if (r.status != 200) return {};
  return std::string(parse_json(r.body).at("token_pair").at("access_token").as_string());
}

// One simulator per suite (startup generates an RSA key); each test starts from the seed data.
template <class Derived>
class SimSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { sim_ = std::make_unique<SimProcess>(Derived::args()); }
  static void TearDownTestSuite() { sim_.reset(); }
  void SetUp() override {
    HttpResponse r = send(port(), "POST", "/__sim/reset", "");
    ASSERT_EQ(r.status, 200) << r.error;
  }
  static std::uint16_t port() { return sim_->port(); }
  static std::vector<std::string> args() { return {}; }

  static inline std::unique_ptr<SimProcess> sim_;
};

}  // namespace orc::sim::test
