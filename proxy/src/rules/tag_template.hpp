// Tag templates: "risk:{tenant}:{id}" with {param} (path), {query.name}, {tenant} and {user}.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/query.hpp"

namespace orc::rules {

struct TemplatePart {
  enum class Kind { literal, param, query, tenant, user } kind = Kind::literal;
  std::string text;  // literal text, or the param / query name
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

// Empty when the template needs {tenant} or {user} and the context has none.
std::optional<std::string> render(const TagTemplate& t, const TagContext& ctx);

// Whether some string matches both globs ('*' matches any run of characters).
bool globs_intersect(std::string_view a, std::string_view b);

}  // namespace orc::rules
