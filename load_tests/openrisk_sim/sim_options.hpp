// Command-line options of openrisk-sim, parsed into a plain struct before anything starts.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace orc::sim {

// Route classes share one latency setting each; /__sim routes are never delayed.
enum class RouteClass { health, auth, read, write, stream, sim };
const char* route_class_name(RouteClass c);

struct LatencySpec {
  std::chrono::milliseconds base{0};
  std::chrono::milliseconds jitter{0};
};

enum class JwtMode { rs256, hs256 };

struct SimOptions {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8081;
  int threads = 2;
  JwtMode jwt_mode = JwtMode::rs256;
  std::string jwt_key_out;                    // public key PEM (rs256) or secret (hs256); empty: not written
  std::string jwt_private_key;                // rs256 signing key (PEM file); empty: generated at startup
  std::string jwt_secret = "dev-secret-key";  // P5's default JWT_SECRET
  std::chrono::seconds access_ttl{0};         // 0: the mode's default (15 min rs256, 24 h hs256)
  LatencySpec latency;                        // every API route unless its class overrides it
  std::map<RouteClass, LatencySpec> class_latency;
  std::uint32_t seed = 1;
  int tenants = 3;
  int risks_per_tenant = 300;
  int members_per_role = 1;  // analyst, viewer and auditor members of each tenant (benchmarks: many users)
  std::uint64_t default_export_size = 1024 * 1024;
  std::uint64_t max_export_size = 1024ull * 1024 * 1024;
  std::chrono::seconds sse_keepalive{20};
  std::size_t sse_queue_limit = 256;  // frames queued for one slow subscriber before it is dropped
  std::size_t sse_max_subscribers = 1024;
  std::size_t max_body = 1024 * 1024;
  std::size_t max_header = 16 * 1024;
  std::chrono::seconds idle_timeout{60};
  bool log_requests = false;
};

LatencySpec latency_for(const SimOptions& o, RouteClass c);

struct ParseError {
  std::string message;
};
struct HelpRequested {};
using ParseResult = std::variant<SimOptions, ParseError, HelpRequested>;

ParseResult parse_options(const std::vector<std::string>& args);
std::string usage_text();

}  // namespace orc::sim
