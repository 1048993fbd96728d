// Unit tests for http/request_checks: limits, framing rules and target forms.
#include "http/request_checks.hpp"

#include <gtest/gtest.h>
#include <boost/beast/http/error.hpp>

namespace orc::http {
namespace {

config::LimitsConfig small_limits() {
  config::LimitsConfig l;
  l.header_count = 3;
  l.uri_length = 16;
  l.request_body = 100;
  return l;
}

bhttp::request_header<> head(std::string target) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target(target);
  h.version(11);
  return h;
}

TEST(CheckRequestHead, AcceptsAPlainRequest) {
  auto h = head("/api/v1/risks");
  h.set("Host", "x");
  EXPECT_EQ(check_request_head(h, false, std::nullopt, small_limits()), RequestProblem::none);
}

TEST(CheckRequestHead, UriLength) {
  EXPECT_EQ(check_request_head(head("/0123456789abcdef"), false, std::nullopt, small_limits()),
            RequestProblem::uri_too_long);
  EXPECT_EQ(check_request_head(head("/0123456789abcde"), false, std::nullopt, small_limits()),
            RequestProblem::none);
}

TEST(CheckRequestHead, HeaderCount) {
  auto h = head("/");
  h.insert("A", "1");
  h.insert("B", "2");
  h.insert("C", "3");
  EXPECT_EQ(check_request_head(h, false, std::nullopt, small_limits()), RequestProblem::none);
  h.insert("D", "4");
  EXPECT_EQ(check_request_head(h, false, std::nullopt, small_limits()), RequestProblem::too_many_headers);
  EXPECT_EQ(status_for(RequestProblem::too_many_headers), 431u);
}

TEST(CheckRequestHead, BodyLimitByContentLength) {
  auto h = head("/");
  EXPECT_EQ(check_request_head(h, false, 100, small_limits()), RequestProblem::none);
  EXPECT_EQ(check_request_head(h, false, 101, small_limits()), RequestProblem::body_too_large);
  EXPECT_EQ(status_for(RequestProblem::body_too_large), 413u);
}

TEST(CheckRequestHead, TransferEncodingMustEndInChunkedAndStandAlone) {
  auto gz = head("/");
  gz.insert("Transfer-Encoding", "gzip");
  EXPECT_EQ(check_request_head(gz, false, std::nullopt, small_limits()), RequestProblem::bad_framing);

  auto both = head("/");
  both.insert("Transfer-Encoding", "chunked");
  both.insert("Content-Length", "5");
  EXPECT_EQ(check_request_head(both, true, 5, small_limits()), RequestProblem::bad_framing);

  auto twice = head("/");
  twice.insert("Transfer-Encoding", "gzip");
  twice.insert("Transfer-Encoding", "chunked");
  EXPECT_EQ(check_request_head(twice, true, std::nullopt, small_limits()), RequestProblem::bad_framing);

  auto ok = head("/");
  ok.insert("Transfer-Encoding", "chunked");
  EXPECT_EQ(check_request_head(ok, true, std::nullopt, small_limits()), RequestProblem::none);
}

TEST(ClassifyParseError, TellsUriFromHeaderOverflow) {
  auto limits = small_limits();
  // The head overflowed before the request line was complete: the target is what is too long.
  EXPECT_EQ(classify_parse_error(bhttp::error::header_limit, "", limits), RequestProblem::uri_too_long);
  // The request line parsed, with a target over the URI limit.
  EXPECT_EQ(classify_parse_error(bhttp::error::header_limit, "/" + std::string(40, 'a'), limits),
            RequestProblem::uri_too_long);
  // A short target: the header fields are what is too large.
  EXPECT_EQ(classify_parse_error(bhttp::error::header_limit, "/short", limits),
            RequestProblem::header_too_large);
  EXPECT_EQ(status_for(RequestProblem::uri_too_long), 414u);
  EXPECT_EQ(status_for(RequestProblem::header_too_large), 431u);
}

TEST(ClassifyParseError, FramingErrorsAreBadFraming) {
  auto limits = small_limits();
  for (auto ec : {bhttp::error::bad_transfer_encoding, bhttp::error::bad_content_length,
                  bhttp::error::multiple_content_length, bhttp::error::bad_chunk})
    EXPECT_EQ(classify_parse_error(ec, "", limits), RequestProblem::bad_framing);
  EXPECT_EQ(classify_parse_error(bhttp::error::body_limit, "", limits), RequestProblem::body_too_large);
  EXPECT_EQ(classify_parse_error(bhttp::error::bad_method, "", limits), RequestProblem::malformed);
  EXPECT_EQ(status_for(RequestProblem::bad_framing), 400u);
}

TEST(OriginFormTarget, Forms) {
  EXPECT_EQ(origin_form_target("/a?b=1", bhttp::verb::get), "/a?b=1");
  EXPECT_EQ(origin_form_target("http://host:1/a/b?c", bhttp::verb::get), "/a/b?c");
  EXPECT_EQ(origin_form_target("http://host?x=1", bhttp::verb::get), "/?x=1");
  EXPECT_EQ(origin_form_target("http://host", bhttp::verb::get), "/");
  EXPECT_EQ(origin_form_target("*", bhttp::verb::options), "*");
  EXPECT_FALSE(origin_form_target("*", bhttp::verb::get));
  EXPECT_FALSE(origin_form_target("host:443", bhttp::verb::connect));
  EXPECT_FALSE(origin_form_target("ftp://x/y", bhttp::verb::get));
}

}  // namespace
}  // namespace orc::http
