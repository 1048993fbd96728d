// The daemon's lifecycle: load the config, serve, reload on SIGHUP, drain on SIGTERM / SIGINT.
#include "app/app.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <iostream>

#include "config/config_loader.hpp"
#include "http/server.hpp"
#include "log/logging.hpp"
#include "util/units.hpp"

namespace orc::app {

namespace asio = boost::asio;

namespace {

void print_errors(const std::vector<config::Diagnostic>& errors) {
  for (const auto& e : errors) std::cerr << e.to_string() << '\n';
  std::cerr << errors.size() << (errors.size() == 1 ? " error" : " errors") << " in the configuration\n";
}

void reload(const std::string& path, http::Server& server) {
  auto result = config::load_config_file(path);
  if (!result.config) {
    for (const auto& e : result.errors) spdlog::error("reload: {}", e.to_string());
    spdlog::error("reload failed with {} error(s); keeping the previous configuration", result.errors.size());
    return;
  }
  auto old = server.current_config();
  auto next = std::make_shared<const config::Config>(std::move(*result.config));
  if (next->listen.to_string() != old->listen.to_string() || next->threads != old->threads)
    spdlog::warn("reload: 'listen' and 'threads' take effect only after a restart");
  log::init(next->logging);
  server.update_config(next);
  spdlog::info("configuration reloaded from {}", path);
}

void wait_for_signals(asio::signal_set& signals, const std::string& path, http::Server& server) {
  signals.async_wait([&signals, &path, &server](boost::system::error_code ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      spdlog::info("SIGHUP received: reloading {}", path);
      reload(path, server);
      wait_for_signals(signals, path, server);
      return;
    }
    spdlog::info("shutdown requested ({}): draining connections for up to {}",
                 signo == SIGINT ? "SIGINT" : "SIGTERM",
                 util::format_duration(server.current_config()->timeouts.drain));
    server.begin_shutdown();
    server.main_context().stop();
  });
}

}  // namespace

int check(const std::string& config_path) {
  auto result = config::load_config_file(config_path);
  if (!result.config) {
    print_errors(result.errors);
    return 1;
  }
  std::cout << config_path << ": ok\n";
  return 0;
}

int serve(const std::string& config_path) {
  log::init_bootstrap();
  auto result = config::load_config_file(config_path);
  if (!result.config) {
    print_errors(result.errors);
    return 1;
  }
  auto cfg = std::make_shared<const config::Config>(std::move(*result.config));
  log::init(cfg->logging);
  std::signal(SIGPIPE, SIG_IGN);

  http::Server server(cfg);
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}: {}", cfg->listen.to_string(), e.what());
    return 1;
  }
  asio::signal_set signals(server.main_context(), SIGINT, SIGTERM, SIGHUP);
  wait_for_signals(signals, config_path, server);
  spdlog::info("openrisk-cache {} listening on {} with {} worker thread(s), upstream {}", ORC_VERSION,
               server.bound_address().to_string(), cfg->effective_threads(), cfg->upstream.url);

  server.main_context().run();
  bool drained = server.wait_drained();
  spdlog::info("shutdown complete{}", drained ? "" : " (drain timeout reached)");
  return 0;
}

}  // namespace orc::app
