// Reads, compiles and checks one config file.
#include "app/loaded_config.hpp"

#include <algorithm>
#include <stdexcept>

#include "redis/redis_url.hpp"

namespace orc::app {

namespace {

// What the file's own checks cannot see: the JWT key (read and parsed) and the Redis URL. Run on a file with
// errors too (on what could be read), skipping a section the file's errors are already about.
void check_beyond_the_file(const config::Config& cfg, Loaded& out,
                           const std::vector<config::Diagnostic>& file_errors) {
  auto already = [&](std::string_view key) {
    return std::any_of(file_errors.begin(), file_errors.end(),
                       [&](const auto& e) { return e.message.find(key) != std::string::npos; });
  };
  if (cfg.identity.jwt.enabled && !already("identity.jwt")) {
    try {
      out.verifier = std::make_shared<const identity::JwtVerifier>(cfg.identity.jwt);
    } catch (const std::exception& e) {
      const auto& pos = cfg.identity.jwt.pos;
      out.errors.push_back({pos.file, pos.line, pos.column, e.what(), false});
    }
  }
  if (cfg.redis.enabled && !already("redis.url")) {
    std::string why;
    if (!redis::parse_redis_url(cfg.redis.url, &why))
      out.errors.push_back({cfg.redis.url_pos.file, cfg.redis.url_pos.line, cfg.redis.url_pos.column,
                            "'redis.url': " + why, false});
  }
}

}  // namespace

Loaded load_all(const std::string& path) {
  Loaded out;
  auto result = config::load_config_file(path);
  if (!result.config) {
    out.errors = std::move(result.errors);
    if (result.partial) {
      const auto file_errors = out.errors;
      check_beyond_the_file(*result.partial, out, file_errors);
      out.verifier.reset();
    }
    return out;
  }
  auto cfg = std::make_shared<const config::Config>(std::move(*result.config));
  auto compiled = rules::Rulebook::compile(*cfg);
  out.errors = std::move(compiled.errors);
  out.warnings = std::move(compiled.warnings);
  check_beyond_the_file(*cfg, out, {});
  if (!out.errors.empty()) return out;
  out.config = std::move(cfg);
  out.rulebook = std::move(compiled.rulebook);
  return out;
}

}  // namespace orc::app
