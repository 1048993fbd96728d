// Command-line parsing of the openrisk-cache executable.
#pragma once

#include <string>
#include <vector>

namespace orc::app {

// Dispatches the command line (without argv[0]) and returns the process exit code.
int run_cli(const std::vector<std::string>& args);

}  // namespace orc::app
