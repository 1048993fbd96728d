// Parsing of redis:// and unix:// URLs, with Boost.URL (RFC 3986); this file adds what Redis makes of the
// parts.
#include "redis/redis_url.hpp"

#include <sys/un.h>

#include <boost/url/parse.hpp>

#include <charconv>

#include "util/query.hpp"

namespace orc::redis {
namespace {

std::optional<RedisEndpoint> fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

// The database number: digits only, not negative.
bool parse_db(std::string_view text, int& db) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
  return ec == std::errc() && p == text.data() + text.size() && db >= 0;
}

constexpr std::string_view kExpected =
    "expected redis://[user:password@]host[:port][/db] or unix://[user:password@]/path/to/redis.sock[?db=N]";

}  // namespace

std::string RedisEndpoint::where() const {
  if (!unix_path.empty()) return "unix:" + unix_path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<RedisEndpoint> parse_redis_url(std::string_view url, std::string* error) {
  const bool unix_socket = util::uri_with_authority(url, "unix");
  if (!unix_socket && !util::uri_with_authority(url, "redis")) return fail(error, std::string(kExpected));
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return fail(error, std::string(kExpected) + " (" + parsed.error().message() + ")");
  const auto& u = *parsed;
  if (!u.has_authority() || u.has_fragment()) return fail(error, std::string(kExpected));
  RedisEndpoint ep;

  if (u.has_userinfo()) {
    ep.user = u.user();  // percent-decoded
    ep.password = u.password();
    if (!ep.user.empty() && ep.password.empty()) return fail(error, "a user needs a password");
  }

  if (unix_socket) {
    // unix://[user:password@]/path?db=N: no host, an absolute path, the database in the query (go-redis).
    if (!u.encoded_host().empty() || u.has_port())
      return fail(error, "a unix:// URL names no host or port: unix:///path/to/redis.sock");
    ep.unix_path = u.path();  // percent-decoded
    if (ep.unix_path.size() < 2 || ep.unix_path.front() != '/')
      return fail(error, "a unix:// URL needs the socket's absolute path: unix:///path/to/redis.sock");
    if (ep.unix_path.size() >= sizeof(sockaddr_un::sun_path) || ep.unix_path.find('\0') != std::string::npos)
      return fail(error, "the socket path must be shorter than " +
                             std::to_string(sizeof(sockaddr_un::sun_path)) + " bytes, without NUL");
    for (const auto& param : u.params()) {  // percent-decoded
      if (param.key != "db" || !param.has_value)
        return fail(error, "a unix:// URL's query takes only db=N, not '" + std::string(param.key) + "'");
      if (!parse_db(param.value, ep.db)) return fail(error, "the database must be a non-negative number");
    }
    return ep;
  }

  if (u.has_query()) return fail(error, "a redis:// URL has no query or fragment");
  std::string_view db = u.encoded_path();
  if (!db.empty() && db.front() != '/') {
    // The authority ended early (Boost.URL reads "h:notaport/0" as host "h" and a path): say what it was.
    const auto authority = url.substr(url.find("//") + 2);
    if (authority.substr(0, authority.find('/')).find('@') !=
        authority.substr(0, authority.find('/')).rfind('@'))
      return fail(error, "the user or password holds an '@': write it percent-encoded, as %40");
    if (u.has_port()) return fail(error, "the port must be 1-65535");
    return fail(error, std::string(kExpected));
  }
  if (!db.empty()) {
    db.remove_prefix(1);  // the '/' after the authority
    if (!db.empty() && !parse_db(db, ep.db))
      return fail(error, "the database (the path after the host) must be a non-negative number, got '" +
                             std::string(db) + "'");
  }

  // host_address(): an IPv6 literal without its brackets, a name percent-decoded.
  ep.host = u.host_address();
  if (ep.host.empty()) return fail(error, "missing host");
  if (u.has_port()) {
    std::string_view port = u.port();
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535)
      return fail(error, "the port must be 1-65535");
    ep.port = static_cast<std::uint16_t>(v);
  }
  return ep;
}

}  // namespace orc::redis
