// Validation of a downstream request head against the limits and the framing rules (RFC 9112 section 6).
// Outcomes are a closed enum so they can be logged and counted.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace orc::http {

namespace bhttp = boost::beast::http;

enum class RequestProblem {
  none,
  malformed,         // 400: unparseable
  bad_framing,       // 400: ambiguous or invalid body framing (smuggling-shaped)
  bad_target,        // 400: request-target in a form the proxy does not accept
  header_too_large,  // 431
  too_many_headers,  // 431
  uri_too_long,      // 414
  body_too_large,    // 413
  client_timeout,    // 408
  unknown_coding,    // 501: a transfer coding besides chunked (the proxy forwards chunked alone)
  version,           // 505: a version other than HTTP/1.0 or HTTP/1.1 in the request line
};

unsigned status_for(RequestProblem p);
std::string_view describe(RequestProblem p);

// After the head parsed: limits Beast does not enforce itself, and framing rules it allows.
RequestProblem check_request_head(const bhttp::request_header<>& head, bool chunked,
                                  std::optional<std::uint64_t> content_length,
                                  const config::LimitsConfig& limits);

// The raw bytes of a request head as they arrive, before Beast parses them. Beast unfolds obsolete line
// folding (RFC 9112 5.2 allows that, but a parser behind another proxy may not), so its result cannot tell;
// this scan rejects it, as nginx does, together with what no head may hold in any case: a bare CR, a bare LF,
// NUL and the other control bytes. `complete` once the head's empty line is in `data` and every byte before
// it passed; `incomplete` when more bytes are needed to tell.
enum class HeadScan { incomplete, complete, bad };
HeadScan scan_request_head(std::string_view data);

// Whether the head's request line ends in a well-formed version other than HTTP/1.0 and HTTP/1.1 (HTTP/2.0,
// HTTP/0.9, HTTP/1.2): 505 (RFC 9110 section 15.6.6), as from nginx. Beast refuses those with the same error
// as a misspelt version, which stays a 400.
bool unsupported_version(std::string_view head);

// After the parser failed: which problem that was. `parsed_target` is the request-target when the parser got
// past the request line (Beast parses the head incrementally), else empty: it tells an over-long request
// line (414) from an over-long header block (431).
RequestProblem classify_parse_error(boost::beast::error_code ec, std::string_view parsed_target,
                                    const config::LimitsConfig& limits);

// The target as it is forwarded: origin-form ("/path?q") with the path normalised
// (rules::normalise_request_path), the query as it came. Absolute-form ("http://host/path") is reduced to
// origin-form when its authority is `host` (the Host field). Empty when the target is not acceptable:
// asterisk-form, authority-form, another scheme or host, or a path that does not normalise.
std::optional<std::string> origin_form_target(std::string_view target, std::string_view host);

}  // namespace orc::http
