// HTTP/1.1 pieces shared by the raw client and the test backend: deadlines, header lists, chunked framing.
// Deliberately hand-written (not Beast) so the tests see the bytes on the wire, not a library's view of them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orc::test {

class BufferedSocket;
enum class IoStatus;

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// The upper bound for anything a test waits for: long enough never to fire on a healthy run, short enough
// that a hang fails the test instead of blocking the suite.
inline constexpr std::chrono::seconds kDefaultWait{10};
inline Deadline deadline_in(Clock::duration d = kDefaultWait) {
  return Clock::now() + d;
}
// Calls `probe` until it returns true or the deadline passes; short pauses between calls. For conditions the
// test can observe but not be notified of (an entry expiring, a request count reaching a value).
bool poll_until(const std::function<bool()>& probe, Deadline deadline = deadline_in());

bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);
std::string_view trim(std::string_view s);

// Header fields in wire order; lookups ignore case.
struct HeaderList {
  std::vector<std::pair<std::string, std::string>> fields;

  void add(std::string name, std::string value) { fields.emplace_back(std::move(name), std::move(value)); }
  // The first field named `name`.
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> get_all(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  std::size_t count(std::string_view name) const { return get_all(name).size(); }
  // Lower-cased comma-separated tokens of every field `name` ("Connection: a, B" -> {"a", "b"}).
  std::vector<std::string> tokens(std::string_view name) const;
  // "Name: value\r\n" per field.
  std::string to_string() const;
};

// "Name: value" with optional whitespace trimmed. Empty when there is no colon or the name is empty.
std::optional<std::pair<std::string, std::string>> parse_header_line(std::string_view line);

// Reads header lines up to the empty line that ends a header block. `error` tells what went wrong.
IoStatus read_header_block(BufferedSocket& socket, HeaderList& out, Deadline deadline, std::string& error);

// True when the last transfer coding is "chunked".
bool has_chunked_encoding(const HeaderList& headers);

// Reads one chunk: size line, data, CRLF. `size` is 0 for the last chunk, whose trailer fields go to
// `trailers`. `data` may be null to discard the chunk.
IoStatus read_chunk(BufferedSocket& socket, std::string* data, std::uint64_t& size, HeaderList& trailers,
                    Deadline deadline, std::string& error);

// Frames `data` as one chunk ("5\r\nhello\r\n"); the last chunk is "0\r\n\r\n".
std::string make_chunk(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

std::string reason_phrase(int status);

// The value of one sample of a Prometheus text exposition, the whole series as written
// (`openrisk_cache_config_reloads_total{outcome="ok"}`); empty when the exposition has no such line.
std::optional<double> metric_sample(std::string_view exposition, std::string_view series);

}  // namespace orc::test
