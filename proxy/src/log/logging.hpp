// Process-wide logging setup: spdlog to stderr, text or JSON lines, plus the access logger.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

#include "config/config.hpp"

namespace orc::log {

// Installs the default logger ("main") and the access logger from the config. Safe to call again on reload.
void init(const config::LoggingConfig& cfg);
// Early logging before the config is read: text format, info level.
void init_bootstrap();

// The access logger (one line per request); null when the access log is off.
std::shared_ptr<spdlog::logger> access_logger();

}  // namespace orc::log
