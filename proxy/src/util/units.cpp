// Durations and sizes as written in the config file.
#include "util/units.hpp"

#include <charconv>
#include <limits>

namespace orc::util {
namespace {

struct Split {
  std::uint64_t number;
  std::string_view unit;
};

std::optional<Split> split_number(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) return std::nullopt;
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, n);
  if (ec != std::errc{} || ptr != text.data() + i) return std::nullopt;
  std::string_view unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return Split{n, unit};
}

std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::nullopt;
  return a * b;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto s = split_number(text);
  if (!s) return std::nullopt;
  std::uint64_t factor = 0;
  if (s->unit == "ms")
    factor = 1;
  else if (s->unit == "s")
    factor = 1000;
  else if (s->unit == "m")
    factor = 60'000;
  else if (s->unit == "h")
    factor = 3'600'000;
  else if (s->unit == "d")
    factor = 86'400'000;
  else if (s->unit.empty() && s->number == 0)
    factor = 1;
  else
    return std::nullopt;
  auto ms = checked_mul(s->number, factor);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto s = split_number(text);
  if (!s) return std::nullopt;
  std::uint64_t factor = 0;
  if (s->unit.empty() || s->unit == "B")
    factor = 1;
  else if (s->unit == "KiB")
    factor = 1024;
  else if (s->unit == "MiB")
    factor = 1024ull * 1024;
  else if (s->unit == "GiB")
    factor = 1024ull * 1024 * 1024;
  else if (s->unit == "KB")
    factor = 1000;
  else if (s->unit == "MB")
    factor = 1000ull * 1000;
  else if (s->unit == "GB")
    factor = 1000ull * 1000 * 1000;
  else
    return std::nullopt;
  return checked_mul(s->number, factor);
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (1024ull * 1024 * 1024) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes != 0 && bytes % (1024ull * 1024) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes != 0 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes) + "B";
}

}  // namespace orc::util
