// SHA-256 and HMAC-SHA256 as lower-case hex.
#include "util/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

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
  // A hit on a Vary entry computes one per named field: the MAC and a context keyed with the last key are
  // kept per thread (OpenSSL 3's one-shot HMAC() fetches the algorithm and allocates a context each call).
  struct Hmac {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
    std::string key;  // what ctx is keyed with; `keyed` false: nothing yet
    bool keyed = false;
    ~Hmac() {
      OPENSSL_cleanse(key.data(), key.size());
      EVP_MAC_CTX_free(ctx);
      EVP_MAC_free(mac);
    }
  };
  thread_local Hmac h;
  unsigned char mac[EVP_MAX_MD_SIZE];
  if (h.ctx && !key.empty()) {
    bool ok;
    if (h.keyed && h.key == key) {
      ok = EVP_MAC_init(h.ctx, nullptr, 0, nullptr) == 1;  // the same key again
    } else {
      char digest[] = "SHA256";
      OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                             OSSL_PARAM_construct_end()};
      OPENSSL_cleanse(h.key.data(), h.key.size());
      h.keyed = false;
      ok = EVP_MAC_init(h.ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1;
      if (ok) {
        h.key.assign(key);
        h.keyed = true;
      }
    }
    std::size_t len = 0;
    if (ok && EVP_MAC_update(h.ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
        EVP_MAC_final(h.ctx, mac, &len, sizeof mac) == 1)
      return hex(mac, len);
  }
  unsigned int len = 0;  // an empty key, or no context (out of memory): the one-shot form
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
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
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
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
