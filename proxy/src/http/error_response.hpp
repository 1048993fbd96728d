// Responses the proxy writes itself (400/413/414/431/502/504...), in the backend's own error shape.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string_view>

namespace orc::http {

namespace bhttp = boost::beast::http;

// {"error": true, "msg": "..."} with Content-Type application/json, the OpenRisk error envelope.
bhttp::response<bhttp::string_body> make_error_response(unsigned status, std::string_view message,
                                                        std::string_view request_id, bool keep_alive);

// The proxy's own answer as the final recipient of an OPTIONS or TRACE with Max-Forwards: 0: `status`
// (200, or 405 for TRACE) with the methods it relays in Allow, and no body.
bhttp::response<bhttp::string_body> make_final_response(unsigned status, std::string_view request_id,
                                                        bool keep_alive);

}  // namespace orc::http
