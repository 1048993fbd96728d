// Command-line parsing of the openrisk-cache executable.
#include "app/cli.hpp"

#include <iostream>

#include "app/app.hpp"

namespace orc::app {

namespace {

constexpr const char* kUsage = R"(openrisk-cache: a caching reverse proxy for the OpenRisk API

Usage:
  openrisk-cache serve --config FILE   run the proxy in the foreground
  openrisk-cache check --config FILE   validate FILE, print errors and warnings (exit 0 valid, 1 invalid)
  openrisk-cache explain --config FILE METHOD URL [-H 'Name: value']... [--json]
                                       show the rule, scope, identity, key and tags for one request
  openrisk-cache --help                this text
  openrisk-cache --version             the version

Signals (serve):
  SIGTERM, SIGINT   stop accepting, finish in-flight requests (timeouts.drain), exit 0;
                    a second one closes every connection at once
  SIGHUP            reload FILE; on errors keep the running configuration

Manual: man 8 openrisk-cache (installed with the daemon; docs/man/openrisk-cache.8.md in the sources)
)";

}  // namespace

int run_cli(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (args[0] == "--version" || args[0] == "-V") {
    std::cout << "openrisk-cache " << ORC_VERSION << '\n';
    return 0;
  }
  const std::string& command = args[0];
  if (command != "serve" && command != "check" && command != "explain") {
    std::cerr << "openrisk-cache: unknown command '" << command << "'\n\n" << kUsage;
    return 2;
  }
  std::string config_path;
  ExplainRequest req;
  std::vector<std::string> positional;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if ((args[i] == "--config" || args[i] == "-c") && i + 1 < args.size()) {
      config_path = args[++i];
    } else if (args[i].rfind("--config=", 0) == 0) {
      config_path = args[i].substr(9);
    } else if (command == "explain" && args[i] == "-H" && i + 1 < args.size()) {
      const std::string& h = args[++i];
      auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) {
        std::cerr << "openrisk-cache explain: -H expects 'Name: value', got '" << h << "'\n";
        return 2;
      }
      std::string value = h.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      req.headers.emplace_back(h.substr(0, colon), value);
    } else if (command == "explain" && args[i] == "--json") {
      req.json = true;
    } else if (command == "explain" && !args[i].empty() && args[i][0] != '-' && positional.size() < 2) {
      positional.push_back(args[i]);
    } else {
      std::cerr << "openrisk-cache " << command << ": unexpected argument '" << args[i] << "'\n\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "openrisk-cache " << command << ": --config FILE is required\n";
    return 2;
  }
  if (command == "explain") {
    if (positional.size() != 2) {
      std::cerr << "openrisk-cache explain: expected METHOD and URL\n\n" << kUsage;
      return 2;
    }
    req.method = positional[0];
    req.url = positional[1];
    return explain(config_path, req);
  }
  return command == "serve" ? serve(config_path) : check(config_path);
}

}  // namespace orc::app
