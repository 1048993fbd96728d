// Names of the storage outcomes (metric labels, log fields), and the seal both backends put on entries.
#include "cache/storage.hpp"

#include "util/random_id.hpp"

namespace orc::cache {

std::string_view to_string(StorageStatus s) {
  switch (s) {
    case StorageStatus::ok:
      return "ok";
    case StorageStatus::unavailable:
      return "unavailable";
    case StorageStatus::timeout:
      return "timeout";
    case StorageStatus::error:
      return "error";
  }
  return "error";
}

namespace sealed {
namespace {

// The seal, after the blob: each token followed by ';' (so that the number of tags counts too), the length
// of that (4 bytes, little endian), then the mark (its last byte the seal's version). Tokens are decimal
// digits (an INCR of the previous layout makes one too), so ';' never occurs in one.
constexpr std::string_view kMark{"gen\x01", 4};
constexpr std::size_t kTrailer = 4 + kMark.size();

void append_tokens(std::string& out, const std::vector<std::string>& tokens) {
  for (const auto& t : tokens) {
    out += t;
    out += ';';
  }
}

}  // namespace

std::string new_generation() {
  // 18 decimal digits without a leading zero: what an INCR of the previous layout's counters accepts (see
  // kPurgeScript in redis_storage.cpp), about 60 random bits.
  constexpr std::uint64_t kLow = 100'000'000'000'000'000ull, kSpan = 900'000'000'000'000'000ull;
  return std::to_string(kLow + util::random_u64() % kSpan);
}

void choose_new_tokens(Generations& g, const std::vector<std::string>& tags) {
  g.new_tokens.clear();
  const auto n = std::min(g.tokens.size(), tags.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (!g.tokens[i].empty()) continue;
    if (g.new_tokens.empty()) g.new_tokens.resize(g.tokens.size());
    for (std::size_t j = 0; j < i && g.new_tokens[i].empty(); ++j)
      if (tags[j] == tags[i]) g.new_tokens[i] = g.new_tokens[j];
    if (g.new_tokens[i].empty()) g.new_tokens[i] = new_generation();
  }
}

std::vector<std::string> with_new_tokens(const Generations& seen) {
  auto out = seen.tokens;
  for (std::size_t i = 0; i < out.size() && i < seen.new_tokens.size(); ++i)
    if (out[i].empty()) out[i] = seen.new_tokens[i];
  return out;
}

bool still_current(std::string_view current, std::string_view seen, std::string_view new_token) {
  return current == seen || (seen.empty() && !new_token.empty() && current == new_token);
}

std::string seal(std::string blob, const std::vector<std::string>& tokens) {
  const auto start = blob.size();
  append_tokens(blob, tokens);
  const auto n = static_cast<std::uint32_t>(blob.size() - start);
  for (int i = 0; i < 4; ++i) blob += static_cast<char>((n >> (8 * i)) & 0xFF);
  blob.append(kMark);
  return blob;
}

std::optional<std::string> unseal(std::string value, const Generations& current) {
  const std::string_view v(value);
  if (v.size() < kTrailer || v.substr(v.size() - kMark.size()) != kMark) return std::nullopt;
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i)
    n |= static_cast<std::uint32_t>(static_cast<unsigned char>(v[v.size() - kTrailer + i])) << (8 * i);
  if (n > v.size() - kTrailer) return std::nullopt;
  const auto blob_size = v.size() - kTrailer - n;
  std::string expected;
  expected.reserve(n);
  append_tokens(expected, current.tokens);
  if (v.substr(blob_size, n) != expected) return std::nullopt;
  value.resize(blob_size);
  return value;
}

bool put_refused(const Generations& seen, std::chrono::steady_clock::time_point now,
                 std::chrono::milliseconds ttl, std::chrono::milliseconds max_fill) {
  if (ttl <= std::chrono::milliseconds::zero() || now - seen.read_at > max_fill) return true;
  // No entry is ever sealed with "no generation": a tag without one needs the new token its read chose.
  for (std::size_t i = 0; i < seen.tokens.size(); ++i)
    if (seen.tokens[i].empty() && (i >= seen.new_tokens.size() || seen.new_tokens[i].empty())) return true;
  return false;
}

}  // namespace sealed
}  // namespace orc::cache
