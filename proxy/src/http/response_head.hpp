// The heads of the responses the proxy writes, straight into a buffer: the status line, the fields and the
// framing. A hit's head (write_stored_head): the entry's stored fields and this answer's (ETag, Via,
// X-Request-ID, Age, X-Cache, Cache-Status, Content-Range). A relayed response's head (write_relayed_head):
// the backend's end-to-end fields and the proxy's. Both used to go through Beast's header container (one
// allocation per field, the backend's copied once more) and its generic serializer; these are the same
// heads, a fraction of the work (docs/performance.md, "Many keys" and "The relayed heads").
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cache/flow.hpp"

namespace orc::http {

// Appends the head of `r` to `out`, ending with the empty line. A field of the entry that this answer sets
// is replaced (ETag, X-Request-ID, Age, X-Cache, Cache-Status, Content-Length, and Content-Range when `r`
// has one); stored Via values are folded into one list ending with this proxy's; a 304 keeps only the
// fields RFC 9110 section 15.4.5 lets it send. Content-Length is the body's when `r.has_body`, absent
// otherwise; `Connection: close` when the connection will not be kept alive, `Connection: keep-alive` when
// it will be for an HTTP/1.0 client (`http10`: it asked with that option, and closes without it, RFC 9112
// section 9.3).
void write_stored_head(std::string& out, const cache::Reply& r, bool keep_alive, std::string_view request_id,
                       bool http10 = false);

// How a relayed body leaves: `chunked` (the backend's body has no length, or came chunked, and the client
// speaks HTTP/1.1), and whether the connection is kept alive (else `Connection: close`).
struct RelayFraming {
  bool chunked = false;
  bool keep_alive = true;
  // The length the backend's Content-Length gave (the parser's reading: "5, 5" is 5), written as the one
  // Content-Length unless the body goes chunked or the status is 1xx or 204 (RFC 9110 section 8.6).
  std::optional<std::uint64_t> content_length;
  bool http10 = false;  // an HTTP/1.0 client: a kept connection is announced (Connection: keep-alive)
};

// Appends the head of the backend's response `up` as the client gets it: HTTP/1.1, the backend's status and
// reason; its fields but the hop-by-hop ones (HopByHop), its Content-Length fields (one is written from
// `framing`), and those `fields` name; Via with this proxy appended (repeated Via fields folded into one
// list); X-Request-ID; Date when it had none; the `fields` that are not removals; then the framing. Ends
// with the empty line.
void write_relayed_head(std::string& out, const boost::beast::http::response_header<>& up,
                        std::span<const cache::Field> fields, RelayFraming framing,
                        std::string_view request_id);

}  // namespace orc::http
