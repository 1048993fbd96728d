// Pure header rewriting for the proxy hop.
#include "http/header_rewrite.hpp"

#include <vector>

#include "util/strings.hpp"

namespace orc::http {

void strip_hop_by_hop(bhttp::fields& fields) {
  // Collect the names listed in Connection first: they are removed along with Connection itself.
  std::vector<std::string> named;
  auto connection = fields.equal_range(bhttp::field::connection);
  for (auto it = connection.first; it != connection.second; ++it) {
    for (auto token : util::split_list(it->value(), ',')) named.emplace_back(token);
  }
  for (const auto& name : named) {
    // Never let Connection remove framing or end-to-end essentials the proxy relies on.
    if (util::iequals(name, "content-length") || util::iequals(name, "host")) continue;
    fields.erase(name);
  }
  static constexpr bhttp::field hop[] = {bhttp::field::connection,
                                         bhttp::field::keep_alive,
                                         bhttp::field::proxy_connection,
                                         bhttp::field::te,
                                         bhttp::field::trailer,
                                         bhttp::field::transfer_encoding,
                                         bhttp::field::upgrade,
                                         bhttp::field::proxy_authenticate,
                                         bhttp::field::proxy_authorization};
  for (auto f : hop) fields.erase(f);
}

void strip_validators(bhttp::fields& fields) {
  fields.erase(bhttp::field::if_none_match);
  fields.erase(bhttp::field::if_modified_since);
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

void append_list_header(bhttp::fields& fields, std::string_view name, std::string_view value) {
  auto range = fields.equal_range(name);
  if (range.first == range.second) {
    fields.set(name, value);
    return;
  }
  // Fold repeated fields into one list, in order.
  std::string joined;
  for (auto f = range.first; f != range.second; ++f) {
    if (!joined.empty()) joined += ", ";
    joined.append(f->value());
  }
  joined += ", ";
  joined.append(value);
  fields.set(name, joined);
}

void add_forwarding_headers(bhttp::fields& fields, const ForwardContext& ctx) {
  append_list_header(fields, "Via", kViaValue);
  append_list_header(fields, "X-Forwarded-For", ctx.client_ip);
  fields.set("X-Forwarded-Proto", "http");
  auto host = fields.find(bhttp::field::host);
  if (host != fields.end())
    fields.set("X-Forwarded-Host", host->value());
  else
    fields.erase("X-Forwarded-Host");
  fields.set("X-Request-ID", ctx.request_id);
}

void add_response_headers(bhttp::fields& fields, std::string_view request_id) {
  append_list_header(fields, "Via", kViaValue);
  fields.set("X-Request-ID", request_id);
}

}  // namespace orc::http
