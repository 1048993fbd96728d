// Shared unit-test helpers: a temporary directory, the test RSA keys, and JWTs signed in the test.
#include "test_helpers.hpp"

#include "http/header_rewrite.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "support/paths.hpp"

namespace orc::test {

void strip_hop_by_hop(boost::beast::http::fields& fields) {
  // Found first, erased after: the Connection values the test views must outlive it.
  const http::HopByHop hop(fields);
  std::vector<boost::beast::http::fields::const_iterator> doomed;
  for (auto it = fields.begin(); it != fields.end(); ++it)
    if (hop(*it)) doomed.push_back(it);
  for (auto it : doomed) fields.erase(it);
}

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "orc-unit-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::file(const std::string& relative) const {
  return (path_ / relative).string();
}

std::string TempDir::write(const std::string& relative, std::string_view content) const {
  fs::path p = path_ / relative;
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + p.string());
  return p.string();
}

RsaKey::RsaKey(const std::string& pem_path) {
  FILE* f = std::fopen(pem_path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot read " + pem_path);
  pkey_ = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (pkey_ == nullptr) throw std::runtime_error(pem_path + ": not a PEM private key");
}

RsaKey::~RsaKey() {
  EVP_PKEY_free(pkey_);
}

std::string RsaKey::write_public_pem(const std::string& path) const {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  bool ok = PEM_write_PUBKEY(f, pkey_) == 1;
  std::fclose(f);
  if (!ok) throw std::runtime_error("PEM_write_PUBKEY failed");
  return path;
}

std::string RsaKey::sign(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  std::string sig;
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey_) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("EVP_DigestSign failed");
  return sig;
}

const RsaKey& rsa_key() {
  static const RsaKey key(source_file("tests/data/jwt/test-key-a.pem"));
  return key;
}

const RsaKey& other_rsa_key() {
  static const RsaKey key(source_file("tests/data/jwt/test-key-b.pem"));
  return key;
}

// An independent encoder (not the one under test), with the RFC 4648 section 5 alphabet and no padding.
std::string jwt_config_head(const TempDir& dir, std::string_view issuer) {
  auto pem = rsa_key().write_public_pem(dir.file("jwt.pem"));
  std::string out =
      "cache:\n  key_secret: test-key-secret\nidentity:\n  credential: [{header: Authorization}]\n"
      "  jwt:\n    algorithm: RS256\n    public_key_file: '" +
      pem + "'\n";
  if (!issuer.empty()) out += "    issuer: " + std::string(issuer) + "\n";
  return out;
}

std::string base64url(std::string_view raw) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= raw.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(raw[i]) << 16) | (static_cast<unsigned char>(raw[i + 1]) << 8) |
                 static_cast<unsigned char>(raw[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  std::size_t rest = raw.size() - i;
  if (rest == 1) {
    unsigned v = static_cast<unsigned char>(raw[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
  } else if (rest == 2) {
    unsigned v = (static_cast<unsigned char>(raw[i]) << 16) | (static_cast<unsigned char>(raw[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
  }
  return out;
}

std::string hmac_sha256(std::string_view secret, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string rs256_token(const RsaKey& key, std::string_view payload_json, std::string_view header_json) {
  std::string input = base64url(header_json) + "." + base64url(payload_json);
  return input + "." + base64url(key.sign(input));
}

std::string hs256_token(std::string_view secret, std::string_view payload_json,
                        std::string_view header_json) {
  std::string input = base64url(header_json) + "." + base64url(payload_json);
  return input + "." + base64url(hmac_sha256(secret, input));
}

std::string unsigned_token(std::string_view header_json, std::string_view payload_json,
                           std::string_view signature_b64) {
  return base64url(header_json) + "." + base64url(payload_json) + "." + std::string(signature_b64);
}

}  // namespace orc::test
