// Validation of a downstream request head against the limits and the framing rules.
#include "http/request_checks.hpp"

#include <boost/beast/http/error.hpp>

#include "util/strings.hpp"

namespace orc::http {

unsigned status_for(RequestProblem p) {
  switch (p) {
    case RequestProblem::none:
      return 200;
    case RequestProblem::malformed:
    case RequestProblem::bad_framing:
    case RequestProblem::bad_target:
      return 400;
    case RequestProblem::header_too_large:
    case RequestProblem::too_many_headers:
      return 431;
    case RequestProblem::uri_too_long:
      return 414;
    case RequestProblem::body_too_large:
      return 413;
    case RequestProblem::client_timeout:
      return 408;
  }
  return 400;
}

std::string_view describe(RequestProblem p) {
  switch (p) {
    case RequestProblem::none:
      return "ok";
    case RequestProblem::malformed:
      return "malformed request";
    case RequestProblem::bad_framing:
      return "ambiguous or invalid message framing";
    case RequestProblem::bad_target:
      return "invalid request target";
    case RequestProblem::header_too_large:
      return "request header fields too large";
    case RequestProblem::too_many_headers:
      return "too many request header fields";
    case RequestProblem::uri_too_long:
      return "request URI too long";
    case RequestProblem::body_too_large:
      return "request body too large";
    case RequestProblem::client_timeout:
      return "request timeout";
  }
  return "malformed request";
}

RequestProblem check_request_head(const bhttp::request_header<>& head, bool chunked,
                                  std::optional<std::uint64_t> content_length,
                                  const config::LimitsConfig& limits) {
  if (head.target().size() > limits.uri_length) return RequestProblem::uri_too_long;
  std::size_t count = 0;
  std::size_t transfer_encodings = 0;
  std::size_t content_lengths = 0;
  for (const auto& f : head) {
    ++count;
    if (f.name() == bhttp::field::transfer_encoding) ++transfer_encodings;
    if (f.name() == bhttp::field::content_length) ++content_lengths;
  }
  if (count > limits.header_count) return RequestProblem::too_many_headers;
  // Any Transfer-Encoding must end in chunked, and must never come with a Content-Length (RFC 9112 6.1, 6.3).
  if (transfer_encodings > 0 && (!chunked || content_lengths > 0)) return RequestProblem::bad_framing;
  if (transfer_encodings > 1) return RequestProblem::bad_framing;
  if (content_length && *content_length > limits.request_body) return RequestProblem::body_too_large;
  if (head.version() != 11 && head.version() != 10) return RequestProblem::malformed;
  return RequestProblem::none;
}

RequestProblem classify_parse_error(boost::beast::error_code ec, std::string_view parsed_target,
                                    const config::LimitsConfig& limits) {
  if (ec == bhttp::error::header_limit) {
    // No request line yet means the request line alone filled the header limit: its target is too long
    // (uri_length never exceeds header_bytes).
    if (parsed_target.empty() || parsed_target.size() > limits.uri_length)
      return RequestProblem::uri_too_long;
    return RequestProblem::header_too_large;
  }
  if (ec == bhttp::error::body_limit) return RequestProblem::body_too_large;
  if (ec == bhttp::error::bad_transfer_encoding || ec == bhttp::error::bad_content_length ||
      ec == bhttp::error::multiple_content_length || ec == bhttp::error::bad_chunk ||
      ec == bhttp::error::bad_chunk_extension)
    return RequestProblem::bad_framing;
  if (ec == bhttp::error::bad_target) return RequestProblem::bad_target;
  return RequestProblem::malformed;
}

std::optional<std::string> origin_form_target(std::string_view target, bhttp::verb method) {
  if (!target.empty() && target.front() == '/') return std::string(target);
  if (target == "*" && method == bhttp::verb::options) return std::string(target);
  constexpr std::string_view scheme = "http://";
  if (target.size() > scheme.size() && util::iequals(target.substr(0, scheme.size()), scheme)) {
    auto rest = target.substr(scheme.size());
    auto slash = rest.find_first_of("/?");
    if (slash == std::string_view::npos) return std::string("/");
    if (rest[slash] == '?') return "/" + std::string(rest.substr(slash));
    return std::string(rest.substr(slash));
  }
  return std::nullopt;
}

}  // namespace orc::http
