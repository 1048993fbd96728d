// Validation of a downstream request head against the limits and the framing rules.
#include "http/request_checks.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/url/parse.hpp>

#include <cstdint>
#include <cstring>

#include "rules/path_pattern.hpp"
#include "util/query.hpp"
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
    case RequestProblem::unknown_coding:
      return 501;
    case RequestProblem::version:
      return 505;
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
    case RequestProblem::unknown_coding:
      return "transfer coding not implemented";
    case RequestProblem::version:
      return "HTTP version not supported";
  }
  return "malformed request";
}

namespace {

// A Host field value (RFC 9112 section 3.2, RFC 3986 section 3.2.2): uri-host [ ":" port ], where uri-host is
// an IP literal in brackets or a reg-name (unreserved, sub-delims but ',' (Host is no list), %HH), and port
// is digits. Empty is allowed (a target without an authority). No userinfo, path, query, space or non-ASCII.
bool valid_host(std::string_view v) {
  auto is_hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  std::size_t i = 0;
  if (!v.empty() && v.front() == '[') {
    const auto close = v.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : v.substr(1, close - 1))
      if (!is_hex(c) && c != ':' && c != '.') return false;
    i = close + 1;
  } else {
    for (; i < v.size() && v[i] != ':'; ++i) {
      const char c = v[i];
      if (c == '%') {
        if (i + 2 >= v.size() || !is_hex(v[i + 1]) || !is_hex(v[i + 2])) return false;
        i += 2;
        continue;
      }
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && std::strchr("-._~!$&'()*+;=", c) == nullptr) return false;
    }
  }
  if (i == v.size()) return true;
  if (v[i] != ':') return false;
  return v.find_first_not_of("0123456789", i + 1) == std::string_view::npos;
}

// An http authority without its default port (RFC 9110 section 4.2.3: "x:80", "x:" and "x" are one).
std::string_view without_default_port(std::string_view authority) {
  if (authority.ends_with(":80")) return authority.substr(0, authority.size() - 3);
  if (authority.ends_with(":")) return authority.substr(0, authority.size() - 1);
  return authority;
}

}  // namespace

RequestProblem check_request_head(const bhttp::request_header<>& head, bool chunked,
                                  std::optional<std::uint64_t> content_length,
                                  const config::LimitsConfig& limits) {
  if (head.target().size() > limits.uri_length) return RequestProblem::uri_too_long;
  std::size_t count = 0;
  std::size_t transfer_encodings = 0;
  std::size_t content_lengths = 0;
  std::size_t hosts = 0;
  std::size_t authorizations = 0;
  std::size_t proxy_authorizations = 0;
  for (const auto& f : head) {
    ++count;
    if (f.name() == bhttp::field::authorization) ++authorizations;
    if (f.name() == bhttp::field::proxy_authorization) ++proxy_authorizations;
    if (f.name() == bhttp::field::transfer_encoding) ++transfer_encodings;
    if (f.name() == bhttp::field::content_length) ++content_lengths;
    if (f.name() == bhttp::field::host) {
      ++hosts;
      if (!valid_host(f.value())) return RequestProblem::malformed;  // RFC 9112 3.2: a 400 (and not a list)
    }
  }
  if (count > limits.header_count) return RequestProblem::too_many_headers;
  // One Content-Length of digits only. Beast accepts a repeated identical value ("5" twice, "5, 5"), which
  // RFC 9110 8.6 allows; like nginx the proxy does not: a recipient that reads it differently is one too
  // many.
  if (content_lengths > 1) return RequestProblem::bad_framing;
  if (content_lengths == 1) {
    auto v = head[bhttp::field::content_length];
    if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos)
      return RequestProblem::bad_framing;
  }
  // Exactly one Host in HTTP/1.1, at most one in 1.0 (RFC 9112 3.2): with two, rules and backend could each
  // read a different one.
  if (hosts > 1 || (hosts == 0 && head.version() == 11)) return RequestProblem::malformed;
  // One credential at most (Authorization is no list, RFC 9110 section 11.6.2; nginx: 400 too). With two,
  // the backend reads the first (OpenRisk's Fiber) while the proxy would read both joined: a write's tags
  // went unrendered though the backend applied it, and a blank first line the backend refuses did not stop
  // a hit.
  if (authorizations > 1 || proxy_authorizations > 1) return RequestProblem::malformed;
  // Transfer-Encoding in an HTTP/1.0 request: faulty framing (RFC 9112 6.1).
  if (transfer_encodings > 0 && head.version() == 10) return RequestProblem::bad_framing;
  // Any Transfer-Encoding must end in chunked, and must never come with a Content-Length (RFC 9112 6.1, 6.3).
  if (transfer_encodings > 0 && (!chunked || content_lengths > 0)) return RequestProblem::bad_framing;
  if (transfer_encodings > 1) return RequestProblem::bad_framing;
  // Anything but "chunked" alone. A well-formed list with a coding before chunked ("gzip, chunked"): the hop
  // decodes chunked and forwards chunked alone, so the backend would get the coded bytes as the content; RFC
  // 9112 6.1: 501 for a coding the server does not implement (nginx: the same). Anything else there is no
  // list of codings at all: 400.
  if (transfer_encodings == 1) {
    const auto codings = util::trim(head[bhttp::field::transfer_encoding]);
    if (!util::iequals(codings, "chunked")) {
      for (auto coding : util::split_list(codings, ','))
        if (!util::http_token(coding)) return RequestProblem::bad_framing;
      return RequestProblem::unknown_coding;
    }
  }
  if (content_length && *content_length > limits.request_body) return RequestProblem::body_too_large;
  if (head.version() != 11 && head.version() != 10) return RequestProblem::version;
  return RequestProblem::none;
}

namespace {

// Whether the eight bytes of `w` hold one the scan below stops at: a control byte (below 0x20) or DEL. Exact
// (the "has a byte less than n" and "has a zero byte" tests of Bit Twiddling Hacks): a borrow can set a
// higher byte's flag only when a lower byte matched already.
constexpr bool has_control(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  const std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
  const std::uint64_t x = w ^ (kOnes * 0x7f);
  const std::uint64_t del = (x - kOnes) & ~x & kHighs;
  return (below_space | del) != 0;
}

}  // namespace

HeadScan scan_request_head(std::string_view data) {
  std::size_t i = 0;
  while (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n')
    i += 2;  // empty lines first (9112 2.2)
  for (; i < data.size(); ++i) {
    // Ordinary bytes (most of a head: tokens, a credential) eight at a time.
    for (std::uint64_t w; i + 8 <= data.size(); i += 8) {
      std::memcpy(&w, data.data() + i, 8);
      if (has_control(w)) break;
    }
    if (i >= data.size()) break;
    const auto c = static_cast<unsigned char>(data[i]);
    if (c == '\r') {
      if (i + 2 >= data.size()) return HeadScan::incomplete;
      if (data[i + 1] != '\n') return HeadScan::bad;                        // bare CR
      if (data[i + 2] == ' ' || data[i + 2] == '\t') return HeadScan::bad;  // obs-fold
      if (data[i + 2] == '\r') {
        if (i + 3 >= data.size()) return HeadScan::incomplete;
        return data[i + 3] == '\n' ? HeadScan::complete : HeadScan::bad;
      }
      ++i;
    } else if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) {
      return HeadScan::bad;  // bare LF, NUL and the other controls
    }
  }
  return HeadScan::incomplete;
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
  // buffer_overflow: a chunk-size line or a trailer section longer than the connection's read buffer.
  if (ec == bhttp::error::bad_transfer_encoding || ec == bhttp::error::bad_content_length ||
      ec == bhttp::error::multiple_content_length || ec == bhttp::error::bad_chunk ||
      ec == bhttp::error::bad_chunk_extension || ec == bhttp::error::buffer_overflow)
    return RequestProblem::bad_framing;
  if (ec == bhttp::error::bad_target) return RequestProblem::bad_target;
  return RequestProblem::malformed;
}

bool unsupported_version(std::string_view head) {
  const auto line = head.substr(0, head.find_first_of("\r\n"));
  const auto space = line.rfind(' ');
  if (space == std::string_view::npos) return false;
  const auto v = line.substr(space + 1);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  const bool well_formed =
      v.size() == 8 && v.substr(0, 5) == "HTTP/" && digit(v[5]) && v[6] == '.' && digit(v[7]);
  return well_formed && v != "HTTP/1.0" && v != "HTTP/1.1";
}

std::optional<std::string> origin_form_target(std::string_view target, std::string_view host) {
  std::string_view path_and_query;
  if (!target.empty() && target.front() == '/') {
    path_and_query = target;
  } else {
    // Absolute-form (RFC 9112 3.2.2) only when it names the Host the request carries: the rules match on the
    // Host field, the backend gets it, and an authority naming another host would make the two disagree.
    // Parsed as RFC 3986 absolute-URI (no fragment); asterisk-form, authority-form, other schemes, userinfo
    // and relative references are refused.
    if (!util::uri_with_authority(target, "http")) return std::nullopt;  // see there: Boost.URL 1.81 asserts
    auto u = boost::urls::parse_absolute_uri(target);
    if (!u || u->scheme_id() != boost::urls::scheme::http || !u->has_authority() || u->has_userinfo())
      return std::nullopt;
    std::string_view authority = u->encoded_host_and_port();
    if (authority.empty() || !util::iequals(without_default_port(authority), without_default_port(host)))
      return std::nullopt;
    std::string_view path = u->encoded_path();
    if (path.empty() && !u->has_query()) return std::string("/");
    if (path.empty()) return "/?" + std::string(u->encoded_query());
    path_and_query = target.substr(static_cast<std::size_t>(path.data() - target.data()));
  }
  auto q = path_and_query.find('?');
  auto path = rules::normalise_request_path(path_and_query.substr(0, q));
  if (!path) return std::nullopt;
  if (q != std::string_view::npos) path->append(path_and_query.substr(q));
  return path;
}

}  // namespace orc::http
