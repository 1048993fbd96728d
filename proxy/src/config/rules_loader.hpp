// Internal to the config layer: reads the rulebook sections (identity, cache, redis, admin, defaults,
// include, rules) of the config file.
#pragma once

#include <string>

#include "config/yaml_reader.hpp"

namespace orc::config::detail {

// `base_dir` resolves relative `include:` paths (the directory of the main config file).
void read_rulebook_sections(Section& top, Config& c, Errors& errors, const std::string& base_dir);

}  // namespace orc::config::detail
