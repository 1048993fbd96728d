// Internal to the config layer: a YAML mapping reader that marks every key it reads, so unknown keys can be
// reported with a "did you mean" suggestion, and collects every error with its file, line and column.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config_loader.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"

namespace orc::config::detail {

class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  // Errors found from now on belong to `file` (included rule files).
  void set_file(std::string file) { file_ = std::move(file); }
  const std::string& file() const { return file_; }
  SourcePos pos(const YAML::Mark& mark) const { return {file_, mark.line + 1, mark.column + 1}; }
  void add(const YAML::Mark& mark, std::string message) {
    list_.push_back({file_, mark.line + 1, mark.column + 1, std::move(message)});
  }
  void add_unpositioned(std::string message) { list_.push_back({file_, 0, 0, std::move(message)}); }
  std::vector<Diagnostic>& list() { return list_; }

 private:
  std::string file_;
  std::vector<Diagnostic> list_;
};

// The one YAML document of a config or rule file. yaml-cpp accepts what a config must refuse, each an error
// here with its position: a second document (`---`; it would be ignored) and a key repeated in a mapping
// (lookups find the first, so the later value would be ignored without a word, where nginx refuses a
// duplicate directive). Throws YAML::Exception on invalid YAML.
YAML::Node load_document(const std::string& text, Errors& errors);

// Replaces ${NAME} with the environment variable NAME; an unset variable is an error (never a silent "").
inline std::optional<std::string> substitute_env(const std::string& in, std::string& missing) {
  std::string out;
  std::size_t i = 0;
  while (i < in.size()) {
    auto start = in.find("${", i);
    if (start == std::string::npos) {
      out.append(in, i);
      break;
    }
    auto end = in.find('}', start);
    if (end == std::string::npos) {
      out.append(in, i);
      break;
    }
    out.append(in, i, start - i);
    std::string name = in.substr(start + 2, end - start - 2);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      missing = name;
      return std::nullopt;
    }
    out += value;
    i = end + 1;
  }
  return out;
}

// A mapping of the config file being read. Every read marks its key as known; finish() reports the rest.
class Section {
 public:
  Section(YAML::Node node, std::string path, Errors& errors)
      : node_(std::move(node)), path_(std::move(path)), errors_(errors) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) {
      errors_.add(node_.Mark(), "'" + display_path() + "' must be a mapping of keys to values");
      node_ = YAML::Node();
    }
  }

  // Calls `read` with the node of `key` when the key is present and not null.
  void with(const std::string& key, const std::function<void(const YAML::Node&)>& read) {
    remember(key);
    if (!node_ || !node_.IsMap()) return;
    YAML::Node child = node_[key];
    if (!child || child.IsNull()) return;
    read(child);
  }

  void string(const std::string& key, std::string& out) {
    with(key, [&](const YAML::Node& n) {
      if (auto s = scalar(n, key, "a string")) out = *s;
    });
  }

  void boolean(const std::string& key, bool& out) {
    with(key, [&](const YAML::Node& n) {
      auto s = scalar(n, key, "true or false");
      if (!s) return;
      if (*s == "true" || *s == "yes" || *s == "on")
        out = true;
      else if (*s == "false" || *s == "no" || *s == "off")
        out = false;
      else
        errors_.add(n.Mark(), "'" + child_path(key) + "': expected true or false, got '" + *s + "'");
    });
  }

  void duration(const std::string& key, Duration& out, bool allow_zero = false) {
    with(key, [&](const YAML::Node& n) {
      auto s = scalar(n, key, "a duration");
      if (!s) return;
      auto d = util::parse_duration(*s);
      if (!d)
        errors_.add(n.Mark(), "'" + child_path(key) +
                                  "': expected a duration such as 250ms, 2s, 5m or 1h, got '" + *s + "'");
      else if (d->count() == 0 && !allow_zero)
        errors_.add(n.Mark(), "'" + child_path(key) + "': expected a duration greater than zero");
      else
        out = *d;
    });
  }

  void size(const std::string& key, std::uint64_t& out, bool allow_zero = false) {
    with(key, [&](const YAML::Node& n) {
      auto s = scalar(n, key, "a size");
      if (!s) return;
      auto v = util::parse_size(*s);
      if (!v || (*v == 0 && !allow_zero))
        errors_.add(n.Mark(), "'" + child_path(key) + "': expected a size " +
                                  (allow_zero ? "(0 for off)" : "greater than zero") +
                                  " such as 16KiB or 4MiB, got '" + *s + "'");
      else
        out = *v;
    });
  }

  void size_between(const std::string& key, std::uint64_t& out, std::uint64_t min, std::uint64_t max) {
    with(key, [&](const YAML::Node& n) {
      auto s = scalar(n, key, "a size");
      if (!s) return;
      auto v = util::parse_size(*s);
      if (!v || *v < min || *v > max)
        errors_.add(n.Mark(), "'" + child_path(key) + "': expected a size from " + util::format_size(min) +
                                  " to " + util::format_size(max) + ", got '" + *s + "'");
      else
        out = *v;
    });
  }

  void count(const std::string& key, std::uint32_t& out, std::uint32_t min, std::uint32_t max) {
    with(key, [&](const YAML::Node& n) {
      auto s = scalar(n, key, "a whole number");
      if (!s) return;
      char* end = nullptr;
      unsigned long long v = std::strtoull(s->c_str(), &end, 10);
      if (s->empty() || *end != '\0' || (*s)[0] == '-' || v < min || v > max)
        errors_.add(n.Mark(), "'" + child_path(key) + "': expected a whole number from " +
                                  std::to_string(min) + " to " + std::to_string(max) + ", got '" + *s + "'");
      else
        out = static_cast<std::uint32_t>(v);
    });
  }

  void string_list(const std::string& key, std::vector<std::string>& out) {
    with(key, [&](const YAML::Node& n) {
      if (!n.IsSequence()) {
        errors_.add(n.Mark(), "'" + child_path(key) + "': expected a list of strings");
        return;
      }
      std::vector<std::string> values;
      for (const auto& item : n)
        if (auto s = scalar(item, key, "a string")) values.push_back(*s);
      out = std::move(values);
    });
  }

  // Parses a scalar with `parse`; `expected` describes a valid value for the error message.
  template <typename T>
  void parsed(const std::string& key, T& out, const std::string& expected,
              const std::function<std::optional<T>(const std::string&)>& parse) {
    with(key, [&](const YAML::Node& n) {
      auto s = scalar(n, key, expected);
      if (!s) return;
      if (auto v = parse(*s))
        out = *v;
      else
        errors_.add(n.Mark(), "'" + child_path(key) + "': expected " + expected + ", got '" + *s + "'");
    });
  }

  Section sub(const std::string& key) {
    remember(key);
    YAML::Node child = (node_ && node_.IsMap()) ? node_[key] : YAML::Node();
    return Section(child, child_path(key), errors_);
  }

  // A list of strings with the position of each (tag templates: errors found later point at the item).
  void positioned_list(const std::string& key, std::vector<Positioned>& out) {
    with(key, [&](const YAML::Node& n) {
      if (!n.IsSequence()) {
        errors_.add(n.Mark(), "'" + child_path(key) + "': expected a list of strings");
        return;
      }
      std::vector<Positioned> values;
      for (const auto& item : n)
        if (auto s = scalar(item, key, "a string")) values.push_back({*s, errors_.pos(item.Mark())});
      out = std::move(values);
    });
  }

  // A string or a list of strings.
  void one_or_many(const std::string& key, std::vector<std::string>& out) {
    with(key, [&](const YAML::Node& n) {
      if (n.IsScalar()) {
        if (auto s = scalar(n, key, "a string")) out = {*s};
        return;
      }
      string_list(key, out);
    });
  }

  bool has(const std::string& key) const {
    return node_ && node_.IsMap() && node_[key] && !node_[key].IsNull();
  }
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  Errors& errors() { return errors_; }
  SourcePos pos() const { return node_ ? errors_.pos(node_.Mark()) : SourcePos{errors_.file(), 0, 0}; }
  std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  // Reports every key that no read asked for, with a suggestion when it looks like a typo.
  void finish() {
    if (!node_ || !node_.IsMap()) return;
    for (const auto& kv : node_) {
      std::string key = kv.first.Scalar();
      if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
      std::string message = "unknown key '" + child_path(key) + "'";
      auto suggestion = util::closest_match(key, known_);
      if (!suggestion.empty())
        message += "; did you mean '" + suggestion + "'?";
      else
        message += "; expected one of: " + join_known();
      errors_.add(kv.first.Mark(), message);
    }
  }

  // The scalar at `n` with ${ENV} substituted; reports an error (and returns empty) otherwise.
  std::optional<std::string> scalar(const YAML::Node& n, const std::string& key,
                                    const std::string& expected) {
    if (!n.IsScalar()) {
      errors_.add(n.Mark(), "'" + child_path(key) + "': expected " + expected);
      return std::nullopt;
    }
    std::string missing;
    auto value = substitute_env(n.Scalar(), missing);
    if (!value)
      errors_.add(n.Mark(), "'" + child_path(key) + "': environment variable '" + missing + "' is not set");
    return value;
  }

 private:
  std::string display_path() const { return path_.empty() ? "<top level>" : path_; }
  // A key read twice (its position, then its value) is listed once in the "expected one of" message.
  void remember(const std::string& key) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
  }
  std::string join_known() const {
    std::string out;
    for (const auto& k : known_) out += (out.empty() ? "" : ", ") + k;
    return out;
  }

  YAML::Node node_;
  std::string path_;
  Errors& errors_;
  std::vector<std::string> known_;
};

}  // namespace orc::config::detail
