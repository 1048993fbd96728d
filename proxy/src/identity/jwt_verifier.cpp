// JWT verification with OpenSSL (RS256 / HS256) and Boost.JSON for the header and claims.
#include "identity/jwt_verifier.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>

#include "util/bounded_map.hpp"
#include "util/digest.hpp"
#include "util/files.hpp"

namespace orc::identity {

namespace json = boost::json;

namespace {
std::atomic<std::uint64_t> g_next_verifier_id{1};
}  // namespace

std::string_view to_string(JwtError e) {
  switch (e) {
    case JwtError::none:
      return "ok";
    case JwtError::malformed:
      return "malformed";
    case JwtError::wrong_algorithm:
      return "wrong_algorithm";
    case JwtError::bad_signature:
      return "bad_signature";
    case JwtError::expired:
      return "expired";
    case JwtError::not_yet_valid:
      return "not_yet_valid";
    case JwtError::wrong_issuer:
      return "wrong_issuer";
    case JwtError::wrong_audience:
      return "wrong_audience";
    case JwtError::not_access_token:
      return "not_access_token";
  }
  return "malformed";
}

struct JwtVerifier::Key {
  EVP_PKEY* pkey = nullptr;
  std::string secret;
  ~Key() { EVP_PKEY_free(pkey); }
};

JwtVerifier::JwtVerifier(const config::JwtConfig& cfg)
    : cfg_(cfg), key_(std::make_unique<Key>()), id_(g_next_verifier_id.fetch_add(1)) {
  if (cfg.algorithm == "HS256") {
    if (cfg.secret.empty()) throw std::runtime_error("identity.jwt: HS256 needs a secret");
    key_->secret = cfg.secret;
    return;
  }
  std::string error;
  auto pem = util::read_regular_file(cfg.public_key_file, util::max_secret_file_bytes, error);
  if (!pem)
    throw std::runtime_error("identity.jwt.public_key_file: cannot read '" + cfg.public_key_file +
                             "': " + error);
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  if (bio) {
    key_->pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
  }
  if (!key_->pkey || EVP_PKEY_base_id(key_->pkey) != EVP_PKEY_RSA)
    throw std::runtime_error("identity.jwt.public_key_file: '" + cfg.public_key_file +
                             "' is not a PEM RSA public key");
}

JwtVerifier::~JwtVerifier() = default;

namespace {

std::optional<json::object> parse_object(std::string_view b64) {
  auto raw = base64url_decode(b64);
  if (!raw) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(*raw, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

std::optional<long long> number_claim(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end()) return std::nullopt;
  // NumericDate values outside long long are clamped, keeping their meaning (a far future or past): the
  // conversion of such a double is undefined behaviour (found by tests/fuzz/fuzz_jwt).
  constexpr auto max = std::numeric_limits<long long>::max();
  constexpr auto min = std::numeric_limits<long long>::min();
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64())
    return static_cast<long long>(std::min<std::uint64_t>(it->value().as_uint64(), max));
  if (it->value().is_double()) {
    double d = it->value().as_double();
    // Boost.JSON reads a zero with a huge exponent (`0e600004000`) as 0 x inf, NaN; Go's encoding/json (the
    // backend's) reads 0 (found by tests/fuzz/fuzz_jwt).
    if (std::isnan(d)) return 0;
    if (d >= 9.2e18) return max;
    if (d <= -9.2e18) return min;
    return static_cast<long long>(d);
  }
  return std::nullopt;
}

// One spelling of a JSON value: object members sorted by name, array elements sorted and deduplicated (the
// permission lists are sets), scalars as Boost.JSON serialises them.
std::string canonical(const json::value& v) {
  if (v.is_object()) {
    std::vector<std::pair<std::string_view, std::string>> members;
    for (const auto& m : v.as_object()) members.emplace_back(m.key(), canonical(m.value()));
    std::sort(members.begin(), members.end());
    std::string out = "{";
    for (const auto& [k, value] : members) {
      if (out.size() > 1) out += ',';
      out += json::serialize(json::string(k)) + ':' + value;
    }
    return out + '}';
  }
  if (v.is_array()) {
    std::vector<std::string> items;
    for (const auto& e : v.as_array()) items.push_back(canonical(e));
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
    std::string out = "[";
    for (const auto& i : items) {
      if (out.size() > 1) out += ',';
      out += i;
    }
    return out + ']';
  }
  return json::serialize(v);
}

std::string authz_digest(const json::object& claims, const std::vector<std::string>& names) {
  if (names.empty()) return {};
  std::string material;
  for (const auto& name : names) {
    material += name;
    auto it = claims.find(name);
    material += it == claims.end() ? std::string(" absent") : "=" + canonical(it->value());
    material += '\n';
  }
  return util::sha256_hex(material).substr(0, 32);
}

std::shared_ptr<const std::vector<std::string>> string_list_claim(const json::object& o,
                                                                  std::string_view name) {
  if (name.empty()) return nullptr;
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_array()) return nullptr;
  // An element that is no string makes the whole claim grant nothing (the backend's []string refuses a
  // token with a number in it, and reads a null as ""): the backend decides such a caller's reads.
  auto out = std::make_shared<std::vector<std::string>>();
  for (const auto& v : it->value().as_array()) {
    if (!v.is_string()) return nullptr;
    out->emplace_back(v.as_string());
  }
  return out;
}

std::string string_claim(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end()) return {};
  if (it->value().is_string()) return std::string(it->value().as_string());
  if (it->value().is_int64()) return std::to_string(it->value().as_int64());
  if (it->value().is_uint64()) return std::to_string(it->value().as_uint64());
  return {};
}

}  // namespace

namespace {

// Positive results only, bounded, one per thread (workers never share it), dropped when the verifier
// changes (reload). Entries are checked against `now` on every use, so an expired token is refused.
constexpr std::size_t kVerifiedCacheMax = 4096;
struct VerifiedCache {
  std::uint64_t owner = 0;
  util::BoundedMap<VerifiedClaims> entries{kVerifiedCacheMax};
};

}  // namespace

std::optional<VerifiedClaims> JwtVerifier::verify(std::string_view token, long long now,
                                                  JwtError& error) const {
  thread_local VerifiedCache cache;
  if (cache.owner != id_) {
    cache.entries.clear();
    cache.owner = id_;
  }
  const long long leeway = cfg_.leeway.count() / 1000;
  if (const auto* hit = cache.entries.find(token)) {
    if (now - leeway < hit->exp) {  // not exp + leeway: exp may be LLONG_MAX
      error = JwtError::none;
      return *hit;
    }
    cache.entries.erase(token);
    error = JwtError::expired;
    return std::nullopt;
  }
  auto claims = verify_uncached(token, now, error);
  if (claims) cache.entries.insert(token, *claims);  // bounded; refills as tokens recur
  return claims;
}

std::optional<VerifiedClaims> JwtVerifier::verify_uncached(std::string_view token, long long now,
                                                           JwtError& error) const {
  error = JwtError::malformed;
  auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return std::nullopt;
  auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return std::nullopt;
  auto header = parse_object(token.substr(0, dot1));
  auto claims = parse_object(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header || !claims || !signature) return std::nullopt;

  // The algorithm is the configured one, never the token's choice (no "none", no RS/HS confusion).
  if (string_claim(*header, "alg") != cfg_.algorithm) {
    error = JwtError::wrong_algorithm;
    return std::nullopt;
  }
  std::string_view signing_input = token.substr(0, dot2);
  bool valid = false;
  if (cfg_.algorithm == "HS256") {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), key_->secret.data(), static_cast<int>(key_->secret.size()),
         reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &mac_len);
    valid = signature->size() == mac_len && CRYPTO_memcmp(mac, signature->data(), mac_len) == 0;
  } else {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    valid = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key_->pkey) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature->data()),
                             signature->size(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                             signing_input.size()) == 1;
    EVP_MD_CTX_free(ctx);
  }
  if (!valid) {
    error = JwtError::bad_signature;
    return std::nullopt;
  }
  const long long leeway = cfg_.leeway.count() / 1000;
  auto exp = number_claim(*claims, "exp");
  if (!exp || now - leeway >= *exp) {  // expired at exp (RFC 7519 4.1.4); without exp it never would: refuse
    error = JwtError::expired;
    return std::nullopt;
  }
  if (auto nbf = number_claim(*claims, "nbf"); nbf && now + leeway < *nbf) {
    error = JwtError::not_yet_valid;
    return std::nullopt;
  }
  if (!cfg_.issuer.empty() && string_claim(*claims, "iss") != cfg_.issuer) {
    error = JwtError::wrong_issuer;
    return std::nullopt;
  }
  if (!cfg_.audience.empty()) {
    bool ok = string_claim(*claims, "aud") == cfg_.audience;
    if (auto it = claims->find("aud"); it != claims->end() && it->value().is_array())
      for (const auto& a : it->value().as_array())
        if (a.is_string() && a.as_string() == cfg_.audience) ok = true;
    if (!ok) {
      error = JwtError::wrong_audience;
      return std::nullopt;
    }
  }
  if (!string_claim(*claims, "type").empty()) {
    error = JwtError::not_access_token;
    return std::nullopt;
  }
  error = JwtError::none;
  return VerifiedClaims{string_claim(*claims, cfg_.user_claim), string_claim(*claims, cfg_.tenant_claim),
                        *exp, authz_digest(*claims, cfg_.authz_claims),
                        string_list_claim(*claims, cfg_.permissions_claim)};
}

}  // namespace orc::identity
