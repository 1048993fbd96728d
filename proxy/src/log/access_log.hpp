// The access-log record of one request and its rendering (text or JSON), with query values redacted.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace orc::log {

struct AccessRecord {
  std::string_view client;  // peer address
  std::string_view method;
  std::string_view target;  // as received; redacted when rendered
  unsigned status = 0;
  std::uint64_t bytes_sent = 0;  // response body bytes written to the client
  std::chrono::microseconds total{0};
  std::chrono::microseconds upstream{0};  // zero when the backend was not asked
  std::string_view request_id;
  std::string_view outcome;      // closed enum: "proxied", "rejected", "upstream_error", "client_gone"
  std::string_view rule = "-";   // the rulebook rule that matched
  std::string_view cache = "-";  // closed enum: hit, miss, stale, bypass, pass, purge
};

// Replaces the values of the named query parameters with REDACTED (names compared case-insensitively).
std::string redact_target(std::string_view target, const std::vector<std::string>& names);

std::string format_access(const AccessRecord& r, const std::vector<std::string>& redact,
                          config::LogFormat format);

// Writes the record to the access logger when the access log is on.
void write_access(const AccessRecord& r, const config::LoggingConfig& cfg);

}  // namespace orc::log
