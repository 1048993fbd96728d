// Unit tests for http/request_checks: limits, framing rules and target forms.
#include "http/request_checks.hpp"

#include <gtest/gtest.h>
#include <boost/beast/http/error.hpp>

#include <random>
#include <string>

namespace orc::http {
namespace {

config::LimitsConfig small_limits() {
  config::LimitsConfig l;
  l.header_count = 4;  // Host and three more
  l.uri_length = 16;
  l.request_body = 100;
  return l;
}

bhttp::request_header<> head(std::string target) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target(target);
  h.version(11);
  h.set("Host", "x");
  return h;
}

TEST(CheckRequestHead, AcceptsAPlainRequest) {
  auto h = head("/api/v1/risks");
  h.set("Host", "x");
  EXPECT_EQ(check_request_head(h, false, std::nullopt, small_limits()), RequestProblem::none);
}

TEST(CheckRequestHead, ExactlyOneHostInHttp11) {
  auto none = head("/");
  none.erase("Host");
  EXPECT_EQ(check_request_head(none, false, std::nullopt, small_limits()), RequestProblem::malformed);
  none.version(10);
  EXPECT_EQ(check_request_head(none, false, std::nullopt, small_limits()), RequestProblem::none);
  auto two = head("/");
  two.insert("Host", "y");
  EXPECT_EQ(check_request_head(two, false, std::nullopt, small_limits()), RequestProblem::malformed);
  auto list = head("/");
  list.set("Host", "x, y");
  EXPECT_EQ(check_request_head(list, false, std::nullopt, small_limits()), RequestProblem::malformed);
}

// RFC 9112 section 3.2: a Host that is not uri-host [ ":" port ] gets 400; the backend would receive it as
// Host and X-Forwarded-Host, and one that builds links from it would be poisoned for every client.
TEST(CheckRequestHead, AnInvalidHostIsMalformed) {
  for (const char* good : {"x", "api.example.test", "api.example.test:8443", "127.0.0.1:80", "[::1]:8080",
                           "[2001:db8::7]", "under_score.test", "%41.test", "x:", ""}) {
    auto h = head("/");
    h.set("Host", good);
    EXPECT_EQ(check_request_head(h, false, std::nullopt, small_limits()), RequestProblem::none) << good;
  }
  for (const char* bad : {"a b", "x.test/evil?", "u@x.test", "x.test:abc", "a\xff.test", "x.test:80:80",
                          "[::1", "[]", "[::1]x", "x.test#frag", "%4.test", "x\"y"}) {
    auto h = head("/");
    h.set("Host", bad);
    EXPECT_EQ(check_request_head(h, false, std::nullopt, small_limits()), RequestProblem::malformed) << bad;
  }
}

// Authorization is no list: with two lines the backend (Fiber) reads the first while the proxy would read
// both joined (found by a probe: a write's tags went unrendered though the backend applied it).
TEST(CheckRequestHead, OneCredentialFieldAtMost) {
  for (const char* field : {"Authorization", "Proxy-Authorization"}) {
    auto one = head("/");
    one.insert(field, "Bearer a");
    EXPECT_EQ(check_request_head(one, false, std::nullopt, small_limits()), RequestProblem::none) << field;
    for (const char* second : {"Bearer a", "", "Bearer b"}) {
      auto two = one;
      two.insert(field, second);
      EXPECT_EQ(check_request_head(two, false, std::nullopt, small_limits()), RequestProblem::malformed)
          << field << " twice, the second '" << second << "'";
    }
  }
}

TEST(CheckRequestHead, TransferEncodingInHttp10IsBadFraming) {
  auto h = head("/");
  h.version(10);
  h.insert("Transfer-Encoding", "chunked");
  EXPECT_EQ(check_request_head(h, true, std::nullopt, small_limits()), RequestProblem::bad_framing);
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
  ok.insert("Transfer-Encoding", " Chunked ");
  EXPECT_EQ(check_request_head(ok, true, std::nullopt, small_limits()), RequestProblem::none);

  // A coding before chunked: the hop would forward chunked alone, the content still coded. 501.
  auto coded = head("/");
  coded.insert("Transfer-Encoding", "gzip, chunked");
  EXPECT_EQ(check_request_head(coded, true, std::nullopt, small_limits()), RequestProblem::unknown_coding);
  EXPECT_EQ(status_for(RequestProblem::unknown_coding), 501u);
  // No list of codings at all (bytes Beast still reads as ending in chunked): malformed framing, 400.
  auto garbage = head("/");
  garbage.insert("Transfer-Encoding", "chunked\xbe\xbe");
  EXPECT_EQ(check_request_head(garbage, true, std::nullopt, small_limits()), RequestProblem::bad_framing);
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
  EXPECT_EQ(classify_parse_error(bhttp::error::bad_version, "/", limits), RequestProblem::malformed);
  EXPECT_EQ(status_for(RequestProblem::version), 505u);
  for (const char* head :
       {"GET / HTTP/2.0\r\n\r\n", "GET / HTTP/0.9\r\nHost: x\r\n\r\n", "GET / HTTP/1.2\r\n"})
    EXPECT_TRUE(unsupported_version(head)) << head;
  for (const char* head : {"GET / HTTP/1.1\r\n", "GET / HTTP/1.0\r\n", "GET / http/2.0\r\n",
                           "GET / HTTP/1.10\r\n", "OPTIONS * HTTP: t\r\n\r\n", "GET /\r\n", ""})
    EXPECT_FALSE(unsupported_version(head)) << head;
  EXPECT_EQ(status_for(RequestProblem::bad_framing), 400u);
}

TEST(ScanRequestHead, CompleteOnlyOnACleanHead) {
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), HeadScan::complete);
  EXPECT_EQ(scan_request_head("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nbody\n\0"), HeadScan::complete);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nX: a\tb\xff\r\n\r\n"), HeadScan::complete);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nHost: a\r\n"), HeadScan::incomplete);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nHost: a\r\n\r"), HeadScan::incomplete);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r"), HeadScan::incomplete);
  EXPECT_EQ(scan_request_head(""), HeadScan::incomplete);
}

TEST(ScanRequestHead, RejectsWhatAnotherParserMayReadDifferently) {
  using namespace std::string_view_literals;
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\nHost: a"), HeadScan::bad);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nX: a\rY: b\r\n\r\n"), HeadScan::bad);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), HeadScan::bad);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), HeadScan::bad);
  EXPECT_EQ(scan_request_head("GET /\0 HTTP/1.1\r\n"sv), HeadScan::bad);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nX: \x01\r\n"), HeadScan::bad);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nX: \x7f\r\n"), HeadScan::bad);
  EXPECT_EQ(scan_request_head("GET / HTTP/1.1\r\nHost: a\r\n\rX"), HeadScan::bad);
}

// The scan skips ordinary bytes eight at a time: it must stop at every byte the byte-by-byte rule would, in
// any position of a word. Checked against that rule on random heads rich in the bytes that matter.
HeadScan scan_bytewise(std::string_view data) {
  std::size_t i = 0;
  while (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') i += 2;
  for (; i < data.size(); ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (c == '\r') {
      if (i + 2 >= data.size()) return HeadScan::incomplete;
      if (data[i + 1] != '\n') return HeadScan::bad;
      if (data[i + 2] == ' ' || data[i + 2] == '\t') return HeadScan::bad;
      if (data[i + 2] == '\r') {
        if (i + 3 >= data.size()) return HeadScan::incomplete;
        return data[i + 3] == '\n' ? HeadScan::complete : HeadScan::bad;
      }
      ++i;
    } else if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) {
      return HeadScan::bad;
    }
  }
  return HeadScan::incomplete;
}

TEST(ScanRequestHead, AgreesWithTheByteByByteRule) {
  std::mt19937 rng(9112);
  const std::string common = "GET /a HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer eyJ.x-y_z\r\n";
  const unsigned char rare[] = {'\r', '\n', '\t', ' ', 0, 1, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xff};
  int outcomes[3] = {0, 0, 0};
  for (int n = 0; n < 20'000; ++n) {
    std::string head;
    const auto len = rng() % 80;
    for (std::size_t k = 0; k < len; ++k) {
      const auto pick = rng() % 16;
      head += pick < 12 ? common[rng() % common.size()] : static_cast<char>(rare[rng() % sizeof rare]);
    }
    if (rng() % 2) head += "\r\n\r\n";
    ASSERT_EQ(scan_request_head(head), scan_bytewise(head)) << testing::PrintToString(head);
    ++outcomes[static_cast<int>(scan_bytewise(head))];
  }
  for (int o : outcomes) EXPECT_GT(o, 100) << "every outcome is exercised";
}

TEST(CheckRequestHead, ContentLengthIsOneNumber) {
  for (const char* v : {"5, 5", "+5", "-1", "0x5", "", "1 0"}) {
    auto h = head("/");
    h.insert("Content-Length", v);
    EXPECT_EQ(check_request_head(h, false, std::nullopt, small_limits()), RequestProblem::bad_framing) << v;
  }
  auto twice = head("/");
  twice.insert("Content-Length", "5");
  twice.insert("Content-Length", "5");
  EXPECT_EQ(check_request_head(twice, false, 5, small_limits()), RequestProblem::bad_framing);
  auto ok = head("/");
  ok.insert("Content-Length", "5");
  EXPECT_EQ(check_request_head(ok, false, 5, small_limits()), RequestProblem::none);
}

TEST(OriginFormTarget, Forms) {
  EXPECT_EQ(origin_form_target("/a?b=1", "host"), "/a?b=1");
  EXPECT_EQ(origin_form_target("http://host:1/a/b?c", "host:1"), "/a/b?c");
  EXPECT_EQ(origin_form_target("HTTP://HOST:1/a/b?c", "host:1"), "/a/b?c");
  EXPECT_EQ(origin_form_target("http://host?x=1", "host"), "/?x=1");
  EXPECT_EQ(origin_form_target("http://host", "host"), "/");
  // Absolute-form naming another host than the Host field, or none, or with userinfo.
  EXPECT_FALSE(origin_form_target("http://other/a", "host"));
  EXPECT_FALSE(origin_form_target("http://host:2/a", "host:1"));
  EXPECT_FALSE(origin_form_target("http:///a", "host"));
  EXPECT_FALSE(origin_form_target("http://u@host/a", "host"));
  EXPECT_FALSE(origin_form_target("https://host/a", "host"));
  EXPECT_FALSE(origin_form_target("*", "host"));
  EXPECT_FALSE(origin_form_target("host:443", "host"));
  EXPECT_FALSE(origin_form_target("ftp://x/y", "x"));
  EXPECT_FALSE(origin_form_target("a/b", "host"));
  // Parsed as an RFC 3986 absolute-URI: no fragment, no stray '%', no byte outside the grammar.
  EXPECT_FALSE(origin_form_target("http://host/a#f", "host"));
  EXPECT_FALSE(origin_form_target("http://host/a%zz", "host"));
  EXPECT_FALSE(origin_form_target("http://host/a\"b", "host"));
  EXPECT_FALSE(origin_form_target("http://:pw@host/a", "host"));
}

// RFC 9110 section 4.2.3: the default port (80), written or left out, names the same authority.
TEST(OriginFormTarget, TheDefaultPortNamesTheSameAuthority) {
  EXPECT_EQ(origin_form_target("http://x.test:80/a", "x.test"), "/a");
  EXPECT_EQ(origin_form_target("http://x.test/a", "x.test:80"), "/a");
  EXPECT_EQ(origin_form_target("http://x.test:/a", "x.test"), "/a");
  EXPECT_FALSE(origin_form_target("http://x.test:8080/a", "x.test"));
  EXPECT_FALSE(origin_form_target("http://x.test/a", "x.test:8080"));
  EXPECT_FALSE(origin_form_target("http://x.test:800/a", "x.test:80"));
}

TEST(OriginFormTarget, PathIsNormalisedAndTheQueryKept) {
  EXPECT_EQ(origin_form_target("/a//b/?q=%2F..", "h"), "/a/b?q=%2F..");
  EXPECT_EQ(origin_form_target("//a/%62/%7e%2a", "h"), "/a/b/~%2A");
  EXPECT_EQ(origin_form_target("http://h//a/", "h"), "/a");
  EXPECT_EQ(origin_form_target("/", "h"), "/");
  EXPECT_EQ(origin_form_target("/?x", "h"), "/?x");
}

TEST(OriginFormTarget, AmbiguousPathsAreRefused) {
  for (const char* t : {"/a/../b", "/a/./b", "/a/%2e%2E/b", "/a/.%2e", "/a%2Fb", "/a%2fb", "/a%5Cb", "/a\\b",
                        "/a%00b", "/a;b", "/a/b;x.css", "http://h/a/..;/b"})
    EXPECT_FALSE(origin_form_target(t, "h")) << t;
}

}  // namespace
}  // namespace orc::http
