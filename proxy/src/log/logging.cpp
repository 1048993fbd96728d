// spdlog setup. JSON mode escapes the message through a custom pattern flag so every line is valid JSON.
#include "log/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>

#include "util/strings.hpp"

namespace orc::log {
namespace {

// %* : the log message, escaped for a JSON string.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    auto escaped = util::json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// Each logger needs a sink of its own (a formatter belongs to the sink); console sinks share one mutex, so
// lines of the two loggers never interleave.
std::shared_ptr<spdlog::sinks::stderr_sink_mt> new_sink() {
  return std::make_shared<spdlog::sinks::stderr_sink_mt>();
}

// Built once, before any worker runs (init_bootstrap, or the first init): a reload only changes their
// level, format and whether access lines are written. spdlog forbids replacing the default logger while
// other threads log through it (they hold its raw pointer), and a sink's formatter is swapped under the
// sink's own mutex.
std::shared_ptr<spdlog::logger> g_main;
std::shared_ptr<spdlog::logger> g_access;
std::atomic<bool> g_access_on{false};

std::unique_ptr<spdlog::formatter> make_formatter(config::LogFormat format, bool access) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (format == config::LogFormat::json) {
    f->add_flag<JsonMessageFlag>('*');
    // Access lines carry their own JSON fields (see access_log.cpp); other lines a "msg" string.
    f->set_pattern(access ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"access",%v})"
                          : R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%*"})");
  } else {
    f->set_pattern(access ? "%Y-%m-%dT%H:%M:%S.%e%z [access] %v" : "%Y-%m-%dT%H:%M:%S.%e%z [%l] %v");
  }
  return f;
}

}  // namespace

void init_bootstrap() {
  if (g_main) return;
  g_main = std::make_shared<spdlog::logger>("main", new_sink());
  g_main->set_formatter(make_formatter(config::LogFormat::text, false));
  g_main->set_level(spdlog::level::info);
  spdlog::set_default_logger(g_main);
}

void init(const config::LoggingConfig& cfg) {
  init_bootstrap();  // the first call builds the loggers; later ones (reloads) only change them
  if (!g_access) {
    g_access = std::make_shared<spdlog::logger>("access", new_sink());
    g_access->set_level(spdlog::level::info);
    g_access->flush_on(spdlog::level::info);
  }
  g_main->set_formatter(make_formatter(cfg.format, false));
  g_main->set_level(spdlog::level::from_str(cfg.level));
  g_main->flush_on(spdlog::level::trace);
  g_access->set_formatter(make_formatter(cfg.format, true));
  g_access_on.store(cfg.access_log, std::memory_order_relaxed);
}

spdlog::logger* access_logger() {
  return g_access_on.load(std::memory_order_relaxed) ? g_access.get() : nullptr;
}

}  // namespace orc::log
