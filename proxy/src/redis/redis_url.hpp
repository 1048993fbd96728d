// The Redis endpoint from `redis://[user:password@]host[:port][/db]` or, for a Redis on the same machine,
// `unix://[user:password@]/path/to/redis.sock[?db=N]` (go-redis's form; user and password percent-decoded).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orc::redis {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string unix_path;  // not empty: a Unix domain socket (host and port unused)
  std::string user;       // empty: AUTH with the password only (the `default` user)
  std::string password;   // empty: no AUTH
  int db = 0;             // SELECTed on connect when not 0

  // Where it connects, for logs: "host:port" ("[::1]:port") or "unix:/path". Never the credentials.
  std::string where() const;
};

// Empty optional when the URL is malformed; `error` (when given) then says why.
std::optional<RedisEndpoint> parse_redis_url(std::string_view url, std::string* error = nullptr);

}  // namespace orc::redis
