// Everything one config file yields once read and checked: settings, compiled rulebook, JWT verifier.
// serve, check, explain and reload all go through load_all(), so they agree on what is valid.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config_loader.hpp"
#include "identity/jwt_verifier.hpp"
#include "rules/rulebook.hpp"

namespace orc::app {

struct Loaded {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const rules::Rulebook> rulebook;
  std::shared_ptr<const identity::JwtVerifier> verifier;  // null without identity.jwt
  std::vector<config::Diagnostic> errors;
  std::vector<config::Diagnostic> warnings;
  bool ok() const { return errors.empty(); }
};

Loaded load_all(const std::string& path);

}  // namespace orc::app
