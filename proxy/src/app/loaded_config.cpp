// Reads, compiles and checks one config file.
#include "app/loaded_config.hpp"

#include <stdexcept>

#include "redis/redis_url.hpp"

namespace orc::app {

Loaded load_all(const std::string& path) {
  Loaded out;
  auto result = config::load_config_file(path);
  if (!result.config) {
    out.errors = std::move(result.errors);
    return out;
  }
  auto cfg = std::make_shared<const config::Config>(std::move(*result.config));
  auto compiled = rules::Rulebook::compile(*cfg);
  out.errors = std::move(compiled.errors);
  out.warnings = std::move(compiled.warnings);
  if (cfg->identity.jwt.enabled) {
    try {
      out.verifier = std::make_shared<const identity::JwtVerifier>(cfg->identity.jwt);
    } catch (const std::exception& e) {
      const auto& pos = cfg->identity.jwt.pos;
      out.errors.push_back({pos.file, pos.line, pos.column, e.what(), false});
    }
  }
  if (cfg->redis.enabled) {
    std::string why;
    if (!redis::parse_redis_url(cfg->redis.url, &why))
      out.errors.push_back({cfg->redis.url_pos.file, cfg->redis.url_pos.line, cfg->redis.url_pos.column,
                            "'redis.url': " + why, false});
  }
  if (!out.errors.empty()) return out;
  out.config = std::move(cfg);
  out.rulebook = std::move(compiled.rulebook);
  return out;
}

}  // namespace orc::app
