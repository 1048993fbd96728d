// Shared unit-test helpers: a temporary directory, the test RSA keys, and JWTs signed in the test.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>

typedef struct evp_pkey_st EVP_PKEY;

namespace orc::test {

// Removes the hop-by-hop headers of `fields` as http::HopByHop names them: the Beast-built references of the
// head writers' tests (the proxy itself skips them as it writes a head).
void strip_hop_by_hop(boost::beast::http::fields& fields);

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The absolute path of `relative` inside the directory (not created).
  std::string file(const std::string& relative) const;
  // Writes `content` to `relative` (creating parent directories) and returns its absolute path.
  std::string write(const std::string& relative, std::string_view content) const;

 private:
  std::filesystem::path path_;
};

// An RSA key pair read from a PEM private key file.
class RsaKey {
 public:
  explicit RsaKey(const std::string& pem_path);
  ~RsaKey();
  RsaKey(const RsaKey&) = delete;
  RsaKey& operator=(const RsaKey&) = delete;

  // Writes the public key as PEM (SubjectPublicKeyInfo) to `path`; returns `path`.
  std::string write_public_pem(const std::string& path) const;
  // RSASSA-PKCS1-v1_5 with SHA-256 over `data` (the JWS RS256 signature), raw bytes.
  std::string sign(std::string_view data) const;

 private:
  EVP_PKEY* pkey_ = nullptr;
};

// Two fixed test keys (tests/data/jwt/test-key-a.pem and -b.pem): generating RSA keys is slow.
const RsaKey& rsa_key();
const RsaKey& other_rsa_key();

// The head of a config file whose identity is a bearer token verified with rsa_key() (its public key written
// into `dir`) and whose cache has a key secret; `issuer` adds the check of `iss`. Eight lines with an issuer,
// seven without: a `rules:` block follows.
std::string jwt_config_head(const TempDir& dir, std::string_view issuer = "");

std::string base64url(std::string_view raw);
// HMAC-SHA256 of `data` under `secret`, raw bytes.
std::string hmac_sha256(std::string_view secret, std::string_view data);

// base64url(header) "." base64url(payload) "." base64url(signature of the first two parts).
std::string rs256_token(const RsaKey& key, std::string_view payload_json,
                        std::string_view header_json = R"({"alg":"RS256","typ":"JWT"})");
std::string hs256_token(std::string_view secret, std::string_view payload_json,
                        std::string_view header_json = R"({"alg":"HS256","typ":"JWT"})");
// A token whose signature part is given as is (already base64url).
std::string unsigned_token(std::string_view header_json, std::string_view payload_json,
                           std::string_view signature_b64 = "");

}  // namespace orc::test
