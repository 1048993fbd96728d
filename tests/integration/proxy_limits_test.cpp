// Black-box tests of request validation: every size limit (431, 414, 413, with the accepted side of each
// boundary) and smuggling-shaped framing (400, then the connection closed, nothing forwarded).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "proxy_fixture.hpp"

namespace orc::test {
namespace {

constexpr std::size_t kHeaderBytes = 4096;
constexpr int kHeaderCount = 20;
constexpr std::size_t kUriLength = 1024;
constexpr std::size_t kRequestBody = 1024;

class ProxyLimitsTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyConfig cfg = config();
    cfg.limits["header_bytes"] = "4KiB";
    cfg.limits["header_count"] = std::to_string(kHeaderCount);
    cfg.limits["uri_length"] = "1KiB";
    cfg.limits["request_body"] = "1KiB";
    ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));
  }
};

HeaderList numbered_headers(int n) {
  HeaderList h;
  for (int i = 0; i < n; ++i) h.add("X-Field-" + std::to_string(i), "v");
  return h;
}

TEST_F(ProxyLimitsTest, HeaderBlockLargerThanLimitGets431) {
  HeaderList h;
  h.add("X-Big", std::string(kHeaderBytes + 500, 'a'));

  HttpResponse r = send_request(make_request("GET", "/big-header", h));

  expect_json_error(r, 431);
  EXPECT_EQ(backend_.request_count(), 0u);
}

TEST_F(ProxyLimitsTest, HeaderBlockWellUnderLimitIsAccepted) {
  HeaderList h;
  h.add("X-Big", std::string(kHeaderBytes * 3 / 4, 'a'));

  HttpResponse r = send_request(make_request("GET", "/big-header", h));

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200) << r.describe();
}

TEST_F(ProxyLimitsTest, MoreHeaderFieldsThanLimitGets431) {
  // Host plus kHeaderCount others: one more than allowed.
  HttpResponse r = send_request(make_request("GET", "/many", numbered_headers(kHeaderCount)));

  expect_json_error(r, 431);
  EXPECT_EQ(backend_.request_count(), 0u);
}

TEST_F(ProxyLimitsTest, HeaderFieldsAtLimitAreAccepted) {
  // Host plus kHeaderCount - 1 others: exactly the limit.
  HttpResponse r = send_request(make_request("GET", "/many", numbered_headers(kHeaderCount - 1)));

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200) << r.describe();
}

TEST_F(ProxyLimitsTest, UriLongerThanLimitGets414) {
  HttpResponse r = send_request(make_request("GET", "/" + std::string(kUriLength * 2, 'u')));

  expect_json_error(r, 414);
  EXPECT_EQ(backend_.request_count(), 0u);
}

TEST_F(ProxyLimitsTest, UriAtLimitIsAccepted) {
  HttpResponse r = send_request(make_request("GET", "/" + std::string(kUriLength - 1, 'u')));

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200) << r.describe();
}

TEST_F(ProxyLimitsTest, BodyLargerThanLimitByContentLengthGets413) {
  HttpResponse r = send_request(make_request("POST", "/upload", {}, std::string(kRequestBody + 1, 'b')));

  expect_json_error(r, 413);
  EXPECT_EQ(backend_.request_count(), 0u);
}

TEST_F(ProxyLimitsTest, BodyAtLimitIsAccepted) {
  HttpResponse r = send_request(make_request("POST", "/upload", {}, std::string(kRequestBody, 'b')));

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(backend_.request_count(), 1u);
  EXPECT_EQ(backend_.requests()[0].body.size(), kRequestBody);
}

TEST_F(ProxyLimitsTest, ChunkedBodyGrowingPastLimitGets413) {
  HeaderList h;
  h.add("Transfer-Encoding", "chunked");
  std::string request = make_request("POST", "/upload", h);
  for (int i = 0; i < 4; ++i) request += make_chunk(std::string(kRequestBody / 2, 'c'));
  request += kLastChunk;

  HttpResponse r = send_request(request);

  expect_json_error(r, 413);
  EXPECT_EQ(backend_.request_count(), 0u) << "a body over the limit reached the backend complete";
}

struct SmugglingCase {
  const char* name;
  const char* request;
};

class SmugglingTest : public ProxyTest, public ::testing::WithParamInterface<SmugglingCase> {};

TEST_P(SmugglingTest, IsRejectedWith400AndConnectionClosed) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();

  ASSERT_TRUE(client.send(GetParam().request));
  HttpResponse r = client.read_response();

  expect_json_error(r, 400);
  auto connection = r.headers.tokens("Connection");
  EXPECT_NE(std::find(connection.begin(), connection.end(), "close"), connection.end())
      << "no Connection: close\n"
      << r.describe();
  std::string extra;
  EXPECT_TRUE(client.wait_closed(deadline_in(), &extra)) << "the proxy kept the connection open";
  EXPECT_EQ(extra, "") << "bytes after the 400";
  EXPECT_EQ(backend_.request_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    ProxyTest, SmugglingTest,
    ::testing::Values(
        SmugglingCase{"ContentLengthThenTransferEncoding",
                      "POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "0\r\n\r\nG"},
        SmugglingCase{"TransferEncodingThenContentLength",
                      "POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n"
                      "0\r\n\r\nG"},
        SmugglingCase{"TwoDifferentContentLengths",
                      "POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
        SmugglingCase{"ContentLengthListWithDifferentValues",
                      "POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!"},
        SmugglingCase{
            "BadChunkSize",
            "POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
        SmugglingCase{"TransferEncodingNotEndingInChunked",
                      "POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nabc"},
        SmugglingCase{"ChunkedNotLastTransferEncoding",
                      "POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"}),
    [](const ::testing::TestParamInfo<SmugglingCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace orc::test
