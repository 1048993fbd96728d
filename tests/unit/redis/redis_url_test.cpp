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

  // Each says what is wrong (Boost.URL reads a bad port or a raw '@' as the start of a path).
  for (auto [url, says] : {std::pair{"redis://h:notaport/0", "the port must be 1-65535"},
                           std::pair{"redis://h:/0", "the port must be 1-65535"},
                           std::pair{"redis://:p@ss@h:6379/0", "percent-encoded, as %40"},
                           std::pair{"redis://h/abc",
                                     "the database (the path after the host) must be a "
                                     "non-negative number, got 'abc'"}}) {
    std::string why;
    EXPECT_FALSE(parse_redis_url(url, &why)) << url;
    EXPECT_NE(why.find(says), std::string::npos) << url << ": " << why;
  }
}

// go-redis's form for a Redis on the same machine: no host, the socket's absolute path, the database in
// the query.
TEST(RedisUrl, UnixSocket) {
  auto ep = parse_redis_url("unix:///run/redis/redis.sock");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(ep->db, 0);
  EXPECT_TRUE(ep->password.empty());
  EXPECT_EQ(ep->where(), "unix:/run/redis/redis.sock");

  auto full = parse_redis_url("unix://alice:s%40cret@/var/run/r%20s.sock?db=3");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->unix_path, "/var/run/r s.sock");  // percent-decoded
  EXPECT_EQ(full->user, "alice");
  EXPECT_EQ(full->password, "s@cret");
  EXPECT_EQ(full->db, 3);
  EXPECT_EQ(full->where(), "unix:/var/run/r s.sock");  // never the credentials

  // TCP endpoints stay as they were, and say where they are the same way.
  EXPECT_TRUE(parse_redis_url("redis://cache:6380")->unix_path.empty());
  EXPECT_EQ(parse_redis_url("redis://cache:6380")->where(), "cache:6380");
  EXPECT_EQ(parse_redis_url("redis://[::1]:7000")->where(), "[::1]:7000");
}

TEST(RedisUrl, RejectsMalformedUnixSocketUrls) {
  std::string error;
  EXPECT_FALSE(parse_redis_url("unix://", &error));
  EXPECT_NE(error.find("absolute path"), std::string::npos) << error;
  EXPECT_FALSE(parse_redis_url("unix://localhost/run/redis.sock", &error));  // a host
  EXPECT_NE(error.find("no host or port"), std::string::npos) << error;
  EXPECT_FALSE(parse_redis_url("unix://:6379/run/redis.sock"));  // a port
  EXPECT_FALSE(parse_redis_url("unix:///run/redis.sock?db=x"));
  EXPECT_FALSE(parse_redis_url("unix:///run/redis.sock?db=-1"));
  EXPECT_FALSE(parse_redis_url("unix:///run/redis.sock?db"));
  EXPECT_FALSE(parse_redis_url("unix:///run/redis.sock?timeout=1", &error));
  EXPECT_NE(error.find("only db=N"), std::string::npos) << error;
  EXPECT_FALSE(parse_redis_url("unix:///run/redis.sock#x"));
  EXPECT_FALSE(parse_redis_url("unix:///a%00b"));  // NUL in the path
  EXPECT_FALSE(parse_redis_url("unix://alice:@/run/redis.sock"));
  EXPECT_TRUE(parse_redis_url("unix:///" + std::string(106, 'a')));  // sun_path holds 107 and a NUL
  EXPECT_FALSE(parse_redis_url("unix:///" + std::string(107, 'a'), &error));
  EXPECT_NE(error.find("shorter than 108 bytes"), std::string::npos) << error;
}

}  // namespace
}  // namespace orc::redis
