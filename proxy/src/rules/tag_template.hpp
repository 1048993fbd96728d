// Tag templates: "risk:{tenant}:{id}" with {param} (path), {query.name}, {tenant}, {user} and, in an
// invalidate rule, {answer.field} (a member of the backend's JSON answer to the write).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/query.hpp"

namespace orc::rules {

struct TemplatePart {
  enum class Kind { literal, param, query, tenant, user, answer } kind = Kind::literal;
  std::string text;  // literal text, or the param / query name, or the answer's member path ("a.b")
};

struct TagTemplate {
  std::string source;
  std::vector<TemplatePart> parts;
  bool uses(TemplatePart::Kind k) const;
  // The template as a glob: placeholders become '*' (for the "is this tag ever purged" checks).
  std::string glob() const;
};

std::optional<TagTemplate> parse_tag_template(std::string_view text, std::string& error);

// What a template is rendered from.
struct TagContext {
  const std::vector<std::pair<std::string, std::string>>* params = nullptr;  // path parameters
  const util::Query* query = nullptr;                                        // the request's (null: none)
  std::string_view tenant;
  std::string_view user;
};

// Empty when the template needs {tenant} or {user} and the context has none. An {answer.field} part renders
// empty: a template that has one is rendered with render_partial.
std::optional<std::string> render(const TagTemplate& t, const TagContext& ctx);

// A template rendered from the request, its {answer.field} parts left for the answer: the tag is
// pieces[0] + value of fields[0] + pieces[1] + ... + pieces[n].
struct PartialTag {
  std::vector<std::string> pieces;  // fields.size() + 1
  std::vector<std::string> fields;  // the answer's member paths
};
std::optional<PartialTag> render_partial(const TagTemplate& t, const TagContext& ctx);
// The tag, once `value` gives each field's value; empty when it gives none for one of them.
std::optional<std::string> complete(const PartialTag& t,
                                    const std::function<std::optional<std::string>(std::string_view)>& value);

// Whether some string matches both globs ('*' matches any run of characters).
bool globs_intersect(std::string_view a, std::string_view b);

}  // namespace orc::rules
