// Pure header rewriting for the proxy hop: hop-by-hop removal, Via, X-Forwarded-*, X-Request-ID.
#pragma once

#include <boost/beast/http/fields.hpp>

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

// Removes the hop-by-hop headers (HopByHop).
void strip_hop_by_hop(bhttp::fields& fields);
// Removes the client's validators (If-None-Match, If-Modified-Since) from a request for the cache: it needs
// the whole response, and a 304 answers only that client's copy.
void strip_validators(bhttp::fields& fields);

// A client-supplied X-Request-ID is kept only when it is short and made of safe characters (it is logged
// and echoed back, so it must not be able to inject anything).
bool valid_request_id(std::string_view id);

struct ForwardContext {
  std::string_view client_ip;
  std::string_view request_id;
};

// Headers of the request as it leaves for the backend (after strip_hop_by_hop).
void add_forwarding_headers(bhttp::fields& fields, const ForwardContext& ctx);
// Headers of the response as it leaves for the client (after strip_hop_by_hop).
void add_response_headers(bhttp::fields& fields, std::string_view request_id);

// Appends `value` to a comma-separated header, creating it when absent.
void append_list_header(bhttp::fields& fields, std::string_view name, std::string_view value);

}  // namespace orc::http
