// Names of the Redis outcomes (metric labels, log fields).
#include "redis/redis_reply.hpp"

namespace orc::redis {

std::string_view to_string(RedisStatus s) {
  switch (s) {
    case RedisStatus::ok:
      return "ok";
    case RedisStatus::unavailable:
      return "unavailable";
    case RedisStatus::timeout:
      return "timeout";
    case RedisStatus::error:
      return "error";
  }
  return "error";
}

}  // namespace orc::redis
