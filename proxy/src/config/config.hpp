// The daemon's settings as plain structs. The YAML layer (config_loader) fills them; runtime code never sees
// YAML. Every default lives here, once; docs/configuration.md documents each field.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config/rule_config.hpp"

namespace orc::config {

using Duration = std::chrono::milliseconds;

struct HostPort {
  std::string host;  // numeric IPv4/IPv6 literal or a name
  std::uint16_t port = 0;
  std::string to_string() const;
};

struct UpstreamConfig {
  std::string url = "http://127.0.0.1:8081";
  HostPort target{"127.0.0.1", 8081};        // derived from url
  std::string authority = "127.0.0.1:8081";  // derived from url: the Host sent when the client sent none
  Duration connect_timeout{std::chrono::seconds(2)};
  Duration first_byte_timeout{std::chrono::seconds(30)};
  Duration read_timeout{std::chrono::seconds(60)};
  Duration send_timeout{std::chrono::seconds(30)};
  Duration idle_timeout{std::chrono::seconds(60)};
  std::uint32_t max_idle_connections = 64;
};

// The most any buffer an HTTP parser reads from may hold (the clients', the backend's, the admin listener's):
// Beast's field container throws, out of the event loop that parses, for a field of 64 KiB or more, and no
// header limit of its parser covers a chunk-size line or a trailer section. A buffer this small never holds
// such a field.
inline constexpr std::size_t kMaxReadBuffer = 64 * 1024;
// The most limits.header_bytes may be: the largest head, and one more 4 KiB read of it, fit a client's read
// buffer.
inline constexpr std::uint64_t kMaxHeaderBytes = kMaxReadBuffer - 4096;

// The most limits.request_buffer may be: that much memory per connection reading a body.
inline constexpr std::uint64_t kMaxRequestBuffer = 16 * 1024 * 1024;

struct LimitsConfig {
  std::uint64_t header_bytes = 16 * 1024;
  std::uint32_t header_count = 100;
  std::uint64_t uri_length = 8 * 1024;
  std::uint64_t request_body = 4 * 1024 * 1024;
  std::uint64_t request_buffer = 16 * 1024;  // a body up to this is read whole before the backend is asked
  std::uint32_t max_connections = 10000;
};

struct TimeoutsConfig {
  Duration client_header{std::chrono::seconds(10)};
  Duration keepalive{std::chrono::seconds(75)};
  Duration client_body{std::chrono::seconds(30)};
  Duration client_send{std::chrono::seconds(60)};
  Duration drain{std::chrono::seconds(30)};
};

enum class LogFormat { text, json };

struct LoggingConfig {
  std::string level = "info";
  LogFormat format = LogFormat::text;
  bool access_log = true;
  // Bytes of access lines waiting for the log's writer thread (log/access_writer.hpp); when stderr cannot
  // keep up, lines that do not fit are dropped (counted) rather than slowing requests down.
  std::uint64_t access_log_buffer = 4 * 1024 * 1024;
  std::vector<std::string> redact_query{"token", "access_token", "refresh_token", "password"};
};

struct Config {
  std::string source_file;
  HostPort listen{"0.0.0.0", 8080};
  std::uint32_t threads = 0;  // 0: one per core
  UpstreamConfig upstream;
  LimitsConfig limits;
  TimeoutsConfig timeouts;
  LoggingConfig logging;
  IdentityConfig identity;
  RoutingConfig routing;
  CacheEngineConfig cache;
  RedisConfig redis;
  AdminConfig admin;
  std::vector<RuleConfig> rules;   // in file order, included files at the place of `include`
  std::vector<std::string> files;  // the config file and every included file
  std::string content_sha256;      // of the texts of `files`, as loaded (shown by GET /admin/rules)

  // `threads` resolved against the machine.
  std::uint32_t effective_threads() const;
};

}  // namespace orc::config
