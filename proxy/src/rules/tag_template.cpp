// Tag templates: parsing, rendering and the glob overlap used by the rulebook checks.
#include "rules/tag_template.hpp"

#include <cctype>
#include <functional>

#include "util/strings.hpp"

namespace orc::rules {

bool TagTemplate::uses(TemplatePart::Kind k) const {
  for (const auto& p : parts)
    if (p.kind == k) return true;
  return false;
}

std::string TagTemplate::glob() const {
  std::string out;
  for (const auto& p : parts) {
    if (p.kind == TemplatePart::Kind::literal)
      out += p.text;
    else if (out.empty() || out.back() != '*')
      out += '*';
  }
  return out;
}

std::optional<TagTemplate> parse_tag_template(std::string_view text, std::string& error) {
  TagTemplate t;
  t.source = std::string(text);
  if (text.empty()) {
    error = "a non-empty tag";
    return std::nullopt;
  }
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '}') {
      error = "'{' before '}' in '" + std::string(text) + "'";
      return std::nullopt;
    }
    if (text[i] != '{') {
      auto next = text.find_first_of("{}", i);
      t.parts.push_back({TemplatePart::Kind::literal, std::string(text.substr(i, next - i))});
      i = next == std::string_view::npos ? text.size() : next;
      continue;
    }
    auto close = text.find('}', i);
    if (close == std::string_view::npos) {
      error = "a closing '}' in '" + std::string(text) + "'";
      return std::nullopt;
    }
    std::string name(text.substr(i + 1, close - i - 1));
    if (name.empty() || name.find('{') != std::string::npos) {
      error = "a placeholder name inside '{}' in '" + std::string(text) + "'";
      return std::nullopt;
    }
    if (name == "tenant")
      t.parts.push_back({TemplatePart::Kind::tenant, ""});
    else if (name == "user")
      t.parts.push_back({TemplatePart::Kind::user, ""});
    else if (name.rfind("query.", 0) == 0 && name.size() > 6)
      t.parts.push_back({TemplatePart::Kind::query, name.substr(6)});
    else if (name.rfind("answer.", 0) == 0) {
      auto path = name.substr(7);
      // Member names joined by '.': none empty.
      if (path.empty() || path.front() == '.' || path.back() == '.' || path.find("..") != std::string::npos) {
        error = "a member path after 'answer.' (names joined by '.') in '" + std::string(text) + "'";
        return std::nullopt;
      }
      t.parts.push_back({TemplatePart::Kind::answer, std::move(path)});
    } else
      t.parts.push_back({TemplatePart::Kind::param, name});
    i = close + 1;
  }
  return t;
}

namespace {

// Appends a value from the request or the answer. A UUID goes in lowercase: its text is case-insensitive (RFC
// 9562 section 4) and OpenRisk's backend parses either case to the same row, so /risks/6F1C... and
// /risks/6f1c... must meet in one tag. Only tags: the cache keys keep the spelling sent (one entry each).
void append_value(std::string& out, std::string_view v) {
  auto is_uuid = [](std::string_view s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    }
    return true;
  };
  if (!is_uuid(v)) {
    out += v;
    return;
  }
  for (char c : v) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Appends what a part of the request gives; false when it needs {tenant} or {user} and the context has none.
// An {answer.field} part appends nothing (the caller decides).
bool append_part(std::string& out, const TemplatePart& p, const TagContext& ctx) {
  switch (p.kind) {
    case TemplatePart::Kind::literal:
      out += p.text;
      break;
    case TemplatePart::Kind::param:
      if (ctx.params)
        for (const auto& [k, v] : *ctx.params)
          if (k == p.text) append_value(out, v);
      break;
    case TemplatePart::Kind::query:
      if (ctx.query)
        if (auto v = ctx.query->raw_value(p.text))
          append_value(out, *v);  // the name as the backend decodes it
      break;
    case TemplatePart::Kind::tenant:
      if (ctx.tenant.empty()) return false;
      out += ctx.tenant;
      break;
    case TemplatePart::Kind::user:
      if (ctx.user.empty()) return false;
      out += ctx.user;
      break;
    case TemplatePart::Kind::answer:
      break;
  }
  return true;
}

}  // namespace

std::optional<std::string> render(const TagTemplate& t, const TagContext& ctx) {
  std::string out;
  for (const auto& p : t.parts)
    if (!append_part(out, p, ctx)) return std::nullopt;
  return out;
}

std::optional<PartialTag> render_partial(const TagTemplate& t, const TagContext& ctx) {
  PartialTag out;
  out.pieces.emplace_back();
  for (const auto& p : t.parts) {
    if (!append_part(out.pieces.back(), p, ctx)) return std::nullopt;
    if (p.kind == TemplatePart::Kind::answer) {
      out.fields.push_back(p.text);
      out.pieces.emplace_back();
    }
  }
  return out;
}

std::optional<std::string> complete(
    const PartialTag& t, const std::function<std::optional<std::string>(std::string_view)>& value) {
  std::string out = t.pieces.front();
  for (std::size_t i = 0; i < t.fields.size(); ++i) {
    auto v = value(t.fields[i]);
    if (!v) return std::nullopt;
    append_value(out, *v);
    out += t.pieces[i + 1];
  }
  return out;
}

bool globs_intersect(std::string_view a, std::string_view b) {
  // memo[i][j]: 0 unknown, 1 false, 2 true. Tags are short, so the table is small.
  std::vector<std::vector<char>> memo(a.size() + 1, std::vector<char>(b.size() + 1, 0));
  std::function<bool(std::size_t, std::size_t)> f = [&](std::size_t i, std::size_t j) -> bool {
    char& m = memo[i][j];
    if (m) return m == 2;
    bool r;
    if (i == a.size() && j == b.size())
      r = true;
    else if (i < a.size() && a[i] == '*')
      r = f(i + 1, j) || (j < b.size() && f(i, j + 1));
    else if (j < b.size() && b[j] == '*')
      r = f(i, j + 1) || (i < a.size() && f(i + 1, j));
    else
      r = i < a.size() && j < b.size() && a[i] == b[j] && f(i + 1, j + 1);
    m = r ? 2 : 1;
    return r;
  };
  return f(0, 0);
}

}  // namespace orc::rules
