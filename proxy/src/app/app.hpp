// The daemon's lifecycle: load the config, serve, reload on SIGHUP, drain on SIGTERM / SIGINT.
#pragma once

#include <string>

#include "app/explain.hpp"

namespace orc::app {

// Runs the daemon in the foreground. Returns the process exit code.
int serve(const std::string& config_path);

// Validates the config file without starting. Returns the process exit code (0 valid, 1 invalid).
int check(const std::string& config_path);

// Explains one request against the config file. Returns the process exit code.
int explain(const std::string& config_path, const ExplainRequest& req);

}  // namespace orc::app
