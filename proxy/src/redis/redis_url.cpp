// Parsing of redis:// URLs, with Boost.URL (RFC 3986); this file adds what Redis makes of the parts.
#include "redis/redis_url.hpp"

#include <boost/url/parse.hpp>

#include <charconv>

#include "util/query.hpp"

namespace orc::redis {
namespace {

std::optional<RedisEndpoint> fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<RedisEndpoint> parse_redis_url(std::string_view url, std::string* error) {
  if (!util::uri_with_authority(url, "redis")) return fail(error, "expected a redis:// URL");
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return fail(error, "expected a redis:// URL (" + parsed.error().message() + ")");
  const auto& u = *parsed;
  if (u.scheme() != "redis" || !u.has_authority()) return fail(error, "expected a redis:// URL");
  if (u.has_query() || u.has_fragment()) return fail(error, "a redis:// URL has no query or fragment");
  RedisEndpoint ep;

  if (u.has_userinfo()) {
    ep.user = u.user();  // percent-decoded
    ep.password = u.password();
    if (!ep.user.empty() && ep.password.empty()) return fail(error, "a user needs a password");
  }

  std::string_view db = u.encoded_path();
  if (!db.empty()) {
    db.remove_prefix(1);  // the '/' after the authority
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), ep.db);
      if (ec != std::errc() || p != db.data() + db.size() || ep.db < 0)
        return fail(error, "the database must be a non-negative number");
    }
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
