// Unit tests for http/header_rewrite: hop-by-hop and validator removal, and the headers the proxy adds.
#include "http/header_rewrite.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace orc::http {
namespace {

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

TEST(StripValidators, RemovesOnlyTheClientsValidators) {
  bhttp::fields f;
  f.set("If-None-Match", "\"v1\"");
  f.set("If-Modified-Since", "Tue, 01 Dec 2026 10:00:00 GMT");
  f.set("If-Match", "\"v1\"");  // a precondition for writes, not a validator of a cached read
  f.set("Accept", "application/json");
  strip_validators(f);
  EXPECT_EQ(f.count("If-None-Match"), 0u);
  EXPECT_EQ(f.count("If-Modified-Since"), 0u);
  EXPECT_EQ(f["If-Match"], "\"v1\"");
  EXPECT_EQ(f["Accept"], "application/json");
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

TEST(ForwardingHeaders, AddsViaForwardedAndRequestId) {
  bhttp::fields f;
  f.set("Host", "api.example");
  f.set("X-Forwarded-For", "10.0.0.1");
  f.set("X-Forwarded-Proto", "https-spoofed");
  add_forwarding_headers(f, {"192.0.2.7", "abc123"});
  EXPECT_EQ(f["Via"], "1.1 openrisk-cache");
  EXPECT_EQ(f["X-Forwarded-For"], "10.0.0.1, 192.0.2.7");
  EXPECT_EQ(f["X-Forwarded-Proto"], "http");
  EXPECT_EQ(f["X-Forwarded-Host"], "api.example");
  EXPECT_EQ(f["X-Request-ID"], "abc123");
}

TEST(ForwardingHeaders, AppendsToExistingViaAndFoldsRepeats) {
  bhttp::fields f;
  f.insert("Via", "1.0 first");
  f.insert("Via", "1.1 second");
  add_forwarding_headers(f, {"127.0.0.1", "id"});
  EXPECT_EQ(f.count("Via"), 1u);
  EXPECT_EQ(f["Via"], "1.0 first, 1.1 second, 1.1 openrisk-cache");
  EXPECT_EQ(f.count("X-Forwarded-Host"), 0u);  // no Host, nothing to forward
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
