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
};

unsigned status_for(RequestProblem p);
std::string_view describe(RequestProblem p);

// After the head parsed: limits Beast does not enforce itself, and framing rules it allows.
RequestProblem check_request_head(const bhttp::request_header<>& head, bool chunked,
                                  std::optional<std::uint64_t> content_length,
                                  const config::LimitsConfig& limits);

// After the parser failed: which problem that was. `parsed_target` is the request-target when the parser got
// past the request line (Beast parses the head incrementally), else empty: it tells an over-long request
// line (414) from an over-long header block (431).
RequestProblem classify_parse_error(boost::beast::error_code ec, std::string_view parsed_target,
                                    const config::LimitsConfig& limits);

// The target in origin-form ("/path?q"). Absolute-form ("http://host/path") is reduced to origin-form;
// "*" is allowed for OPTIONS. Empty when the target is not acceptable.
std::optional<std::string> origin_form_target(std::string_view target, bhttp::verb method);

}  // namespace orc::http
