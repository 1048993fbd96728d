// What the fuzz targets share: a failed invariant aborts with a message (libFuzzer then saves the input as a
// crash artifact), and the input is split into newline-separated fields.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace orc::fuzz {

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  std::abort();
}

#define ORC_FUZZ_CHECK(cond)               \
  do {                                     \
    if (!(cond)) ::orc::fuzz::fail(#cond); \
  } while (0)

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The first `n - 1` lines and the rest of the input as the last field (fewer when the input has fewer lines).
inline std::vector<std::string_view> fields(std::string_view in, std::size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    auto nl = in.find('\n');
    if (nl == std::string_view::npos) break;
    out.push_back(in.substr(0, nl));
    in.remove_prefix(nl + 1);
  }
  out.push_back(in);
  return out;
}

}  // namespace orc::fuzz
