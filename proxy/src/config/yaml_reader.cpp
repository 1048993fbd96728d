#include "config/yaml_reader.hpp"

#include <map>

namespace orc::config::detail {
namespace {

void refuse_repeated_keys(const YAML::Node& node, Errors& errors) {
  if (node.IsSequence()) {
    for (const auto& item : node) refuse_repeated_keys(item, errors);
  } else if (node.IsMap()) {
    std::map<std::string, int> first_line;  // key -> its first line (1-based)
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.IsScalar()) {
        const auto key = it->first.Scalar();
        const int line = it->first.Mark().line + 1;
        if (auto [at, fresh] = first_line.emplace(key, line); !fresh)
          errors.add(it->first.Mark(), "duplicate key '" + key + "' (first at line " +
                                           std::to_string(at->second) + "): each key once per mapping");
      }
      refuse_repeated_keys(it->second, errors);
    }
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
  refuse_repeated_keys(documents.front(), errors);
  return documents.front();
}

}  // namespace orc::config::detail
