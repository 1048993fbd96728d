// The YAML layer of the config: each option is read exactly once, here, with its validator; unknown keys,
// wrong types and bad values are all collected (not just the first) with their position in the file.
#include "config/config_loader.hpp"

#include <boost/url/parse.hpp>

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <sstream>

#include "config/rules_loader.hpp"
#include "config/yaml_reader.hpp"
#include "util/digest.hpp"
#include "util/files.hpp"
#include "util/query.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"

namespace orc::config {

std::string Diagnostic::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ':' << line << ':' << column;
  out << (warning ? ": warning: " : ": error: ") << message;
  return out.str();
}

namespace {

// The port of an authority: 1 to 5 digits, at most 65535 (0 asks for a free port where that makes sense).
std::optional<std::uint16_t> port_number(std::string_view port) {
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// host and port of an authority Boost.URL parsed (RFC 3986 section 3.2), without userinfo; the host of an
// IPv6 literal without its brackets. `default_port` when the authority has none (nullopt: a port is
// required).
template <typename Authority>
std::optional<HostPort> host_port_of(const Authority& a, std::optional<std::uint16_t> default_port) {
  if (a.has_userinfo() || a.host_type() == boost::urls::host_type::ipvfuture) return std::nullopt;
  HostPort hp;
  hp.host = a.host_address();
  if (a.has_port()) {
    auto port = port_number(a.port());
    if (!port) return std::nullopt;
    hp.port = *port;
  } else if (default_port) {
    hp.port = *default_port;
  } else {
    return std::nullopt;
  }
  return hp;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  if (!util::uri_characters_only(text)) return std::nullopt;  // Boost.URL 1.81 asserts on some other bytes
  auto a = boost::urls::parse_authority(text);
  if (!a) return std::nullopt;
  auto hp = host_port_of(*a, std::nullopt);
  if (hp && hp->host.empty()) hp->host = "0.0.0.0";
  return hp;
}

namespace {

using detail::Errors;
using detail::Section;

std::optional<HostPort> parse_upstream_url(const std::string& url, std::string& authority) {
  if (!util::uri_with_authority(url, "http")) return std::nullopt;  // see there: Boost.URL 1.81 asserts
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme_id() != boost::urls::scheme::http || !u->has_authority()) return std::nullopt;
  if (u->has_query() || u->has_fragment()) return std::nullopt;
  if (!u->encoded_path().empty() && u->encoded_path() != "/") return std::nullopt;  // no path prefixes
  auto hp = host_port_of(u->authority(), 80);
  if (!hp || hp->host.empty()) return std::nullopt;
  authority = u->encoded_host_and_port();
  return hp;
}

void read_config(const YAML::Node& root, Config& c, Errors& errors, const std::string& base_dir) {
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
  lim.size_between("header_bytes", c.limits.header_bytes, 1, kMaxHeaderBytes);
  lim.count("header_count", c.limits.header_count, 1, 10000);
  lim.size("uri_length", c.limits.uri_length);
  lim.size("request_body", c.limits.request_body);
  lim.size_between("request_buffer", c.limits.request_buffer, 0, kMaxRequestBuffer);
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
  log.size_between("access_log_buffer", c.logging.access_log_buffer, 64 * 1024, std::uint64_t{1} << 30);
  log.string_list("redact_query", c.logging.redact_query);
  log.finish();

  detail::read_rulebook_sections(top, c, errors, base_dir);
  top.finish();

  // Checks across keys, at the first of them the file gives.
  auto add_at = [&](std::initializer_list<std::pair<const char*, const char*>> keys, std::string message) {
    for (auto [section, key] : keys)
      if (root[section] && root[section].IsMap() && root[section][key]) {
        errors.add(root[section][key].Mark(), std::move(message));
        return;
      }
    errors.add_unpositioned(std::move(message));
  };
  if (c.limits.uri_length > c.limits.header_bytes)
    add_at({{"limits", "uri_length"}, {"limits", "header_bytes"}},
           "'limits.uri_length' (" + util::format_size(c.limits.uri_length) +
               ") must not exceed 'limits.header_bytes' (" + util::format_size(c.limits.header_bytes) + ")");
  // The admin listener on the main listener's port: serve could never bind both.
  if (auto admin = parse_host_port(c.admin.listen);
      admin && admin->port != 0 && admin->port == c.listen.port) {
    auto any = [](const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; };
    if (admin->host == c.listen.host || any(admin->host) || any(c.listen.host))
      add_at({{"admin", "listen"}}, "'admin.listen' (" + c.admin.listen + ") is the port of 'listen' (" +
                                        c.listen.to_string() +
                                        "): give the admin listener a port of its own");
  }
}

}  // namespace

LoadResult load_config_string(std::string_view yaml, const std::string& name) {
  LoadResult result;
  Errors errors(name);
  Config config;
  config.source_file = name;
  config.files.push_back(name);
  std::string base_dir = std::filesystem::path(name).parent_path().string();
  try {
    YAML::Node root = detail::load_document(std::string(yaml), errors);
    if (root && !root.IsNull() && !root.IsMap())
      errors.add(root.Mark(), "the config file must be a mapping of keys to values");
    else
      read_config(root, config, errors, base_dir);
  } catch (const YAML::Exception& e) {
    errors.add(e.mark, "invalid YAML: " + e.msg);
  }
  // content_sha256 collected the included files' texts while loading; hash them with the main text.
  config.content_sha256 = util::sha256_hex(std::string(yaml) + config.content_sha256);
  result.errors = std::move(errors.list());
  if (result.errors.empty())
    result.config = std::move(config);
  else
    result.partial = std::move(config);
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::string error;
  auto text = util::read_regular_file(path, util::max_config_file_bytes, error);
  if (!text) {
    LoadResult r;
    r.errors.push_back({path, 0, 0, "cannot read the config file: " + error});
    return r;
  }
  return load_config_string(*text, path);
}

}  // namespace orc::config
