// Unit: JwtCodec signs and verifies RS256 and HS256, rejects tampering, wrong algorithms and expiry.
#include "openrisk_sim/jwt.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace orc::sim {
namespace {

namespace json = boost::json;

TEST(Jwt, Rs256SignVerify) {
  auto codec = JwtCodec::make_rs256();
  EXPECT_NE(codec->key_material().find("BEGIN PUBLIC KEY"), std::string::npos);
  std::string token = codec->sign(json::object{{"sub", "u1"}, {"exp", 2000}});
  auto ok = codec->verify(token, 1000);
  ASSERT_TRUE(std::holds_alternative<json::object>(ok));
  EXPECT_EQ(std::get<json::object>(ok).at("sub").as_string(), "u1");
  EXPECT_EQ(std::get<TokenError>(codec->verify(token, 2000)), TokenError::expired);

  std::string tampered = token;
  tampered[token.find('.') + 3] ^= 1;
  EXPECT_TRUE(std::holds_alternative<TokenError>(codec->verify(tampered, 1000)));
  EXPECT_EQ(std::get<TokenError>(codec->verify("a.b", 1000)), TokenError::malformed);

  // A token from another key does not verify.
  auto other = JwtCodec::make_rs256();
  EXPECT_EQ(std::get<TokenError>(other->verify(token, 1000)), TokenError::bad_signature);
}

TEST(Jwt, Hs256AndAlgorithmConfusion) {
  auto hs = JwtCodec::make_hs256("s3cret");
  EXPECT_EQ(hs->key_material(), "s3cret");
  std::string token = hs->sign(json::object{{"id", "u1"}, {"exp", 2000}});
  EXPECT_TRUE(std::holds_alternative<json::object>(hs->verify(token, 1000)));
  EXPECT_EQ(std::get<TokenError>(JwtCodec::make_hs256("other")->verify(token, 1000)),
            TokenError::bad_signature);
  auto rs = JwtCodec::make_rs256();
  EXPECT_EQ(std::get<TokenError>(rs->verify(token, 1000)), TokenError::wrong_alg);
  EXPECT_EQ(std::get<TokenError>(hs->verify(rs->sign(json::object{{"exp", 2000}}), 1000)),
            TokenError::wrong_alg);
  // No exp claim: not accepted.
  EXPECT_EQ(std::get<TokenError>(hs->verify(hs->sign(json::object{{"id", "u1"}}), 1000)),
            TokenError::malformed);
}

}  // namespace
}  // namespace orc::sim
