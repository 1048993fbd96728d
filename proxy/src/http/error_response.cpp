// Responses the proxy writes itself, in the backend's own error shape.
#include "http/error_response.hpp"

#include "http/header_rewrite.hpp"
#include "util/strings.hpp"

namespace orc::http {

bhttp::response<bhttp::string_body> make_error_response(unsigned status, std::string_view message,
                                                        std::string_view request_id, bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-store");
  res.set(bhttp::field::date, http_date_now());  // RFC 9110 section 6.6.1
  add_response_headers(res.base(), request_id);
  res.body() = "{\"error\":true,\"msg\":\"" + util::json_escape(message) + "\"}";
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

bhttp::response<bhttp::string_body> make_final_response(unsigned status, std::string_view request_id,
                                                        bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  res.set(bhttp::field::date, http_date_now());
  add_response_headers(res.base(), request_id);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace orc::http
