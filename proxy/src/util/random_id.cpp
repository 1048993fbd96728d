// Random identifiers: a per-thread PRNG seeded once from OpenSSL's CSPRNG (not secrets).
#include "util/random_id.hpp"

#include <openssl/rand.h>

#include <cstdint>
#include <random>

namespace orc::util {

std::uint64_t random_u64() {
  thread_local std::mt19937_64 gen = [] {
    std::uint64_t seed[2] = {0, 0};
    if (RAND_bytes(reinterpret_cast<unsigned char*>(seed), sizeof seed) != 1)
      seed[0] = std::random_device{}();
    std::seed_seq seq{seed[0], seed[0] >> 32, seed[1], seed[1] >> 32};
    return std::mt19937_64(seq);
  }();
  return gen();
}

std::string random_request_id() {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t v = random_u64();
    for (int i = 0; i < 16; ++i) {
      out[half * 16 + i] = hex[v & 0xF];
      v >>= 4;
    }
  }
  return out;
}

}  // namespace orc::util
