// Fuzzes the request-head path of a client connection: Beast's parser with the proxy's limits, then the
// proxy's own checks in the order http/session.cpp runs them (scan_request_head on the raw bytes first, then
// classify_parse_error when the parser fails, check_request_head and origin_form_target when it succeeds).
// Invariants: every refusal maps to a 4xx (or 501 for a transfer coding besides chunked); an accepted
// request's forwarded target is origin-form ("/...") with no byte a backend could split on and normalises to
// itself; a chunked request never also carries a Content-Length.
#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "fuzz_check.hpp"
#include "http/request_checks.hpp"

namespace bhttp = boost::beast::http;
using orc::http::RequestProblem;

namespace {

void check_refusal(RequestProblem p) {
  ORC_FUZZ_CHECK(p != RequestProblem::none);
  auto status = orc::http::status_for(p);
  // 4xx, 501 for a well-formed list of transfer codings that is not chunked alone, or 505 for an HTTP version
  // the proxy does not speak.
  ORC_FUZZ_CHECK((status >= 400 && status < 500) || (p == RequestProblem::unknown_coding && status == 501) ||
                 (p == RequestProblem::version && status == 505));
  ORC_FUZZ_CHECK(!orc::http::describe(p).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  orc::config::LimitsConfig limits;
  limits.header_bytes = 4096;
  limits.header_count = 32;
  limits.uri_length = 1024;
  limits.request_body = 8192;

  auto raw = orc::fuzz::as_text(data, size);
  auto scan = orc::http::scan_request_head(raw.substr(0, limits.header_bytes + 1));
  if (scan == orc::http::HeadScan::bad) return 0;  // 400 and close, before Beast sees a byte
  if (scan == orc::http::HeadScan::incomplete && raw.size() <= limits.header_bytes) return 0;
  if (scan == orc::http::HeadScan::complete && orc::http::unsupported_version(raw)) {
    check_refusal(RequestProblem::version);  // 505 before Beast sees a byte, as the daemon does
    return 0;
  }

  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
  parser.body_limit(limits.request_body);
  parser.eager(false);

  boost::beast::error_code ec;
  boost::asio::const_buffer in(data, size);
  while (in.size() > 0 && !parser.is_header_done()) {
    auto used = parser.put(in, ec);
    in += used;
    if (ec == bhttp::error::need_more) {
      ec = {};
      if (used == 0) break;  // the rest of the head has not arrived
    } else if (ec) {
      break;
    }
  }
  if (ec) {
    check_refusal(orc::http::classify_parse_error(ec, parser.get().target(), limits));
    return 0;
  }
  if (!parser.is_header_done()) return 0;

  auto& req = parser.get();
  std::optional<std::uint64_t> content_length;
  if (auto cl = parser.content_length()) content_length = *cl;
  auto problem = orc::http::check_request_head(req.base(), parser.chunked(), content_length, limits);
  if (problem != RequestProblem::none) {
    check_refusal(problem);
    return 0;
  }
  ORC_FUZZ_CHECK(!(parser.chunked() && req.count(bhttp::field::content_length) > 0));
  auto target = orc::http::origin_form_target(req.target(), req[bhttp::field::host]);
  if (!target) return 0;
  ORC_FUZZ_CHECK(!target->empty());
  ORC_FUZZ_CHECK((*target)[0] == '/');
  for (unsigned char c : *target) ORC_FUZZ_CHECK(c > 0x20 && c != 0x7f);
  // What is forwarded normalises to itself: the backend routes the path the cache key names.
  auto again = orc::http::origin_form_target(*target, req[bhttp::field::host]);
  ORC_FUZZ_CHECK(again && *again == *target);

  // The body, when framed: parsing it must end in a result or a clean error, never a crash.
  while (in.size() > 0 && !parser.is_done()) {
    auto used = parser.put(in, ec);
    in += used;
    if (ec || used == 0) break;
  }
  return 0;
}
