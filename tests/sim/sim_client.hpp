// A small HTTP/1.1 client for the simulator tests: every call has a deadline, so a hung server fails the
// test instead of hanging it. One connection per request; many requests can run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace orc::sim::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string target;
  std::string body;
  Headers headers;
  std::chrono::milliseconds timeout{10000};
};

struct HttpResponse {
  int status = 0;                              // 0 when no response head arrived
  std::map<std::string, std::string> headers;  // lower-case names; repeated headers joined with "\n"
  std::string body;
  std::string error;       // transport or parse error; empty on success
  bool timed_out = false;  // the deadline passed first
  bool truncated = false;  // the connection closed inside the body
  std::string header(const std::string& lower_name) const;
  std::vector<std::string> set_cookies() const;
};

HttpResponse http_call(std::uint16_t port, const HttpRequest& req);
// Runs all requests at once (one connection each) and returns when every one has finished.
std::vector<HttpResponse> http_parallel(std::uint16_t port, const std::vector<HttpRequest>& reqs);

// A streaming GET that keeps reading the body (e.g. SSE) as it arrives.
class StreamReader {
 public:
  StreamReader(std::uint16_t port, const std::string& target, const Headers& headers = {});
  ~StreamReader();
  // Reads until the response head is in; the status, or 0 on error/timeout.
  int wait_head(std::chrono::milliseconds timeout);
  std::string header(const std::string& lower_name) const;
  // Reads until the decoded body received so far contains `needle` after byte `from`; its offset, or empty.
  std::optional<std::size_t> wait_for(const std::string& needle, std::chrono::milliseconds timeout,
                                      std::size_t from = 0);
  const std::string& body() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orc::sim::test
