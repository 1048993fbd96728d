// Unit tests for http/response_head: the heads written by hand are the heads Beast's fields and serializer
// made for the same answer (the previous implementations, kept here as the references), field for field.
#include "http/response_head.hpp"

#include <gtest/gtest.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/span_body.hpp>

#include <algorithm>
#include <array>
#include <regex>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cache/cache_policy.hpp"
#include "http/header_rewrite.hpp"
#include "test_helpers.hpp"
#include "util/strings.hpp"

namespace orc::http {
namespace {

using test::strip_hop_by_hop;

namespace bhttp = boost::beast::http;

// Relay::send's head before write_stored_head, built with Beast.
std::string beast_head(const cache::Reply& r, bool keep_alive, std::string_view request_id) {
  bhttp::response<bhttp::span_body<const char>> res{static_cast<bhttp::status>(r.status), 11};
  for (const auto& [k, v] : *r.headers)
    if (r.status != 304 || cache::sent_with_304(k)) res.insert(k, v);
  res.set(bhttp::field::etag, r.etag);
  add_response_headers(res.base(), request_id);
  if (res.find(bhttp::field::date) == res.end()) res.set(bhttp::field::date, http_date_now());
  res.set(bhttp::field::age, r.age);
  res.set("X-Cache", r.x_cache);
  append_list_header(res.base(), "Cache-Status", r.cache_status);  // after the stored members (RFC 9211)
  if (!r.content_range.empty()) res.set(bhttp::field::content_range, r.content_range);
  res.keep_alive(keep_alive);
  if (r.has_body) {
    res.body() = {r.body.data(), r.body.size()};
    res.content_length(r.body.size());
  } else {
    res.erase(bhttp::field::content_length);
  }
  std::ostringstream out;
  out << res.base();
  return out.str();
}

// The status line, then the fields as (lower-case name, value), sorted: order is not meaning.
std::pair<std::string, std::vector<std::pair<std::string, std::string>>> fields_of(const std::string& head) {
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t at = head.find("\r\n");
  const std::string status = head.substr(0, at);
  for (at += 2; at < head.size();) {
    const std::size_t end = head.find("\r\n", at);
    if (end == at) break;
    const std::string line = head.substr(at, end - at);
    const std::size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    out.emplace_back(name, std::string(util::trim(std::string_view(line).substr(colon + 1))));
    at = end + 2;
  }
  std::sort(out.begin(), out.end());
  return {status, out};
}

struct Case {
  const char* what;
  unsigned status;
  cache::StoredFields stored;
  bool has_body = true;
  bool keep_alive = true;
  std::string content_range;
};

TEST(WriteStoredHead, TheSameFieldsAsBeastWrote) {
  const cache::HeaderList typical = {{"Content-Type", "application/json"},
                                     {"Cache-Control", "max-age=60"},
                                     {"Vary", "Accept-Encoding"},
                                     {"Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT"}};
  cache::HeaderList replaced = typical;  // fields this answer sets, stored anyway
  for (auto f : {std::pair{"ETag", "\"origin\""},
                 {"Age", "12"},
                 {"X-Cache", "MISS"},
                 {"Cache-Status", "upstream-cdn; hit"},
                 {"X-Request-ID", "old"},
                 {"Content-Length", "999"},
                 {"Content-Range", "bytes 0-1/2"}})
    replaced.emplace_back(f.first, f.second);
  cache::HeaderList dated = typical;  // a stored Date stays; without one, the time the answer leaves
  dated.emplace_back("Date", "Tue, 01 Dec 2026 10:00:05 GMT");
  cache::HeaderList vias = typical;
  vias.emplace_back("Via", "1.1 cdn-a");
  vias.emplace_back("Link", "</a>; rel=preload");
  vias.emplace_back("via", "1.0 old-proxy");
  vias.emplace_back("Link", "</b>; rel=preload");  // repeated fields stay repeated
  const std::vector<Case> cases = {
      {"typical 200", 200, typical},
      {"a stored Date", 200, dated},
      {"a 304 with a stored Date", 304, dated, false},
      {"no stored fields", 200, {}},
      {"stored fields this answer replaces", 200, replaced},
      {"stored Via values fold into one list", 200, vias},
      {"closing connection", 200, typical, true, false},
      {"HEAD or bodiless: no Content-Length", 200, typical, false},
      {"206 from the entry", 206, typical, true, true, "bytes 0-9/100"},
      {"416", 416, typical, true, true, "bytes */100"},
      {"a stored Content-Range without one of this answer", 200, replaced},
      {"304 keeps only what section 15.4.5 allows", 304, replaced, false},
      {"unknown status", 299, typical},
  };
  for (const auto& c : cases) {
    cache::Reply r;
    r.status = c.status;
    r.headers = &c.stored;
    r.etag = "\"e1\"";
    r.age = "7";
    r.x_cache = "HIT";
    r.cache_status = "openrisk-cache; hit; ttl=53";
    r.body = "0123456789";
    r.has_body = c.has_body;
    r.content_range = c.content_range;
    std::string mine, theirs;
    do {  // both in the same second: the Date each adds when the entry has none is the current time
      const std::string second(http_date_now());
      mine.clear();
      write_stored_head(mine, r, c.keep_alive, "req-1");
      theirs = beast_head(r, c.keep_alive, "req-1");
      if (second == http_date_now()) break;
    } while (true);
    EXPECT_EQ(fields_of(mine), fields_of(theirs)) << c.what << "\n" << mine;
  }
}

TEST(WriteStoredHead, AppendsToWhatTheBufferHolds) {
  const cache::StoredFields none;
  cache::Reply r;
  r.headers = &none;
  r.etag = "\"e\"";
  r.age = "0";
  r.x_cache = "HIT";
  r.cache_status = "openrisk-cache; hit";
  r.body = "ab";
  std::string out = "kept";
  write_stored_head(out, r, true, "id");
  EXPECT_TRUE(out.starts_with("keptHTTP/1.1 200 OK\r\n")) << out;
  EXPECT_NE(out.find("\r\nContent-Length: 2\r\n"), std::string::npos) << out;
}

// Relay::start's head before write_relayed_head, built with Beast.
std::string beast_relayed_head(const bhttp::response_header<>& up, std::span<const cache::Field> fields,
                               RelayFraming framing, std::string_view request_id) {
  bhttp::response<bhttp::empty_body> res;
  res.base() = up;
  res.version(11);
  strip_hop_by_hop(res.base());
  add_response_headers(res.base(), request_id);
  for (const auto& f : fields) {
    if (f.remove)
      res.erase(f.name);
    else if (util::iequals(f.name, "Cache-Status"))
      append_list_header(res.base(), f.name, f.value);  // after the backend's members (RFC 9211)
    else
      res.set(f.name, f.value);
  }
  if (framing.chunked) {
    res.erase(bhttp::field::content_length);
    res.chunked(true);
  }
  res.keep_alive(framing.keep_alive);
  std::ostringstream out;
  out << res.base();
  return out.str();
}

bhttp::response_header<> backend_head(unsigned status, std::string_view reason,
                                      const std::vector<std::pair<std::string, std::string>>& fields) {
  bhttp::response_header<> h;
  h.version(11);
  h.result(status);
  h.reason(reason);
  for (const auto& [k, v] : fields) h.insert(k, v);
  return h;
}

TEST(WriteRelayedHead, TheSameFieldsAsBeastWrote) {
  const std::vector<std::pair<std::string, std::string>> typical = {
      {"Content-Type", "application/json"},
      {"Content-Length", "120"},
      {"Cache-Control", "private"},
      {"Set-Cookie", "a=1"},
      {"Set-Cookie", "b=2"}};  // repeated fields stay repeated
  auto chunked = typical;
  chunked.erase(chunked.begin() + 1);
  chunked.emplace_back("Transfer-Encoding", "chunked");
  auto hop = typical;  // hop-by-hop fields, and one the Connection field names
  for (auto f : {std::pair{"Connection", "keep-alive, X-Hop"},
                 {"Keep-Alive", "timeout=5"},
                 {"X-Hop", "secret"},
                 {"Proxy-Authenticate", "Basic"},
                 {"Trailer", "X-Sum"},
                 {"Upgrade", "h2c"}})
    hop.emplace_back(f.first, f.second);
  auto vias = typical;
  vias.emplace_back("Via", "1.1 cdn-a");
  vias.emplace_back("via", "1.0 old-proxy");
  auto own = typical;  // fields the proxy sets, sent by the backend too
  own.emplace_back("X-Request-ID", "backend-id");
  own.emplace_back("X-Cache", "backend");
  own.emplace_back("Surrogate-Control", "max-age=60");
  auto upstream_cache = typical;  // a cache between the proxy and the backend
  upstream_cache.emplace_back("Cache-Status", "upstream-cdn; fwd=miss; stored");
  const std::array<cache::Field, 3> miss{cache::Field{"X-Cache", "MISS"},
                                         cache::Field{"Cache-Status", "openrisk-cache; fwd=miss"},
                                         cache::Field{"Surrogate-Control", {}, true}};
  const std::array<cache::Field, 2> override_own{cache::Field{"Via", "1.1 else"},
                                                 cache::Field{"X-Request-ID", {}, true}};
  struct RelayCase {
    const char* what;
    bhttp::response_header<> up;
    std::span<const cache::Field> fields;
    RelayFraming framing;
  };
  const std::vector<RelayCase> cases = {
      {"typical 200", backend_head(200, "OK", typical), miss, {false, true}},
      {"the backend's Cache-Status first", backend_head(200, "OK", upstream_cache), miss, {false, true}},
      {"the backend's Cache-Status alone", backend_head(200, "OK", upstream_cache), {}, {false, true}},
      {"no fields of the cache", backend_head(200, "OK", typical), {}, {false, true}},
      {"chunked stays chunked", backend_head(200, "OK", chunked), miss, {true, true}},
      {"close-delimited becomes chunked",
       backend_head(200, "OK", {{"Content-Type", "text/plain"}}),
       miss,
       {true, true}},
      {"HTTP/1.0 client: the close delimits the body",
       backend_head(200, "OK", chunked),
       miss,
       {false, false}},
      {"hop-by-hop fields dropped", backend_head(200, "OK", hop), miss, {false, true}},
      {"Via values fold into one list", backend_head(200, "OK", vias), miss, {false, true}},
      {"the proxy's fields replace the backend's", backend_head(200, "OK", own), miss, {false, true}},
      {"fields that name Via and X-Request-ID", backend_head(200, "OK", vias), override_own, {false, true}},
      {"the backend's own reason phrase", backend_head(404, "Nope", typical), miss, {false, false}},
      {"no reason phrase", backend_head(503, "", typical), miss, {false, true}},
      {"unknown status", backend_head(299, "", typical), miss, {false, true}},
      {"204", backend_head(204, "No Content", {{"X-Trace", "t"}}), miss, {false, true}},
      {"the backend's Date kept",
       backend_head(200, "OK", {{"Date", "Sun, 06 Nov 1994 08:49:37 GMT"}}),
       miss,
       {false, true}},
  };
  const std::regex imf_fixdate(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)");
  for (const auto& c : cases) {
    std::string mine;
    auto framing = c.framing;  // the length as the relay's parser reads the backend's Content-Length
    if (auto cl = c.up.find(bhttp::field::content_length); cl != c.up.end())
      framing.content_length = std::stoull(std::string(cl->value()));
    write_relayed_head(mine, c.up, c.fields, framing, "req-1");
    auto got = fields_of(mine);
    auto want = fields_of(beast_relayed_head(c.up, c.fields, c.framing, "req-1"));
    // A response without a Date gets the time now (RFC 9110 section 6.6.1): the reference takes that one, and
    // its form is checked.
    if (c.up.find(bhttp::field::date) == c.up.end()) {
      auto date =
          std::find_if(got.second.begin(), got.second.end(), [](const auto& f) { return f.first == "date"; });
      ASSERT_NE(date, got.second.end()) << c.what << "\n" << mine;
      EXPECT_TRUE(std::regex_match(date->second, imf_fixdate)) << date->second;
      want.second.push_back(*date);
      std::sort(want.second.begin(), want.second.end());
    }
    EXPECT_EQ(got, want) << c.what << "\n" << mine;
  }
}

// RFC 9110 section 8.6: a backend's repeated or listed Content-Length ("5" twice, "5, 5", which the parser
// reads as 5) leaves as one field, and none goes with a 204.
TEST(WriteRelayedHead, OneContentLengthAndNoneOnA204) {
  using Fields = std::vector<std::pair<std::string, std::string>>;
  for (const auto& fields :
       {Fields{{"Content-Length", "5"}, {"Content-Length", "5"}}, Fields{{"Content-Length", "5, 5"}}}) {
    std::string out;
    write_relayed_head(out, backend_head(200, "OK", fields), {}, {false, true, 5}, "id");
    const auto got = fields_of(out).second;
    EXPECT_EQ(std::count(got.begin(), got.end(), std::pair<std::string, std::string>{"content-length", "5"}),
              1)
        << out;
    EXPECT_EQ(out.find("5, 5"), std::string::npos) << out;
  }
  std::string no_content;
  write_relayed_head(no_content, backend_head(204, "No Content", {{"Content-Length", "5"}}), {},
                     {false, true, 5}, "id");
  EXPECT_EQ(no_content.find("Content-Length"), std::string::npos) << no_content;
}

// RFC 9211 section 2: a cache adding its Cache-Status member keeps those of the caches before it.
TEST(WriteRelayedHead, TheBackendsCacheStatusMembersComeFirst) {
  const std::array<cache::Field, 1> ours{cache::Field{"Cache-Status", "openrisk-cache; fwd=miss"}};
  std::string out;
  write_relayed_head(out, backend_head(200, "OK", {{"Cache-Status", "upstream-cdn; fwd=miss; stored"}}), ours,
                     {false, true, 0}, "id");
  EXPECT_NE(out.find("\r\nCache-Status: upstream-cdn; fwd=miss; stored, openrisk-cache; fwd=miss\r\n"),
            std::string::npos)
      << out;
}

TEST(WriteRelayedHead, FramesTheBodyAsTold) {
  const auto up = backend_head(200, "OK", {{"Content-Length", "3"}, {"Connection", "close"}});
  std::string out = "kept";
  write_relayed_head(out, up, {}, {true, false}, "id");
  EXPECT_TRUE(out.starts_with("keptHTTP/1.1 200 OK\r\n")) << out;
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;  // never beside chunked (RFC 9112 6.1)
  EXPECT_NE(out.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nConnection: close\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nVia: 1.1 openrisk-cache\r\n"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\n")) << out;
}

// Relay::open's head before write_forwarded_head, built with Beast.
std::string beast_forwarded_head(const bhttp::request_header<>& req, const ForwardedRequest& f) {
  bhttp::request<bhttp::empty_body> up;
  up.base() = req;
  up.version(11);
  up.target(f.target);
  if (!f.method.empty()) up.method_string(f.method);
  strip_hop_by_hop(up.base());
  up.erase(bhttp::field::expect);
  if (f.strip_validators) {
    up.erase(bhttp::field::if_none_match);
    up.erase(bhttp::field::if_modified_since);
  }
  if (!f.if_none_match.empty()) up.set(bhttp::field::if_none_match, f.if_none_match);
  if (!f.if_modified_since.empty()) up.set(bhttp::field::if_modified_since, f.if_modified_since);
  if (up.find(bhttp::field::host) == up.end()) up.set(bhttp::field::host, f.authority);
  append_list_header(up.base(), "Via", kViaValue);
  append_list_header(up.base(), "X-Forwarded-For", f.ctx.client_ip);
  up.set("X-Forwarded-Proto", "http");
  up.set("X-Forwarded-Host", up.find(bhttp::field::host)->value());
  up.set("X-Request-ID", f.ctx.request_id);
  if (f.chunked) {
    up.erase(bhttp::field::content_length);
    up.chunked(true);
  }
  if (f.content_length) {
    up.erase(bhttp::field::transfer_encoding);
    up.content_length(*f.content_length);
  }
  std::ostringstream out;
  out << up.base();
  return out.str();
}

TEST(WriteForwardedHead, TheSameFieldsAsBeastWrote) {
  auto request = [](bhttp::verb method, const std::vector<std::pair<std::string, std::string>>& fields) {
    bhttp::request_header<> h;
    h.method(method);
    h.target("/ignored");
    h.version(11);
    for (const auto& [k, v] : fields) h.insert(k, v);
    return h;
  };
  const std::vector<std::pair<std::string, std::string>> typical = {{"Host", "api.example"},
                                                                    {"Authorization", "Bearer t"},
                                                                    {"Accept", "application/json"},
                                                                    {"Cookie", "a=1"},
                                                                    {"Cookie", "b=2"}};
  auto everything = typical;
  for (auto f : {std::pair{"Connection", "keep-alive, X-Hop"},
                 {"X-Hop", "1"},
                 {"Keep-Alive", "timeout=5"},
                 {"Expect", "100-continue"},
                 {"Via", "1.0 a"},
                 {"via", "1.1 b"},
                 {"X-Forwarded-For", "10.0.0.1"},
                 {"X-Forwarded-For", "10.0.0.2"},
                 {"X-Forwarded-Proto", "https"},
                 {"X-Forwarded-Host", "spoofed"},
                 {"X-Request-ID", "client"},
                 {"If-None-Match", "\"c\""},
                 {"If-Modified-Since", "Tue, 01 Dec 2026 10:00:00 GMT"}})
    everything.emplace_back(f.first, f.second);
  auto body = typical;
  body.emplace_back("Transfer-Encoding", "chunked");
  body.emplace_back("Content-Type", "application/json");
  const ForwardContext ctx{"192.0.2.7", "req-1"};
  struct ForwardCase {
    const char* what;
    bhttp::request_header<> req;
    ForwardedRequest f;
  };
  const std::vector<ForwardCase> cases = {
      {"typical GET", request(bhttp::verb::get, typical), {.target = "/r", .authority = "b:1", .ctx = ctx}},
      {"no Host",
       request(bhttp::verb::get, {{"Accept", "*/*"}}),
       {.target = "/r", .authority = "b:1", .ctx = ctx}},
      {"everything the proxy rewrites",
       request(bhttp::verb::get, everything),
       {.target = "/r?q=1", .authority = "b:1", .ctx = ctx}},
      {"a fill: validators stay behind",
       request(bhttp::verb::get, everything),
       {.target = "/r", .authority = "b:1", .strip_validators = true, .ctx = ctx}},
      {"a revalidation",
       request(bhttp::verb::get, everything),
       {.target = "/r",
        .authority = "b:1",
        .strip_validators = true,
        .if_none_match = "\"s\"",
        .if_modified_since = "Mon, 30 Nov 2026 10:00:00 GMT",
        .ctx = ctx}},
      {"a chunked POST",
       request(bhttp::verb::post, body),
       {.target = "/w", .authority = "b:1", .chunked = true, .ctx = ctx}},
      {"a chunked POST read whole: its length in place of the chunks",
       request(bhttp::verb::post, body),
       {.target = "/w", .authority = "b:1", .content_length = 42, .ctx = ctx}},
      {"a refresh of a HEAD",
       request(bhttp::verb::head, everything),
       {.method = "GET", .target = "/r", .authority = "b:1", .strip_validators = true, .ctx = ctx}},
  };
  for (const auto& c : cases) {
    std::string mine;
    write_forwarded_head(mine, c.req, c.f);
    EXPECT_EQ(fields_of(mine), fields_of(beast_forwarded_head(c.req, c.f))) << c.what << "\n" << mine;
  }
}

}  // namespace
}  // namespace orc::http
