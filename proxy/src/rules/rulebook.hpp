// The compiled rulebook: rules checked once per load, and a per-method trie whose matching cost grows with
// the number of path segments, not with the number of rules. Immutable once built (swapped whole on reload).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/config_loader.hpp"
#include "rules/path_pattern.hpp"
#include "rules/tag_template.hpp"

namespace orc::rules {

struct CompiledRule {
  config::RuleConfig cfg;
  std::size_t index = 0;  // file order
  PathPattern pattern;
  std::vector<TagTemplate> tags;  // cache: the tags stored; invalidate: the tags purged
  // invalidate: per tag, the one purged instead when the tag's {answer.field} cannot be read (none for a tag
  // without one)
  std::vector<std::optional<TagTemplate>> fallbacks;
  std::uint32_t method_mask = 0;  // bit per method (see method_bit); all bits when the rule names none
  bool has_conditions() const {
    return !cfg.host.empty() || !cfg.require_query.empty() || !cfg.require_headers.empty();
  }
};

struct RequestView {
  std::string_view method;
  std::string_view path;               // without the query
  const util::Query* query = nullptr;  // null: none
  std::string_view host;
  std::function<bool(std::string_view)> has_header;  // case-insensitive presence
};

struct Match {
  const CompiledRule* rule = nullptr;
  std::vector<std::pair<std::string, std::string>> params;  // path parameters by name ("**" holds the rest)
  // The normalised request path, its literal segments in the rule's spelling (they differ only in case, with
  // routing.case_insensitive): what the key names.
  std::vector<std::string> segments;
};

class Rulebook;

struct CompileResult {
  std::shared_ptr<const Rulebook> rulebook;  // null when there are errors
  std::vector<config::Diagnostic> errors;
  std::vector<config::Diagnostic> warnings;
};

class Rulebook {
 public:
  static CompileResult compile(const config::Config& cfg);

  // The winning rule: the most specific path (segment by segment: literal, then :param, then **), and among
  // rules of one pattern the first in file order whose host / query / header conditions hold. Empty: no rule
  // matches (the request is passed).
  std::optional<Match> match(const RequestView& req) const;

  const std::vector<CompiledRule>& rules() const { return rules_; }
  // Cache rules whose stored tags a write rule's purge can reach.
  std::vector<const CompiledRule*> purged_by(const CompiledRule& write) const;

  ~Rulebook();
  Rulebook(Rulebook&&) noexcept;

 private:
  Rulebook();
  struct Node;
  // A literal segment as the trie holds it (lower case with routing.case_insensitive).
  std::string trie_key(std::string_view literal) const;
  std::vector<CompiledRule> rules_;
  std::vector<std::unique_ptr<Node>> tries_;  // one per method slot
  bool case_insensitive_ = false;
};

// Method slot of the trie (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, other).
std::uint32_t method_bit(std::string_view method);

}  // namespace orc::rules
