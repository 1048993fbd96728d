// The YAML layer of the config: each option is read exactly once, here, with its validator; unknown keys,
// wrong types and bad values are all collected (not just the first) with their position in the file.
#include "config/config_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "util/strings.hpp"
#include "util/units.hpp"

namespace orc::config {

std::string Diagnostic::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ':' << line << ':' << column;
  out << ": error: " << message;
  return out.str();
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6 needs brackets
    port = text.substr(colon + 1);
  }
  if (hp.host.empty()) hp.host = "0.0.0.0";
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  hp.port = static_cast<std::uint16_t>(value);
  return hp;
}

namespace {

class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void add(const YAML::Mark& mark, std::string message) {
    list_.push_back({file_, mark.line + 1, mark.column + 1, std::move(message)});
  }
  void add_unpositioned(std::string message) { list_.push_back({file_, 0, 0, std::move(message)}); }
  std::vector<Diagnostic>& list() { return list_; }

 private:
  std::string file_;
  std::vector<Diagnostic> list_;
};

// Replaces ${NAME} with the environment variable NAME; an unset variable is an error (never a silent "").
std::optional<std::string> substitute_env(const std::string& in, std::string& missing) {
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
    known_.push_back(key);
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

  void size(const std::string& key, std::uint64_t& out) {
    with(key, [&](const YAML::Node& n) {
      auto s = scalar(n, key, "a size");
      if (!s) return;
      auto v = util::parse_size(*s);
      if (!v || *v == 0)
        errors_.add(n.Mark(), "'" + child_path(key) +
                                  "': expected a size greater than zero such as 16KiB or 4MiB, got '" + *s +
                                  "'");
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
    known_.push_back(key);
    YAML::Node child = (node_ && node_.IsMap()) ? node_[key] : YAML::Node();
    return Section(child, child_path(key), errors_);
  }

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
  std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
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

std::optional<HostPort> parse_upstream_url(const std::string& url, std::string& authority) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return std::nullopt;
  std::string rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    if (rest.substr(slash) != "/") return std::nullopt;  // path prefixes are not supported
    rest = rest.substr(0, slash);
  }
  if (rest.empty() || rest.find('@') != std::string::npos) return std::nullopt;
  authority = rest;
  bool has_port = rest.back() != ']' && rest.find(':') != std::string::npos;
  return parse_host_port(has_port ? rest : rest + ":80");
}

void read_config(const YAML::Node& root, Config& c, Errors& errors) {
  Section top(root, "", errors);
  top.parsed<HostPort>("listen", c.listen, "host:port such as 0.0.0.0:8080",
                       [](const std::string& s) { return parse_host_port(s); });
  top.count("threads", c.threads, 0, 256);

  Section up = top.sub("upstream");
  up.with("url", [&](const YAML::Node& n) {
    auto url = up.scalar(n, "url", "http://host[:port]");
    if (!url) return;
    std::string authority;
    auto hp = parse_upstream_url(*url, authority);
    if (!hp) {
      errors.add(n.Mark(), "'upstream.url': expected http://host[:port] (no path), got '" + *url + "'");
      return;
    }
    c.upstream.url = *url;
    c.upstream.target = *hp;
    c.upstream.authority = authority;
  });
  up.duration("connect_timeout", c.upstream.connect_timeout);
  up.duration("first_byte_timeout", c.upstream.first_byte_timeout);
  up.duration("read_timeout", c.upstream.read_timeout);
  up.duration("send_timeout", c.upstream.send_timeout);
  up.duration("idle_timeout", c.upstream.idle_timeout);
  up.count("max_idle_connections", c.upstream.max_idle_connections, 0, 100000);
  up.finish();

  Section lim = top.sub("limits");
  lim.size("header_bytes", c.limits.header_bytes);
  lim.count("header_count", c.limits.header_count, 1, 10000);
  lim.size("uri_length", c.limits.uri_length);
  lim.size("request_body", c.limits.request_body);
  lim.count("max_connections", c.limits.max_connections, 1, 1000000);
  lim.finish();

  Section to = top.sub("timeouts");
  to.duration("client_header", c.timeouts.client_header);
  to.duration("keepalive", c.timeouts.keepalive);
  to.duration("client_body", c.timeouts.client_body);
  to.duration("client_send", c.timeouts.client_send);
  to.duration("drain", c.timeouts.drain, /*allow_zero=*/true);
  to.finish();

  Section log = top.sub("logging");
  log.parsed<std::string>(
      "level", c.logging.level, "one of trace, debug, info, warn, error, critical, off",
      [](const std::string& s) -> std::optional<std::string> {
        for (const char* l : {"trace", "debug", "info", "warn", "error", "critical", "off"})
          if (s == l) return s;
        return std::nullopt;
      });
  log.parsed<LogFormat>("format", c.logging.format, "text or json",
                        [](const std::string& s) -> std::optional<LogFormat> {
                          if (s == "text") return LogFormat::text;
                          if (s == "json") return LogFormat::json;
                          return std::nullopt;
                        });
  log.boolean("access_log", c.logging.access_log);
  log.string_list("redact_query", c.logging.redact_query);
  log.finish();

  top.finish();

  if (c.limits.uri_length > c.limits.header_bytes)
    errors.add_unpositioned("'limits.uri_length' (" + util::format_size(c.limits.uri_length) +
                            ") must not exceed 'limits.header_bytes' (" +
                            util::format_size(c.limits.header_bytes) + ")");
}

}  // namespace

LoadResult load_config_string(std::string_view yaml, const std::string& name) {
  LoadResult result;
  Errors errors(name);
  Config config;
  config.source_file = name;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (root && !root.IsNull() && !root.IsMap())
      errors.add(root.Mark(), "the config file must be a mapping of keys to values");
    else
      read_config(root, config, errors);
  } catch (const YAML::Exception& e) {
    errors.add(e.mark, "invalid YAML: " + e.msg);
  }
  result.errors = std::move(errors.list());
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back({path, 0, 0, "cannot read the config file"});
    return r;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_config_string(text.str(), path);
}

}  // namespace orc::config
