// RS256 / HS256 JWT signing and verification with OpenSSL 3 (EVP for RSA, one-shot HMAC for HS256).
#include "openrisk_sim/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <stdexcept>

#include "openrisk_sim/text.hpp"

namespace orc::sim {

namespace json = boost::json;

struct JwtCodec::Key {
  EVP_PKEY* pkey = nullptr;  // rs256
  std::string secret;        // hs256
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

std::string hmac_sha256(std::string_view secret, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string rsa_sign(EVP_PKEY* pkey, std::string_view data) {
  std::string sig;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  if (ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) ==
          1) {
    sig.resize(len);
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1)
      sig.resize(len);
    else
      sig.clear();
  }
  EVP_MD_CTX_free(ctx);
  return sig;
}

bool rsa_verify(EVP_PKEY* pkey, std::string_view data, std::string_view sig) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// Constant time so the simulator does not teach clients a timing oracle by accident.
bool equal_ct(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

}  // namespace

const char* token_error_name(TokenError e) {
  switch (e) {
    case TokenError::malformed:
      return "malformed";
    case TokenError::wrong_alg:
      return "wrong_alg";
    case TokenError::bad_signature:
      return "bad_signature";
    case TokenError::expired:
      return "expired";
  }
  return "?";
}

JwtCodec::JwtCodec(JwtMode mode, std::unique_ptr<Key> key, std::string material)
    : mode_(mode), key_(std::move(key)), key_material_(std::move(material)) {}

JwtCodec::~JwtCodec() = default;

std::unique_ptr<JwtCodec> JwtCodec::make_rs256(const std::string& private_key_pem) {
  auto key = std::make_unique<Key>();
  if (private_key_pem.empty()) {
    key->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048));
    if (!key->pkey) throw std::runtime_error("RSA key generation failed");
  } else {
    BIO* in = BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size()));
    key->pkey = in ? PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(in);
    if (!key->pkey || EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA)
      throw std::runtime_error("--jwt-private-key: not a PEM RSA private key");
  }
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio || PEM_write_bio_PUBKEY(bio, key->pkey) != 1) {
    BIO_free(bio);
    throw std::runtime_error("cannot export the RSA public key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return std::unique_ptr<JwtCodec>(new JwtCodec(JwtMode::rs256, std::move(key), std::move(pem)));
}

std::unique_ptr<JwtCodec> JwtCodec::make_hs256(std::string secret) {
  auto key = std::make_unique<Key>();
  key->secret = secret;
  return std::unique_ptr<JwtCodec>(new JwtCodec(JwtMode::hs256, std::move(key), std::move(secret)));
}

std::string JwtCodec::sign(const json::object& claims) const {
  const char* header =
      mode_ == JwtMode::rs256 ? R"({"alg":"RS256","typ":"JWT"})" : R"({"alg":"HS256","typ":"JWT"})";
  std::string input = base64url_encode(header) + "." + base64url_encode(json::serialize(claims));
  std::string sig = mode_ == JwtMode::rs256 ? rsa_sign(key_->pkey, input) : hmac_sha256(key_->secret, input);
  return input + "." + base64url_encode(sig);
}

std::variant<json::object, TokenError> JwtCodec::verify(std::string_view token, std::int64_t now) const {
  auto d1 = token.find('.');
  if (d1 == std::string_view::npos) return TokenError::malformed;
  auto d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return TokenError::malformed;
  std::string header_raw, payload_raw, sig;
  auto header_b = base64url_decode(token.substr(0, d1));
  auto payload_b = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig_b = base64url_decode(token.substr(d2 + 1));
  if (header_b) header_raw = std::move(*header_b);
  if (payload_b) payload_raw = std::move(*payload_b);
  if (sig_b) sig = std::move(*sig_b);
  if (!header_b || !payload_b || !sig_b) return TokenError::malformed;
  boost::system::error_code ec;
  json::value header = json::parse(header_raw, ec);
  if (ec || !header.is_object()) return TokenError::malformed;
  const json::value* alg = header.as_object().if_contains("alg");
  const char* want = mode_ == JwtMode::rs256 ? "RS256" : "HS256";
  if (!alg || !alg->is_string() || alg->as_string() != want) return TokenError::wrong_alg;
  std::string_view input = token.substr(0, d2);
  bool ok = mode_ == JwtMode::rs256 ? rsa_verify(key_->pkey, input, sig)
                                    : equal_ct(hmac_sha256(key_->secret, input), sig);
  if (!ok) return TokenError::bad_signature;
  json::value payload = json::parse(payload_raw, ec);
  if (ec || !payload.is_object()) return TokenError::malformed;
  const json::value* exp = payload.as_object().if_contains("exp");
  if (!exp || !exp->is_number()) return TokenError::malformed;
  std::int64_t exp_s =
      exp->is_int64() ? exp->as_int64() : static_cast<std::int64_t>(exp->to_number<double>());
  if (exp_s <= now) return TokenError::expired;
  return std::move(payload.as_object());
}

}  // namespace orc::sim
