// The daemon's lifecycle: load the config, serve, reload on SIGHUP, drain on SIGTERM / SIGINT.
#include "app/app.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <functional>
#include <iostream>
#include <thread>
#include <tuple>

#include "admin/admin_server.hpp"
#include "app/background_load.hpp"
#include "app/explain.hpp"
#include "app/loaded_config.hpp"
#include "cache/l1_cache.hpp"
#include "cache/memory_storage.hpp"
#include "cache/redis_storage.hpp"
#include "http/server.hpp"
#include "log/logging.hpp"
#include "metrics/metrics.hpp"
#include "redis/purge_listener.hpp"
#include "redis/redis_url.hpp"
#include "redis/sentinel.hpp"
#include "util/allocator.hpp"
#include "util/units.hpp"

namespace orc::app {

namespace asio = boost::asio;

namespace {

void print_diagnostics(const Loaded& loaded, std::ostream& out) {
  std::vector<config::Diagnostic> all = loaded.errors;
  all.insert(all.end(), loaded.warnings.begin(), loaded.warnings.end());
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  for (const auto& d : all) out << d.to_string() << '\n';
  if (!loaded.errors.empty())
    out << loaded.errors.size() << (loaded.errors.size() == 1 ? " error" : " errors")
        << " in the configuration\n";
}

std::shared_ptr<const http::Runtime> runtime_of(const Loaded& loaded) {
  return http::make_runtime(loaded.config, loaded.rulebook, loaded.verifier);
}

// Redis behind Sentinel (redis.sentinel): one watcher per process names the master to every connection. It
// asks the sentinels once before the workers start (each wait bounded by redis.connect_timeout), so that
// the first requests find the master; without an answer the cache is bypassed until one comes.
struct Sentinel {
  std::shared_ptr<redis::MasterSource> master;
  std::unique_ptr<redis::SentinelWatcher> watcher;
};
Sentinel start_sentinel(const config::Config& cfg) {
  Sentinel out;
  const auto& s = cfg.redis.sentinel;
  if (!cfg.redis.enabled || s.master.empty()) return out;
  redis::SentinelWatcher::Options o;
  o.master = s.master;
  for (const auto& node : s.nodes) {
    auto hp = config::parse_host_port(node);  // validated by load_all
    o.nodes.emplace_back(hp->host, hp->port);
  }
  o.password = s.password;
  o.connect_timeout = cfg.redis.connect_timeout;
  out.master = std::make_shared<redis::MasterSource>();
  out.watcher = std::make_unique<redis::SentinelWatcher>(std::move(o), out.master);
  if (!out.watcher->ask_once())
    spdlog::warn("redis sentinel: no sentinel named master '{}' yet: the cache is bypassed until one does",
                 s.master);
  out.watcher->start();
  return out;
}

// Storage is chosen once at start (a reload does not move the cache): Redis when configured, one pool per
// worker; otherwise one in-process store shared by all workers.
http::StorageFactory storage_factory(const config::Config& cfg,
                                     std::shared_ptr<const redis::MasterSource> master) {
  const auto max_fill = cfg.cache.max_fill;
  if (cfg.redis.enabled) {
    auto redis = cfg.redis;
    auto endpoint = redis::parse_redis_url(redis.url);  // validated by load_all; never log the password
    if (!redis.cluster.empty())
      spdlog::info("cache storage: redis cluster from {} seed node(s) (prefix '{}')", redis.cluster.size(),
                   redis.key_prefix);
    else if (master)
      spdlog::info("cache storage: redis master '{}' from {} sentinel(s), db {} (prefix '{}')",
                   redis.sentinel.master, redis.sentinel.nodes.size(), endpoint->db, redis.key_prefix);
    else
      spdlog::info("cache storage: redis {}, db {} (prefix '{}')", endpoint->where(), endpoint->db,
                   redis.key_prefix);
    metrics::Metrics::get().set_storage("redis");
    metrics::Metrics::get().enable_redis_topology(!redis.cluster.empty(), master != nullptr);
    return [redis, max_fill, master](asio::any_io_executor ex) -> std::shared_ptr<cache::Storage> {
      return std::make_shared<cache::RedisStorage>(ex, redis, max_fill, master);
    };
  }
  auto memory = std::make_shared<cache::MemoryStorage>(cfg.cache.memory_budget, nullptr, max_fill);
  spdlog::info("cache storage: memory ({} budget, this process only)",
               util::format_size(cfg.cache.memory_budget));
  metrics::Metrics::get().set_storage("memory");
  metrics::Metrics::get().set_redis_up(true);  // nothing that could be unreachable
  return [memory](asio::any_io_executor) -> std::shared_ptr<cache::Storage> { return memory; };
}

// The L1 in front of Redis (cache.l1_budget > 0 with a redis section), and the listener that keeps it in
// step with every instance's purges: it is on only while the listener is subscribed. Like the storage, it
// is set up once at start.
std::unique_ptr<redis::PurgeListener> start_l1(const config::Config& cfg, http::Server& server,
                                               std::shared_ptr<const redis::MasterSource> master) {
  auto& m = metrics::Metrics::get();
  m.set_l1_up(false);
  if (!cfg.redis.enabled || cfg.cache.l1_budget == 0) return nullptr;
  auto l1 = std::make_shared<cache::L1Cache>(
      cfg.cache.l1_budget, cfg.cache.l1_max_age,
      [&m](std::size_t bytes, std::size_t entries) { m.set_l1_size(bytes, entries); });
  server.set_l1(l1);
  redis::PurgeListener::Options o;
  o.endpoint = *redis::parse_redis_url(cfg.redis.url);  // validated by load_all
  o.channel = cache::purge_channel(cfg.redis.key_prefix);
  o.connect_timeout = cfg.redis.connect_timeout;
  o.master = std::move(master);
  for (const auto& node : cfg.redis.cluster) {
    auto hp = config::parse_host_port(node);  // validated by load_all
    o.nodes.emplace_back(hp->host, hp->port);
  }
  redis::PurgeListener::Hooks hooks;
  hooks.subscribed = [l1, &m] {
    l1->enable();
    m.set_l1_up(true);
  };
  hooks.lost = [l1, &m] {
    if (l1->enabled())
      spdlog::warn("purge listener: lost the Redis subscription: the L1 is off until it is back");
    l1->disable();
    m.set_l1_up(false);
  };
  // Another instance's purge (or this one's, echoed): the L1 forgets the tags, and the fetches in flight
  // for them take no new followers.
  hooks.purged = [l1, &server](std::vector<std::string> tags) {
    l1->invalidate(tags);
    server.coalescer().seal(tags);
  };
  std::unique_ptr<redis::PurgeListener> listener;
  try {
    listener = std::make_unique<redis::PurgeListener>(std::move(o), std::move(hooks));
    listener->start();
  } catch (const std::exception& e) {
    spdlog::error("cache L1: cannot start the purge listener ({}): running without the L1", e.what());
    server.set_l1(nullptr);
    return nullptr;
  }
  spdlog::info("cache L1: {} budget, entries re-read from Redis after {}; on once subscribed to '{}'",
               util::format_size(cfg.cache.l1_budget), util::format_duration(cfg.cache.l1_max_age),
               cache::purge_channel(cfg.redis.key_prefix));
  return listener;
}

// The settings read once at start (the listener, the workers, the storage, the L1, the admin listener) that
// differ in `next`: a reload that changes one is refused. docs/configuration.md lists them.
std::vector<std::string> fixed_at_start_changes(const config::Config& old, const config::Config& next) {
  std::vector<std::string> out;
  auto check = [&out](bool changed, const char* name) {
    if (changed) out.emplace_back(name);
  };
  check(next.listen.to_string() != old.listen.to_string(), "listen");
  check(next.threads != old.threads, "threads");
  check(next.redis.enabled != old.redis.enabled || next.redis.url != old.redis.url ||
            next.redis.key_prefix != old.redis.key_prefix || next.redis.pool_size != old.redis.pool_size ||
            next.redis.connect_timeout != old.redis.connect_timeout ||
            next.redis.command_timeout != old.redis.command_timeout ||
            next.redis.sentinel != old.redis.sentinel || next.redis.cluster != old.redis.cluster ||
            next.redis.wait_replicas != old.redis.wait_replicas,
        "redis");
  check(next.cache.memory_budget != old.cache.memory_budget, "cache.memory_budget");
  check(next.cache.l1_budget != old.cache.l1_budget || next.cache.l1_max_age != old.cache.l1_max_age,
        "cache.l1_*");
  // A purge's generation must outlive the fills that raced with it (cache/storage.hpp).
  check(next.cache.max_fill != old.cache.max_fill, "cache.max_fill");
  check(next.admin.listen != old.admin.listen, "admin.listen");
  return out;
}

// SIGHUP and POST /admin/reload, once BackgroundLoad has read `path`: on any error the running
// configuration stays.
admin::ReloadOutcome apply_reload(const std::string& path, const Loaded& loaded, http::Server& server) {
  admin::ReloadOutcome outcome;
  for (const auto& e : loaded.errors) outcome.errors.push_back(e.to_string());
  for (const auto& w : loaded.warnings) outcome.warnings.push_back(w.to_string());
  if (!loaded.ok()) {
    for (const auto& e : outcome.errors) spdlog::error("reload: {}", e);
    spdlog::error("reload failed with {} error(s); keeping the previous configuration", loaded.errors.size());
    metrics::Metrics::get().reload(false);
    return outcome;
  }
  auto old = server.current_config();
  auto next = loaded.config;
  // Never half: a setting read only at start that changed refuses the whole reload, rather than running a
  // configuration that is neither the old file nor the new one.
  if (auto fixed = fixed_at_start_changes(*old, *next); !fixed.empty()) {
    std::string names;
    for (const auto& f : fixed) names += (names.empty() ? "" : ", ") + f;
    outcome.errors.push_back(path + ": " + names +
                             " changed: read only at start; restart the daemon to apply, or put the running "
                             "values back to reload the rest");
    spdlog::error("reload: {}", outcome.errors.back());
    spdlog::error("reload refused; keeping the previous configuration");
    metrics::Metrics::get().reload(false);
    return outcome;
  }
  outcome.ok = true;
  for (const auto& w : loaded.warnings) spdlog::warn("reload: {}", w.to_string());
  log::init(next->logging);
  server.update_runtime(runtime_of(loaded));
  metrics::Metrics::get().reload(true);
  spdlog::info("configuration reloaded from {}", path);
  return outcome;
}

// Reads the file off the main thread, then applies it on the main thread; `reply` gets the outcome.
void reload(BackgroundLoad& loader, const std::string& path, http::Server& server,
            std::function<void(admin::ReloadOutcome)> reply) {
  if (loader.busy()) spdlog::info("reload: another reload is reading {}; this one follows it", path);
  loader.load([&path, &server, reply = std::move(reply)](Loaded loaded) {
    admin::ReloadOutcome outcome;
    if (server.shutting_down()) {  // the reload that was still reading at shutdown is abandoned
      outcome.errors.push_back("shutting down: the configuration is not reloaded");
      spdlog::info("reload: abandoned, the daemon is shutting down");
    } else {
      outcome = apply_reload(path, loaded, server);
    }
    if (reply) reply(std::move(outcome));
  });
}

// Why a listener could not be opened: the system's message ("Address already in use"), without the source
// location Boost adds to its exceptions' text.
std::string why_not(const std::exception& e) {
  if (const auto* s = dynamic_cast<const boost::system::system_error*>(&e)) return s->code().message();
  return e.what();
}

// The drain after SIGTERM or SIGINT: a thread waits for the workers (Server::wait_drained) while the main
// context keeps serving the admin endpoints (/readyz answers 503) and the signals; it stops the main context
// when the workers are done.
struct Drain {
  std::thread waiter;
  std::atomic<bool> in_time{false};
  ~Drain() {
    if (waiter.joinable()) waiter.join();
  }
};

void wait_for_signals(asio::signal_set& signals, BackgroundLoad& loader, const std::string& path,
                      http::Server& server, Drain& drain) {
  signals.async_wait([&signals, &loader, &path, &server, &drain](boost::system::error_code ec, int signo) {
    if (ec) return;
    const char* name = signo == SIGHUP ? "SIGHUP" : signo == SIGINT ? "SIGINT" : "SIGTERM";
    if (signo == SIGHUP && !server.shutting_down()) {
      spdlog::info("SIGHUP received: reloading {}", path);
      reload(loader, path, server, {});
    } else if (signo == SIGHUP) {
      spdlog::info("SIGHUP received while shutting down: ignored");
    } else if (server.shutting_down()) {
      spdlog::warn("{} received again while draining: closing every connection now", name);
      server.cut_drain();
    } else {
      spdlog::info("shutdown requested ({}): draining connections for up to {} (send it again to stop now)",
                   name, util::format_duration(server.current_config()->timeouts.drain));
      if (loader.busy()) spdlog::warn("shutdown: abandoning the reload that is still reading {}", path);
      server.begin_shutdown();
      drain.waiter = std::thread([&server, &drain] {
        drain.in_time = server.wait_drained();
        asio::post(server.main_context(), [&server] { server.main_context().stop(); });
      });
    }
    wait_for_signals(signals, loader, path, server, drain);
  });
}

}  // namespace

int check(const std::string& config_path) {
  auto loaded = load_all(config_path);
  print_diagnostics(loaded, std::cerr);
  if (!loaded.ok()) return 1;
  std::cout << config_path << ": ok, " << loaded.rulebook->rules().size() << " rules";
  if (!loaded.warnings.empty()) std::cout << ", " << loaded.warnings.size() << " warning(s)";
  std::cout << '\n';
  return 0;
}

int explain(const std::string& config_path, const ExplainRequest& req) {
  auto loaded = load_all(config_path);
  if (!loaded.ok()) {
    print_diagnostics(loaded, std::cerr);
    return 1;
  }
  return app::explain(loaded, req, std::cout);
}

int serve(const std::string& config_path) {
  // SIGTERM, SIGINT and SIGHUP wait (pending) until their handler is set, below: a signal sent while the
  // daemon starts (systemd's reload right after the start) must not kill it. Every thread started from here
  // inherits the mask; the main thread takes them once they are handled.
  sigset_t handled;
  sigemptyset(&handled);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, s);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  util::tune_allocator();  // before any thread starts (util/allocator.hpp)
  log::init_bootstrap();
  auto loaded = load_all(config_path);
  if (!loaded.ok()) {
    print_diagnostics(loaded, std::cerr);
    return 1;
  }
  auto cfg = loaded.config;
  log::init(cfg->logging);
  // On every way out of serve() (declared before the server, it runs after the workers are joined): the
  // access lines still buffered are written while everything they need exists, not by a static destructor.
  struct FlushLogsOnReturn {
    ~FlushLogsOnReturn() { log::shutdown(); }
  } flush_logs_on_return;
  for (const auto& w : loaded.warnings) spdlog::warn("{}", w.to_string());
  std::signal(SIGPIPE, SIG_IGN);

  auto sentinel = start_sentinel(*cfg);
  http::Server server(runtime_of(loaded), storage_factory(*cfg, sentinel.master));
  auto listener = start_l1(*cfg, server, sentinel.master);
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}: {}", cfg->listen.to_string(), why_not(e));
    return 1;
  }
  BackgroundLoad loader(server.main_context(), config_path);
  Drain drain;  // (after the server, which its thread uses: destroyed, so joined, before it)
  asio::signal_set signals(server.main_context(), SIGINT, SIGTERM, SIGHUP);
  wait_for_signals(signals, loader, config_path, server, drain);
  pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);  // those sent meanwhile are handled now
  admin::AdminServer admin(server.main_context(), server,
                           [&](std::function<void(admin::ReloadOutcome)> reply) {
                             reload(loader, config_path, server, std::move(reply));
                           });
  auto admin_listen = config::parse_host_port(cfg->admin.listen);
  try {
    admin.start(*admin_listen);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {} (admin.listen): {}", cfg->admin.listen, why_not(e));
    server.begin_shutdown();
    server.wait_drained();
    return 1;
  }
  spdlog::info("admin endpoints on {} (metrics, health; admin API {})", admin.bound_address().to_string(),
               cfg->admin.token.empty() ? "off: no admin.token" : "on");
  spdlog::info("openrisk-cache {} listening on {} with {} worker thread(s), upstream {}, allocator {}",
               ORC_VERSION, server.bound_address().to_string(), cfg->effective_threads(), cfg->upstream.url,
               util::allocator_name());

  server.main_context().run();
  if (drain.waiter.joinable()) drain.waiter.join();
  spdlog::info("shutdown complete{}", drain.in_time ? "" : " (drain timeout reached or cut short)");
  return 0;
}

}  // namespace orc::app
