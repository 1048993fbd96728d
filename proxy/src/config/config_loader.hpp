// Reads the YAML config file into config::Config, reporting every error with file, line and column.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace orc::config {

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no position (e.g. unreadable file)
  int column = 0;  // 1-based
  std::string message;
  bool warning = false;
  std::string to_string() const;  // "file:line:column: error: message" (or "warning:")
};

struct LoadResult {
  std::optional<Config> config;  // set only when `errors` is empty
  std::vector<Diagnostic> errors;
  // With errors: what could be read (the keys in error at their defaults), for the checks that come after
  // the file's own (the JWT key file, the Redis URL), so that one run lists every error.
  std::optional<Config> partial;
};

LoadResult load_config_file(const std::string& path);
// `name` stands for the file in diagnostics.
LoadResult load_config_string(std::string_view yaml, const std::string& name);

// "host:port", "[v6]:port" or ":port" (all interfaces). Empty on malformed input.
std::optional<HostPort> parse_host_port(std::string_view text);

}  // namespace orc::config
