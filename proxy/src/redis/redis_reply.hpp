// What a Redis command returns to its caller: a closed status (metric label, log field) and the parsed
// RESP value. Plain data, no hiredis types, so the storage layer and the tests need not include hiredis.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace orc::redis {

// ok: Redis answered (value holds the reply). error: Redis answered with an error reply (value.str holds it)
// or the command could not be encoded. unavailable: no connection, the connection dropped, or the circuit
// breaker is open. timeout: no reply within the command timeout (the connection was dropped).
enum class RedisStatus { ok, unavailable, timeout, error };
std::string_view to_string(RedisStatus s);

struct RedisValue {
  enum class Type { nil, integer, string, array, error };  // status replies (+OK) are strings
  Type type = Type::nil;
  long long integer = 0;
  std::string str;  // the bulk string, status text or error text
  std::vector<RedisValue> elements;

  bool is_nil() const { return type == Type::nil; }
  bool is_string() const { return type == Type::string; }
  bool is_integer() const { return type == Type::integer; }
  bool is_array() const { return type == Type::array; }
  bool is_error() const { return type == Type::error; }
};

struct RedisReply {
  RedisStatus status = RedisStatus::unavailable;
  RedisValue value;

  bool ok() const { return status == RedisStatus::ok; }
  // The error text when Redis answered with an error ("NOSCRIPT No matching script..."), else empty.
  std::string_view error_text() const {
    return value.is_error() ? std::string_view(value.str) : std::string_view();
  }

  static RedisReply failure(RedisStatus s, std::string message = {}) {
    RedisReply r;
    r.status = s;
    r.value.type = RedisValue::Type::error;
    r.value.str = std::move(message);
    return r;
  }
};

}  // namespace orc::redis
