// Pure header rewriting for the proxy hop: hop-by-hop removal, Via, X-Forwarded-*, X-Request-ID; the head of
// a request as it leaves for the backend, written straight into a buffer.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orc::http {

namespace bhttp = boost::beast::http;

inline constexpr std::string_view kViaValue = "1.1 openrisk-cache";

// Which fields of one message are hop-by-hop: those of RFC 9110 section 7.6.1 and every field its Connection
// header names (never Content-Length or Host, which the proxy relies on). Views `fields`: use it while they
// stay unchanged.
class HopByHop {
 public:
  explicit HopByHop(const bhttp::fields& fields);
  bool operator()(const bhttp::fields::value_type& f) const;

 private:
  std::vector<std::string_view> named_;
};

// Appends "Name: value\r\n": a field of a head written by hand.
inline void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// A comma-separated list field as it leaves: the values the message came with (repeated fields folded into
// one list, in order), then this proxy's. Views the values: use it while they stay unchanged.
class FoldedList {
 public:
  void add(std::string_view value);
  // Appends "values, own" (`own` alone when there were none).
  void append_to(std::string& out, std::string_view own) const;
  // Appends "Name: values, own\r\n".
  void write(std::string& out, std::string_view name, std::string_view own) const;

 private:
  std::string_view first_;
  std::string folded_;  // only when there is more than one value
};

// A client-supplied X-Request-ID is kept only when it is short and made of safe characters (it is logged
// and echoed back, so it must not be able to inject anything).
bool valid_request_id(std::string_view id);

struct ForwardContext {
  std::string_view client_ip;
  std::string_view request_id;
};

// How a client's request leaves for the backend.
struct ForwardedRequest {
  std::string_view method;             // "": the client's
  std::string_view target;             // the origin-form target
  std::string_view authority;          // Host, when the client sent none
  bool strip_validators = false;       // the client's If-None-Match and If-Modified-Since stay behind (a fill
                                       // needs the whole response; a 304 answers only that client's copy)
  std::string_view if_none_match;      // a revalidation's validators, in place of the client's ("": none)
  std::string_view if_modified_since;  //
  bool chunked = false;                // the body goes chunked (Content-Length, if any, stays behind)
  std::optional<std::uint64_t> content_length;  // the body's length, in place of the client's Content-Length
                                                // (a chunked body read whole leaves with one)
  ForwardContext ctx;
};

// Appends the head of `req` as it leaves for the backend: HTTP/1.1; the client's fields but the hop-by-hop
// ones and Expect (the proxy answers 100-continue itself); Host if missing; Via and X-Forwarded-For with this
// hop appended (repeated fields folded), X-Forwarded-Proto, X-Forwarded-Host (the Host) and X-Request-ID set;
// then the framing. Ends with the empty line.
void write_forwarded_head(std::string& out, const bhttp::request_header<>& req, const ForwardedRequest& f);
// The Max-Forwards of an OPTIONS or TRACE request (RFC 9110 section 7.6.2): its value when it is one number
// of digits, else none (other methods, no field, or a value the proxy cannot read: forwarded as it is).
std::optional<std::uint64_t> max_forwards_of(const bhttp::request_header<>& req);

// Headers of a response as it leaves for the client: Via and X-Request-ID.
void add_response_headers(bhttp::fields& fields, std::string_view request_id);

// The current time as an HTTP-date (RFC 9110 section 5.6.7), formatted once a second per thread: the Date a
// response the proxy makes or relays without one gets (section 6.6.1). Valid until the thread's next call.
std::string_view http_date_now();

// Appends `value` to a comma-separated header, creating it when absent (repeated fields folded: FoldedList).
void append_list_header(bhttp::fields& fields, std::string_view name, std::string_view value);

}  // namespace orc::http
