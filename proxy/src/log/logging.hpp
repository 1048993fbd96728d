// Process-wide logging setup: spdlog to stderr, text or JSON lines, plus the access logger.
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "config/config.hpp"
#include "log/access_writer.hpp"

namespace orc::log {

// Sets up the default logger ("main") and the access log's writer from the config. The first call (at start,
// before any worker thread) builds them; a later one (a reload, while workers log) changes the level, the
// format, the access log's buffer and whether it is on, and never replaces a logger.
void init(const config::LoggingConfig& cfg);
// Early logging before the config is read: text format, info level. Builds the default logger.
void init_bootstrap();

// The access log's writer (one line per request); null when the access log is off. It lives as long as the
// process.
AccessWriter* access_writer();
// Lines dropped so far because the writer's buffer was full (access lines, and the others while it runs).
std::uint64_t access_log_dropped();
// Writes the access lines still buffered and stops the writer's thread. Call once no worker logs any more
// (at exit); later access lines are not written.
void shutdown();
// The time stamp every log line starts with: local time, milliseconds and the UTC offset
// ("2026-11-27T04:26:59.466+00:00"), written into `out`.
std::string_view access_timestamp(std::chrono::system_clock::time_point now, char (&out)[40]);
// ".mmm": a dot and the three digits of `thousandths` (0 to 999), the fraction of a time stamp or a duration.
inline std::array<char, 4> decimal_thousandths(int thousandths) {
  return {'.', static_cast<char>('0' + thousandths / 100), static_cast<char>('0' + thousandths / 10 % 10),
          static_cast<char>('0' + thousandths % 10)};
}

}  // namespace orc::log
