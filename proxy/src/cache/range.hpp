// Range requests answered from a complete stored response (RFC 9110 section 14), as pure functions: what a
// request's Range field asks of a stored 200 and whether its If-Range lets the Range apply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orc::cache {

// What the cache can answer of a request's Range field from a complete stored representation of `size`
// bytes. `whole`: a 200 with the full body (no Range, another unit, or an invalid field, which a server may
// ignore). `partial`: a 206 of one range. `unsatisfiable`: a 416. `forward`: several satisfiable ranges,
// which the cache does not build as multipart/byteranges, so the backend answers. Every range of a
// zero-length representation is unsatisfiable, since a 206 cannot carry an empty range.
struct RangeAnswer {
  enum Kind { whole, partial, unsatisfiable, forward } kind = whole;
  std::uint64_t first = 0;    // partial: first byte position
  std::uint64_t length = 0;   // partial: how many bytes
  std::string content_range;  // partial: "bytes <first>-<last>/<size>"; unsatisfiable: "bytes */<size>"
};
RangeAnswer answer_range(std::string_view range, std::uint64_t size);

// RFC 9110 section 13.1.5: whether If-Range lets the Range apply. An entity-tag must match `etag` by strong
// comparison (a weak tag on either side never matches); otherwise an HTTP-date must equal `last_modified`
// exactly (byte for byte after trimming OWS), and only when there is a Last-Modified. Empty if_range: true.
bool if_range_holds(std::string_view if_range, std::string_view etag,
                    std::optional<std::string_view> last_modified);

}  // namespace orc::cache
