// The head of a response answered from the cache, written straight into a buffer: the status line, the
// entry's stored fields, the fields of this answer (ETag, Via, X-Request-ID, Age, X-Cache, Cache-Status,
// Content-Range) and the framing. A hit used to go through Beast's header container (one allocation per
// field) and its generic serializer; this is the same head, a fraction of the work (docs/performance.md,
// "Many keys").
#pragma once

#include <string>
#include <string_view>

#include "cache/flow.hpp"

namespace orc::http {

// Appends the head of `r` to `out`, ending with the empty line. A field of the entry that this answer sets
// is replaced (ETag, X-Request-ID, Age, X-Cache, Cache-Status, Content-Length, and Content-Range when `r`
// has one); stored Via values are folded into one list ending with this proxy's; a 304 keeps only the
// fields RFC 9110 section 15.4.5 lets it send. Content-Length is the body's when `r.has_body`, absent
// otherwise; `Connection: close` when the connection will not be kept alive.
void write_stored_head(std::string& out, const cache::Reply& r, bool keep_alive, std::string_view request_id);

}  // namespace orc::http
