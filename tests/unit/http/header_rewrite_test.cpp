// Unit tests for http/header_rewrite: hop-by-hop removal, the headers the proxy adds, the forwarded head.
#include "http/header_rewrite.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_helpers.hpp"

namespace orc::http {
namespace {

using test::strip_hop_by_hop;

TEST(StripHopByHop, RemovesStandardHopByHopHeaders) {
  bhttp::fields f;
  for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
                           "Transfer-Encoding", "Upgrade", "Proxy-Authenticate", "Proxy-Authorization"})
    f.set(name, "x");
  f.set("Authorization", "Bearer keep-me");
  f.set("Content-Type", "application/json");
  strip_hop_by_hop(f);
  EXPECT_EQ(std::distance(f.begin(), f.end()), 2);
  EXPECT_EQ(f["Authorization"], "Bearer keep-me");
  EXPECT_EQ(f["Content-Type"], "application/json");
}

TEST(StripHopByHop, RemovesHeadersNamedInConnection) {
  bhttp::fields f;
  f.insert("Connection", "keep-alive, X-Secret-Hop");
  f.insert("Connection", "x-other");
  f.set("X-Secret-Hop", "1");
  f.set("X-Other", "2");
  f.set("X-Stays", "3");
  strip_hop_by_hop(f);
  EXPECT_EQ(f.count("X-Secret-Hop"), 0u);
  EXPECT_EQ(f.count("X-Other"), 0u);
  EXPECT_EQ(f["X-Stays"], "3");
}

TEST(StripHopByHop, ConnectionCannotRemoveFramingOrHost) {
  bhttp::fields f;
  f.set("Connection", "Content-Length, Host");
  f.set("Content-Length", "5");
  f.set("Host", "example");
  strip_hop_by_hop(f);
  EXPECT_EQ(f["Content-Length"], "5");
  EXPECT_EQ(f["Host"], "example");
}

// The read-only test (used to list a response's end-to-end fields without copying them) and the removal
// agree, whatever the order of Connection and the fields it names.
TEST(StripHopByHop, TheReadOnlyTestKeepsWhatStrippingKeeps) {
  bhttp::fields f;
  f.insert("X-Early", "1");  // named by a Connection that comes later
  f.insert("Connection", "x-early, X-LATE, host");
  f.insert("Transfer-Encoding", "chunked");
  f.insert("X-Late", "2");
  f.insert("Host", "example");
  f.insert("Cache-Control", "max-age=5");
  const HopByHop hop(f);
  std::vector<std::string> kept;
  for (const auto& field : f)
    if (!hop(field)) kept.emplace_back(field.name_string());
  EXPECT_EQ(kept, (std::vector<std::string>{"Host", "Cache-Control"}));
  EXPECT_EQ(std::distance(f.begin(), f.end()), 6) << "the test changes nothing";
  strip_hop_by_hop(f);
  std::vector<std::string> stripped;
  for (const auto& field : f) stripped.emplace_back(field.name_string());
  EXPECT_EQ(stripped, kept);
}

// The head a request leaves with, for a GET /r with these fields.
std::string forwarded(const std::vector<std::pair<std::string, std::string>>& fields,
                      ForwardedRequest f = {}) {
  bhttp::request_header<> req;
  req.method(bhttp::verb::get);
  req.target("/client-form");
  req.version(11);
  for (const auto& [k, v] : fields) req.insert(k, v);
  if (f.target.empty()) f.target = "/r";
  if (f.authority.empty()) f.authority = "backend:8080";
  if (f.ctx.client_ip.empty()) f.ctx = {"192.0.2.7", "abc123"};
  std::string out;
  write_forwarded_head(out, req, f);
  return out;
}

bool has_line(const std::string& head, std::string_view line) {
  return head.find("\r\n" + std::string(line) + "\r\n") != std::string::npos;
}

TEST(ForwardedHead, AddsViaForwardedAndRequestId) {
  const std::string h = forwarded({{"Host", "api.example"},
                                   {"X-Forwarded-For", "10.0.0.1"},
                                   {"X-Forwarded-Proto", "https-spoofed"},
                                   {"X-Forwarded-Host", "spoofed"},
                                   {"X-Request-ID", "client-id"}});
  EXPECT_TRUE(h.starts_with("GET /r HTTP/1.1\r\n")) << h;
  EXPECT_TRUE(has_line(h, "Host: api.example")) << h;
  EXPECT_TRUE(has_line(h, "Via: 1.1 openrisk-cache")) << h;
  EXPECT_TRUE(has_line(h, "X-Forwarded-For: 10.0.0.1, 192.0.2.7")) << h;
  EXPECT_TRUE(has_line(h, "X-Forwarded-Proto: http")) << h;
  EXPECT_TRUE(has_line(h, "X-Forwarded-Host: api.example")) << h;
  EXPECT_TRUE(has_line(h, "X-Request-ID: abc123")) << h;
  for (auto gone : {"https-spoofed", "spoofed\r", "client-id"})
    EXPECT_EQ(h.find(gone), std::string::npos) << h;
  EXPECT_TRUE(h.ends_with("\r\n\r\n")) << h;
}

TEST(ForwardedHead, AppendsToExistingViaFoldsRepeatsAndFillsInTheHost) {
  const std::string h = forwarded({{"Via", "1.0 first"}, {"Via", "1.1 second"}});
  EXPECT_TRUE(has_line(h, "Via: 1.0 first, 1.1 second, 1.1 openrisk-cache")) << h;
  EXPECT_TRUE(has_line(h, "Host: backend:8080")) << h;  // none from the client: the backend's authority
  EXPECT_TRUE(has_line(h, "X-Forwarded-Host: backend:8080")) << h;

  // Empty fields add no member: no list starts with a comma (a backend that trusts its first entry).
  const std::string empty =
      forwarded({{"X-Forwarded-For", ""}, {"X-Forwarded-For", "10.0.0.1"}, {"Via", ""}});
  EXPECT_TRUE(has_line(empty, "X-Forwarded-For: 10.0.0.1, 192.0.2.7")) << empty;
  EXPECT_TRUE(has_line(empty, "Via: 1.1 openrisk-cache")) << empty;
}

TEST(ForwardedHead, DropsHopByHopFieldsAndExpect) {
  const std::string h = forwarded({{"Connection", "keep-alive, X-Hop"},
                                   {"X-Hop", "1"},
                                   {"Keep-Alive", "timeout=5"},
                                   {"TE", "trailers"},
                                   {"Expect", "100-continue"},
                                   {"Authorization", "Bearer keep-me"}});
  for (auto gone : {"Connection", "X-Hop", "Keep-Alive", "TE:", "Expect"})
    EXPECT_EQ(h.find(gone), std::string::npos) << gone << "\n" << h;
  EXPECT_TRUE(has_line(h, "Authorization: Bearer keep-me")) << h;
}

TEST(ForwardedHead, ValidatorsStayBehindOrAreReplaced) {
  const std::vector<std::pair<std::string, std::string>> client = {
      {"If-None-Match", "\"client\""},
      {"If-Modified-Since", "Tue, 01 Dec 2026 10:00:00 GMT"},
      {"If-Match", "\"v1\""}};  // a precondition for writes, not a validator of a cached read
  const std::string kept = forwarded(client);
  EXPECT_TRUE(has_line(kept, "If-None-Match: \"client\"")) << kept;
  EXPECT_TRUE(has_line(kept, "If-Modified-Since: Tue, 01 Dec 2026 10:00:00 GMT")) << kept;

  const std::string stripped = forwarded(client, {.strip_validators = true});
  EXPECT_EQ(stripped.find("If-None-Match"), std::string::npos) << stripped;
  EXPECT_EQ(stripped.find("If-Modified-Since"), std::string::npos) << stripped;
  EXPECT_TRUE(has_line(stripped, "If-Match: \"v1\"")) << stripped;

  const std::string revalidation =
      forwarded(client, {.strip_validators = true, .if_none_match = "\"stored\"", .if_modified_since = "x"});
  EXPECT_TRUE(has_line(revalidation, "If-None-Match: \"stored\"")) << revalidation;
  EXPECT_TRUE(has_line(revalidation, "If-Modified-Since: x")) << revalidation;
  EXPECT_EQ(revalidation.find("client"), std::string::npos) << revalidation;
}

TEST(ForwardedHead, AChunkedBodyLeavesChunkedAndTheMethodMayBeReplaced) {
  const std::string h = forwarded({{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}},
                                  {.method = "POST", .chunked = true});
  EXPECT_TRUE(h.starts_with("POST /r HTTP/1.1\r\n")) << h;
  EXPECT_TRUE(has_line(h, "Transfer-Encoding: chunked")) << h;
  EXPECT_EQ(h.find("Content-Length"), std::string::npos) << h;
  EXPECT_EQ(h.find("Transfer-Encoding"), h.rfind("Transfer-Encoding")) << "once\n" << h;
}

TEST(ResponseHeaders, AddsViaAndRequestId) {
  bhttp::fields f;
  f.set("X-Request-ID", "from-backend");
  add_response_headers(f, "ours");
  EXPECT_EQ(f["Via"], "1.1 openrisk-cache");
  EXPECT_EQ(f["X-Request-ID"], "ours");
}

TEST(RequestId, OnlySafeShortIdsAreKept) {
  EXPECT_TRUE(valid_request_id("3f2a9c1e-77b0-4b8e-9f5e-0d6c2b1a4e33"));
  EXPECT_TRUE(valid_request_id("req_01:abc.DEF"));
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id("has space"));
  EXPECT_FALSE(valid_request_id("line\nbreak"));
  EXPECT_FALSE(valid_request_id("quote\"d"));
  EXPECT_FALSE(valid_request_id(std::string(129, 'a')));
}

}  // namespace
}  // namespace orc::http
