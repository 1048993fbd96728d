// Command-line parsing for openrisk-sim: every flag is declared once, in parse_options, and in usage_text.
#include "openrisk_sim/sim_options.hpp"

#include <charconv>
#include <optional>

#include "openrisk_sim/text.hpp"

namespace orc::sim {
namespace {

std::optional<long long> parse_int(std::string_view s, long long lo, long long hi) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

std::optional<RouteClass> parse_class(std::string_view s) {
  for (auto c :
       {RouteClass::health, RouteClass::auth, RouteClass::read, RouteClass::write, RouteClass::stream})
    if (s == route_class_name(c)) return c;
  return std::nullopt;
}

// "CLASS=DUR" or "CLASS=DUR/JITTER".
std::optional<std::pair<RouteClass, LatencySpec>> parse_class_latency(std::string_view s) {
  auto eq = s.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  auto cls = parse_class(s.substr(0, eq));
  if (!cls) return std::nullopt;
  std::string_view rest = s.substr(eq + 1);
  LatencySpec spec;
  auto slash = rest.find('/');
  auto base = parse_duration(rest.substr(0, slash));
  if (!base) return std::nullopt;
  spec.base = *base;
  if (slash != std::string_view::npos) {
    auto j = parse_duration(rest.substr(slash + 1));
    if (!j) return std::nullopt;
    spec.jitter = *j;
  }
  return std::make_pair(*cls, spec);
}

}  // namespace

const char* route_class_name(RouteClass c) {
  switch (c) {
    case RouteClass::health:
      return "health";
    case RouteClass::auth:
      return "auth";
    case RouteClass::read:
      return "read";
    case RouteClass::write:
      return "write";
    case RouteClass::stream:
      return "stream";
    case RouteClass::sim:
      return "sim";
  }
  return "?";
}

LatencySpec latency_for(const SimOptions& o, RouteClass c) {
  if (c == RouteClass::sim) return {};
  auto it = o.class_latency.find(c);
  return it != o.class_latency.end() ? it->second : o.latency;
}

ParseResult parse_options(const std::vector<std::string>& args) {
  SimOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "-h" || flag == "--help") return HelpRequested{};
    if (i + 1 >= args.size()) return ParseError{"unknown flag or missing value: " + flag};
    const std::string& v = args[++i];
    auto bad = [&] { return ParseError{"invalid value for " + flag + ": '" + v + "'"}; };
    if (flag == "--listen") {
      auto colon = v.rfind(':');
      if (colon == std::string::npos) return bad();
      auto port = parse_int(std::string_view(v).substr(colon + 1), 0, 65535);
      if (!port) return bad();
      o.listen_host = v.substr(0, colon);
      o.listen_port = static_cast<std::uint16_t>(*port);
    } else if (flag == "--threads") {
      auto n = parse_int(v, 1, 64);
      if (!n) return bad();
      o.threads = static_cast<int>(*n);
    } else if (flag == "--jwt-mode") {
      if (v == "rs256")
        o.jwt_mode = JwtMode::rs256;
      else if (v == "hs256")
        o.jwt_mode = JwtMode::hs256;
      else
        return bad();
    } else if (flag == "--jwt-key-out") {
      o.jwt_key_out = v;
    } else if (flag == "--jwt-private-key") {
      if (v.empty()) return bad();
      o.jwt_private_key = v;
    } else if (flag == "--jwt-secret") {
      if (v.empty()) return bad();
      o.jwt_secret = v;
    } else if (flag == "--access-ttl") {
      auto d = parse_duration(v);
      if (!d || *d < std::chrono::seconds(1)) return bad();
      o.access_ttl = std::chrono::duration_cast<std::chrono::seconds>(*d);
    } else if (flag == "--latency" || flag == "--jitter") {
      auto d = parse_duration(v);
      if (!d) return bad();
      (flag == "--latency" ? o.latency.base : o.latency.jitter) = *d;
    } else if (flag == "--class-latency") {
      auto cl = parse_class_latency(v);
      if (!cl) return bad();
      o.class_latency[cl->first] = cl->second;
    } else if (flag == "--seed") {
      auto n = parse_int(v, 0, 0xffffffffLL);
      if (!n) return bad();
      o.seed = static_cast<std::uint32_t>(*n);
    } else if (flag == "--tenants") {
      auto n = parse_int(v, 1, 50);
      if (!n) return bad();
      o.tenants = static_cast<int>(*n);
    } else if (flag == "--members-per-role") {
      auto n = parse_int(v, 1, 100);
      if (!n) return bad();
      o.members_per_role = static_cast<int>(*n);
    } else if (flag == "--risks-per-tenant") {
      auto n = parse_int(v, 0, 20000);
      if (!n) return bad();
      o.risks_per_tenant = static_cast<int>(*n);
    } else if (flag == "--export-size" || flag == "--max-export-size") {
      auto s = parse_size(v);
      if (!s) return bad();
      (flag == "--export-size" ? o.default_export_size : o.max_export_size) = *s;
    } else if (flag == "--sse-keepalive") {
      auto d = parse_duration(v);
      if (!d || *d < std::chrono::seconds(1)) return bad();
      o.sse_keepalive = std::chrono::duration_cast<std::chrono::seconds>(*d);
    } else if (flag == "--sse-queue") {
      auto n = parse_int(v, 1, 1'000'000);
      if (!n) return bad();
      o.sse_queue_limit = static_cast<std::size_t>(*n);
    } else if (flag == "--max-body") {
      auto s = parse_size(v);
      if (!s || *s == 0) return bad();
      o.max_body = static_cast<std::size_t>(*s);
    } else if (flag == "--idle-timeout") {
      auto d = parse_duration(v);
      if (!d || *d < std::chrono::seconds(1)) return bad();
      o.idle_timeout = std::chrono::duration_cast<std::chrono::seconds>(*d);
    } else if (flag == "--log-requests") {
      if (v != "true" && v != "false") return bad();
      o.log_requests = v == "true";
    } else {
      return ParseError{"unknown flag: " + flag};
    }
  }
  if (o.default_export_size > o.max_export_size) return ParseError{"--export-size exceeds --max-export-size"};
  if (!o.jwt_private_key.empty() && o.jwt_mode != JwtMode::rs256)
    return ParseError{"--jwt-private-key needs --jwt-mode rs256"};
  if (o.access_ttl.count() == 0)
    o.access_ttl = o.jwt_mode == JwtMode::rs256 ? std::chrono::seconds(900) : std::chrono::seconds(86400);
  return o;
}

std::string usage_text() {
  return R"(usage: openrisk-sim [--listen HOST:PORT] [options]
  --listen HOST:PORT         address to listen on (default 127.0.0.1:8081; port 0 picks a free port)
  --threads N                io_context threads (default 2)
  --jwt-mode rs256|hs256     HEAD-style RS256 tokens with tenant (default) or Phase 5 HS256 tokens
  --jwt-key-out FILE         write the RS256 public key (PEM) or the HS256 secret to FILE
  --jwt-private-key FILE     sign RS256 tokens with this PEM RSA private key (default: a new key each start)
  --jwt-secret TEXT          HS256 secret (default dev-secret-key)
  --access-ttl DUR           access token lifetime (default 15m rs256, 24h hs256)
  --latency DUR              added delay for every API response (default 0)
  --jitter DUR               uniform +/- jitter around --latency (default 0)
  --class-latency C=DUR[/J]  override for one route class: health, auth, read, write, stream (repeatable)
  --seed N                   seed of the deterministic data generator (default 1)
  --tenants N                number of tenants (default 3: acme, globex, initech)
  --risks-per-tenant N       seeded risks per tenant (default 300)
  --members-per-role N       analyst, viewer and auditor members per tenant: ROLE@S.test, then ROLE-2@S.test
                             ... ROLE-N@S.test (default 1)
  --export-size SIZE         default body size of /export/pdf (default 1MiB)
  --max-export-size SIZE     largest size /export/pdf accepts (default 1GiB)
  --sse-keepalive DUR        interval of ': keepalive' comments on SSE streams (default 20s)
  --sse-queue N              frames queued per SSE subscriber before it is dropped (default 256)
  --max-body SIZE            request body limit (default 1MiB)
  --idle-timeout DUR         keep-alive idle timeout (default 60s)
  --log-requests true|false  one log line per request (default false)
)";
}

}  // namespace orc::sim
