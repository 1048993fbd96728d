// Loading one YAML document of a config or rule file: what yaml-cpp accepts and a config must not.
#include "config/yaml_reader.hpp"

#include <yaml-cpp/eventhandler.h>

#include <map>
#include <optional>
#include <set>
#include <sstream>

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

// What one document of the stream holds, as yaml-cpp's parser reports it: where it starts, and the first
// node that is not null (a `---` followed by nothing, or by `~`, holds none).
class DocumentProbe : public YAML::EventHandler {
 public:
  YAML::Mark start;
  std::optional<YAML::Mark> content;

  void OnDocumentStart(const YAML::Mark& mark) override {
    start = mark;
    content.reset();
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { saw(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    saw(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    saw(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    saw(mark);
  }
  void OnMapEnd() override {}

 private:
  void saw(const YAML::Mark& mark) {
    if (!content) content = mark;
  }
};

// Reads the documents after the first. yaml-cpp's parser stops at a token that cannot start a node outside a
// flow collection (a `,` at the top level: `, a: 1`, `{a: 1}, b`) and from then on reports an empty document
// at the same place on every call, for ever (YAML::LoadAll never returns); YAML::Load silently keeps what
// came before it. A document that starts where the previous one did is that token: an error at its place.
void refuse_more_documents(const std::string& text, Errors& errors) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentProbe probe;
  if (!parser.HandleNextDocument(probe)) return;
  int last_start = probe.start.pos;
  while (parser.HandleNextDocument(probe)) {
    if (probe.content) {
      errors.add(*probe.content, "a second YAML document (after '---'): a file holds one configuration");
      return;
    }
    if (probe.start.pos <= last_start) {
      const auto at = static_cast<std::size_t>(probe.start.pos);
      const std::string token = at < text.size() ? "'" + std::string(1, text[at]) + "'" : "end of file";
      errors.add(probe.start, "invalid YAML: unexpected " + token + " (nothing from here on can be read)");
      return;
    }
    last_start = probe.start.pos;
  }
}

}  // namespace

YAML::Node load_document(const std::string& text, Errors& errors) {
  YAML::Node root = YAML::Load(text);
  refuse_more_documents(text, errors);
  std::set<int> seen;
  refuse_repeated_keys(root, errors, seen);
  return root;
}

}  // namespace orc::config::detail
