// openrisk-sim: a stand-in for the OpenRisk backend (tests, demo, load). main only parses flags and wires.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "openrisk_sim/auth_sessions.hpp"
#include "openrisk_sim/faults.hpp"
#include "openrisk_sim/jwt.hpp"
#include "openrisk_sim/request_counters.hpp"
#include "openrisk_sim/router.hpp"
#include "openrisk_sim/server.hpp"
#include "openrisk_sim/sim_options.hpp"
#include "openrisk_sim/sse_hub.hpp"
#include "openrisk_sim/store.hpp"

namespace {

// Written to a temp name and renamed, so a reader never sees half a key.
void write_key(const std::string& path, const std::string& material) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << material;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

// The whole file (a PEM key); empty for an empty path.
std::string read_file(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw std::runtime_error("cannot read " + path);
  if (text.empty()) throw std::runtime_error("cannot read " + path + " (missing or empty)");
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace orc::sim;
  auto logger = spdlog::stderr_logger_mt("openrisk-sim");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");

  ParseResult parsed = parse_options(std::vector<std::string>(argv + 1, argv + argc));
  if (std::holds_alternative<HelpRequested>(parsed)) {
    std::cout << usage_text();
    return 0;
  }
  if (auto* err = std::get_if<ParseError>(&parsed)) {
    std::cerr << "openrisk-sim: " << err->message << "\n" << usage_text();
    return 2;
  }
  const SimOptions& opts = std::get<SimOptions>(parsed);

  try {
    auto jwt = opts.jwt_mode == JwtMode::rs256 ? JwtCodec::make_rs256(read_file(opts.jwt_private_key))
                                               : JwtCodec::make_hs256(opts.jwt_secret);
    if (!opts.jwt_key_out.empty()) write_key(opts.jwt_key_out, jwt->key_material());
    Store store(SeedConfig{opts.seed, opts.tenants, opts.risks_per_tenant, opts.members_per_role});
    RefreshSessions sessions;
    SseHub hub(opts.sse_max_subscribers);
    FaultTable faults;
    RequestCounters counters(Router::route_names());
    store.set_mitigation_listener(
        [&hub](const MitigationEvent& e) { hub.publish(e.tenant_id, e.type, e.json); });
    SimContext ctx{opts, store, *jwt, sessions, hub, faults, counters};
    Router router(ctx);
    SimServer server(ctx, router);
    std::uint16_t port = server.listen(opts.listen_host, opts.listen_port);
    spdlog::info("listening on {}:{} (jwt {}, {} tenants x {} risks, {} threads)", opts.listen_host, port,
                 opts.jwt_mode == JwtMode::rs256 ? "rs256" : "hs256", opts.tenants, opts.risks_per_tenant,
                 opts.threads);
    server.run(opts.threads);
    spdlog::info("stopped");
  } catch (const std::exception& e) {
    spdlog::error("openrisk-sim: {}", e.what());
    return 1;
  }
  return 0;
}
