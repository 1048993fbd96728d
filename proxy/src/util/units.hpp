// Parsing of the human-friendly durations ("250ms", "5m") and sizes ("4MiB") used in the config file.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orc::util {

// "250ms", "2s", "5m", "1h", "1d", "0"; whole numbers only. Empty on anything else.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// "512", "512B", "16KiB", "4MiB", "1GiB", also "16KB"/"4MB" (decimal). Empty on anything else or overflow.
std::optional<std::uint64_t> parse_size(std::string_view text);

// Inverse helpers for docs, logs and `explain`.
std::string format_duration(std::chrono::milliseconds d);
std::string format_size(std::uint64_t bytes);

}  // namespace orc::util
