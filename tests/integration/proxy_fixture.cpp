// Config writing, daemon start-up and shared checks for the black-box proxy tests.
#include "proxy_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <regex>

#include "support/paths.hpp"

namespace orc::test {

namespace {

void write_section(std::string& out, const char* name, const std::map<std::string, std::string>& keys) {
  if (keys.empty()) return;
  out += std::string(name) + ":\n";
  for (const auto& [key, value] : keys) out += "  " + key + ": " + value + "\n";
}

}  // namespace

std::string ProxyConfig::to_yaml() const {
  std::string out = "listen: " + listen + "\nthreads: " + std::to_string(threads) + "\n";
  write_section(out, "upstream", upstream);
  write_section(out, "limits", limits);
  write_section(out, "timeouts", timeouts);
  write_section(out, "logging", logging);
  return out;
}

std::string daemon_path() {
  // ORC_TEST_DAEMON: another build of the daemon (the ASan and TSan jobs run this suite against theirs).
  if (const char* other = std::getenv("ORC_TEST_DAEMON"); other != nullptr && *other != '\0') return other;
  return built_daemon_path();
}

std::string make_request(std::string_view method, std::string_view target, const HeaderList& headers,
                         std::string_view body) {
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  if (!headers.has("Host")) out += "Host: test.local\r\n";
  out += headers.to_string();
  if (!body.empty() && !headers.has("Content-Length") && !headers.has("Transfer-Encoding"))
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

std::uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

void expect_json_error(const HttpResponse& r, int status) {
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, status) << r.describe();
  auto type = r.headers.get("Content-Type");
  ASSERT_TRUE(type.has_value()) << r.describe();
  EXPECT_EQ(to_lower(*type).rfind("application/json", 0), 0u) << r.describe();
  static const std::regex shape(R"(^\s*\{\s*"error"\s*:\s*true\s*,\s*"msg"\s*:\s*"([^"\\]|\\.)*"\s*\}\s*$)");
  EXPECT_TRUE(std::regex_match(r.body, shape)) << "body: " << r.body;
}

ProxyConfig ProxyTest::config() const {
  ProxyConfig cfg;
  cfg.upstream["url"] = backend_.url();
  return cfg;
}

void ProxyTest::start_proxy(const ProxyConfig& cfg) {
  daemon_ = std::make_unique<DaemonProcess>(daemon_path(), cfg.to_yaml());
  ASSERT_TRUE(daemon_->wait_listening()) << "the daemon never logged 'listening on 127.0.0.1:PORT'\nconfig:\n"
                                         << cfg.to_yaml() << "stderr:\n"
                                         << daemon_->stderr_text();
}

std::optional<LogMatch> ProxyTest::access_line(const HttpResponse& r) {
  auto id = r.headers.get("X-Request-ID");
  if (!id) {
    ADD_FAILURE() << "no X-Request-ID in the response\n" << r.describe();
    return std::nullopt;
  }
  // The access line (text: id=..., JSON: "request_id":"..."), not an info line naming the same request.
  auto line = daemon_->wait_for_log("(id=|\"request_id\":\")" + std::string(*id));
  if (!line) ADD_FAILURE() << "no access line with the request id " << *id;
  return line;
}

void ProxyTest::TearDown() {
  if (HasFailure() && daemon_) {
    std::string err = daemon_->stderr_text();
    constexpr std::size_t kTail = 16 * 1024;
    if (err.size() > kTail) err = "...\n" + err.substr(err.size() - kTail);
    std::cout << "---- daemon stderr ----\n" << err << "---- end of daemon stderr ----\n";
  }
  daemon_.reset();  // before the backend: handlers blocked on the daemon's connections are released
}

}  // namespace orc::test
