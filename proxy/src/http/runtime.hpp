// What requests run against: the settings, the compiled rulebook and the JWT verifier of one load of the
// config file. Immutable; a reload swaps the whole snapshot, so one request never sees two configs.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "identity/jwt_verifier.hpp"
#include "rules/rulebook.hpp"

namespace orc::http {

struct Runtime {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const rules::Rulebook> rulebook;        // null: no rules (everything is passed)
  std::shared_ptr<const identity::JwtVerifier> verifier;  // null without identity.jwt
};

}  // namespace orc::http
