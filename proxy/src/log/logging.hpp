// Process-wide logging setup: spdlog to stderr, text or JSON lines, plus the access logger.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

#include "config/config.hpp"

namespace orc::log {

// Sets up the default logger ("main") and the access logger from the config. The first call (at start,
// before any worker thread) builds them; a later one (a reload, while workers log) changes their level and
// format and turns the access log on or off, and never replaces a logger.
void init(const config::LoggingConfig& cfg);
// Early logging before the config is read: text format, info level. Builds the default logger.
void init_bootstrap();

// The access logger (one line per request); null when the access log is off. It lives as long as the process.
spdlog::logger* access_logger();

}  // namespace orc::log
