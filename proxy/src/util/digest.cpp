// SHA-256 and HMAC-SHA256 as lower-case hex.
#include "util/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include <stdexcept>

namespace orc::util {

namespace {
std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0xF];
  }
  return out;
}
}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  // A hit on a Vary entry computes one per named field: the MAC and a context are kept per thread (OpenSSL
  // 3's one-shot HMAC() fetches the algorithm and allocates a context each call). The key is given at every
  // init: re-initialising with a NULL key to reuse it does not reset the state before OpenSSL 3.0.3.
  struct Hmac {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
    ~Hmac() {
      EVP_MAC_CTX_free(ctx);
      EVP_MAC_free(mac);
    }
  };
  thread_local Hmac h;
  unsigned char mac[EVP_MAX_MD_SIZE];
  if (h.ctx && !key.empty()) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
    std::size_t len = 0;
    if (EVP_MAC_init(h.ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1 &&
        EVP_MAC_update(h.ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
        EVP_MAC_final(h.ctx, mac, &len, sizeof mac) == 1)
      return hex(mac, len);
  }
  unsigned int len = 0;  // an empty key, or no context (out of memory): the one-shot form
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len) == nullptr ||
      len == 0)
    // Never a digest every caller would share (a key part, a Vary variant): the request fails instead.
    throw std::runtime_error("HMAC-SHA256 failed");
  return hex(mac, len);
}

std::string sha256_hex(std::string_view data) {
  // Every request hashes its key material: the digest is fetched and its context made once per thread, not
  // at every call (OpenSSL 3 looks the algorithm up and allocates a context in each EVP_Digest).
  struct Sha256 {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Sha256() {
      EVP_MD_CTX_free(ctx);
      EVP_MD_free(md);
    }
  };
  thread_local Sha256 sha;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (sha.md && sha.ctx && EVP_DigestInit_ex2(sha.ctx, sha.md, nullptr) == 1 &&
      EVP_DigestUpdate(sha.ctx, data.data(), data.size()) == 1 && EVP_DigestFinal_ex(sha.ctx, md, &len) == 1)
    return hex(md, len);
  len = 0;  // out of memory for the context: the one-shot form
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1 || len == 0)
    throw std::runtime_error("SHA-256 failed");  // never one digest for every input (keys, Vary variants)
  return hex(md, len);
}

bool secret_equal(std::string_view secret, std::string_view candidate) {
  unsigned char a[EVP_MAX_MD_SIZE];
  unsigned char b[EVP_MAX_MD_SIZE];
  unsigned int alen = 0;
  unsigned int blen = 0;
  if (EVP_Digest(secret.data(), secret.size(), a, &alen, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(candidate.data(), candidate.size(), b, &blen, EVP_sha256(), nullptr) != 1 || alen != blen)
    return false;
  return CRYPTO_memcmp(a, b, alen) == 0;
}

}  // namespace orc::util
