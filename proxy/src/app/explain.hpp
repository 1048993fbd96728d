// `openrisk-cache explain`: the rule, action, scope, identity, key and tags for one request.
#pragma once

#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "app/loaded_config.hpp"

namespace orc::app {

struct ExplainRequest {
  std::string method;
  std::string url;  // "/path?query" or "http://host/path?query"
  std::vector<std::pair<std::string, std::string>> headers;
  bool json = false;
};

// Writes the explanation (text, or one JSON object with --json). Returns the exit code.
int explain(const Loaded& loaded, const ExplainRequest& req, std::ostream& out);

}  // namespace orc::app
