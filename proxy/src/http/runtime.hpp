// What requests run against: the settings, the compiled rulebook and the JWT verifier of one load of the
// config file. Immutable; a reload swaps the whole snapshot, so one request never sees two configs.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "identity/jwt_verifier.hpp"
#include "metrics/metrics.hpp"
#include "rules/rulebook.hpp"

namespace orc::http {

struct Runtime {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const rules::Rulebook> rulebook;        // null: no rules (everything is passed)
  std::shared_ptr<const identity::JwtVerifier> verifier;  // null without identity.jwt
  // Metric handles by rule index, resolved when the snapshot is built (never per request).
  std::vector<metrics::RuleMetrics*> rule_metrics;
  metrics::RuleMetrics* unmatched_metrics = nullptr;  // rule="none"
};

// Builds a snapshot and resolves its metric handles.
std::shared_ptr<const Runtime> make_runtime(std::shared_ptr<const config::Config> config,
                                            std::shared_ptr<const rules::Rulebook> rulebook,
                                            std::shared_ptr<const identity::JwtVerifier> verifier);

}  // namespace orc::http
