// Loading one YAML document of a config or rule file: what yaml-cpp accepts and a config must not.
#include "config/yaml_reader.hpp"

#include <map>
#include <set>

namespace orc::config::detail {
namespace {

// Walks each node once. An alias is the anchored node itself in yaml-cpp's graph (its mark is the anchor's),
// so an alias inside its own anchor (`a: &x [*x]`) would be a cycle, and aliases of aliases an exponential
// walk ("billion laughs"): a node already seen, by its position in the text, is not walked again.
void refuse_repeated_keys(const YAML::Node& node, Errors& errors, std::set<int>& seen) {
  if (!node.IsSequence() && !node.IsMap()) return;
  if (const int at = node.Mark().pos; at >= 0 && !seen.insert(at).second) return;
  if (node.IsSequence()) {
    for (const auto& item : node) refuse_repeated_keys(item, errors, seen);
    return;
  }
  std::map<std::string, int> first_line;  // key -> its first line (1-based)
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it->first.IsScalar()) {
      const auto key = it->first.Scalar();
      const int line = it->first.Mark().line + 1;
      if (auto [at, fresh] = first_line.emplace(key, line); !fresh)
        errors.add(it->first.Mark(), "duplicate key '" + key + "' (first at line " +
                                         std::to_string(at->second) + "): each key once per mapping");
    }
    refuse_repeated_keys(it->second, errors, seen);
  }
}

}  // namespace

YAML::Node load_document(const std::string& text, Errors& errors) {
  auto documents = YAML::LoadAll(text);
  if (documents.empty()) return YAML::Node();
  for (std::size_t i = 1; i < documents.size(); ++i)
    if (documents[i] && !documents[i].IsNull()) {
      errors.add(documents[i].Mark(), "a second YAML document (after '---'): a file holds one configuration");
      break;
    }
  std::set<int> seen;
  refuse_repeated_keys(documents.front(), errors, seen);
  return documents.front();
}

}  // namespace orc::config::detail
