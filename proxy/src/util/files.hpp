// Bounded reads of the files the configuration names (the config itself, included rule files, secrets,
// keys): only regular files, and never more than a limit, so a path naming a FIFO, a device or a huge file
// fails with a reason instead of blocking or exhausting memory at startup or on reload.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace orc::util {

inline constexpr std::uint64_t max_config_file_bytes = 16ull * 1024 * 1024;  // config and rule files
inline constexpr std::uint64_t max_secret_file_bytes = 64ull * 1024;         // secrets and PEM keys

// The whole content, or nullopt with `error` set ("cannot open: No such file or directory", "not a regular
// file", "larger than 65536 bytes", ...).
std::optional<std::string> read_regular_file(const std::string& path, std::uint64_t max_bytes,
                                             std::string& error);

}  // namespace orc::util
