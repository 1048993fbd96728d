#include "redis/redis_url.hpp"

#include <gtest/gtest.h>

namespace orc::redis {
namespace {

TEST(RedisUrl, HostPortAndDefaults) {
  auto ep = parse_redis_url("redis://cache.internal:6380");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "cache.internal");
  EXPECT_EQ(ep->port, 6380);
  EXPECT_EQ(ep->db, 0);
  EXPECT_TRUE(ep->user.empty());
  EXPECT_TRUE(ep->password.empty());

  auto bare = parse_redis_url("redis://localhost");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->port, 6379);
}

TEST(RedisUrl, PasswordUserAndDatabase) {
  auto pw = parse_redis_url("redis://:s%40cret@127.0.0.1:6379/3");
  ASSERT_TRUE(pw);
  EXPECT_TRUE(pw->user.empty());
  EXPECT_EQ(pw->password, "s@cret");
  EXPECT_EQ(pw->db, 3);

  auto acl = parse_redis_url("redis://alice:pw@127.0.0.1:6379/0");
  ASSERT_TRUE(acl);
  EXPECT_EQ(acl->user, "alice");
  EXPECT_EQ(acl->password, "pw");

  auto v6 = parse_redis_url("redis://[::1]:7000/2");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
  EXPECT_EQ(v6->db, 2);
}

TEST(RedisUrl, RejectsMalformedUrls) {
  std::string error;
  EXPECT_FALSE(parse_redis_url("http://127.0.0.1:6379", &error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(parse_redis_url("redis://127.0.0.1:0"));
  EXPECT_FALSE(parse_redis_url("redis://127.0.0.1:70000"));
  EXPECT_FALSE(parse_redis_url("redis://127.0.0.1:6379/x"));
  EXPECT_FALSE(parse_redis_url("redis://:6379"));
  EXPECT_FALSE(parse_redis_url("redis://:bad%2@host"));
  EXPECT_FALSE(parse_redis_url("redis://alice:@host"));
  // RFC 3986 (Boost.URL): an '@' in the password must be encoded; no query or fragment.
  EXPECT_FALSE(parse_redis_url("redis://:s@cret@host"));
  EXPECT_FALSE(parse_redis_url("redis://host:6379/0?timeout=1"));
  EXPECT_FALSE(parse_redis_url("redis://host#x"));
  EXPECT_FALSE(parse_redis_url("redis:host"));
}

}  // namespace
}  // namespace orc::redis
