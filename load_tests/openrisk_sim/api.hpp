// The request and response as the router sees them: plain structs, so handlers and the data layer never
// include Beast (only server.cpp does).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orc::sim {

struct Request {
  std::string method;  // upper case; HEAD is routed like GET
  std::string path;    // without the query string, not percent-decoded
  std::string query;   // raw, without '?'
  std::string authorization;
  std::string cookie;
  std::string csrf_token;  // X-CSRF-Token
  std::string body;
};

enum class BodyKind {
  buffered,   // `body` is the whole body
  sse,        // an event stream for `tenant_id`; `body` is unused
  generated,  // `body` is a prefix, then filler up to `generated_size` bytes in total (exports)
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Set-Cookie
  BodyKind kind = BodyKind::buffered;
  std::uint64_t generated_size = 0;
  std::string tenant_id;      // the tenant whose data this is (SSE subscription, X-Sim-Version)
  std::uint64_t version = 0;  // X-Sim-Version: the tenant's write counter; 0 for data that never changes
};

// Query-string helpers (the router's and the handlers').
std::optional<std::string> query_param(std::string_view query, std::string_view name);
std::string percent_decode(std::string_view s);
std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name);

}  // namespace orc::sim
