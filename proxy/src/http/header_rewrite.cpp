// Pure header rewriting for the proxy hop.
#include "http/header_rewrite.hpp"

#include <algorithm>
#include <vector>

#include "util/strings.hpp"

namespace orc::http {

HopByHop::HopByHop(const bhttp::fields& fields) {
  auto connection = fields.equal_range(bhttp::field::connection);
  for (auto it = connection.first; it != connection.second; ++it)
    for (auto token : util::split_list(it->value(), ','))
      if (!util::iequals(token, "content-length") && !util::iequals(token, "host")) named_.push_back(token);
}

bool HopByHop::operator()(const bhttp::fields::value_type& f) const {
  switch (f.name()) {
    case bhttp::field::connection:
    case bhttp::field::keep_alive:
    case bhttp::field::proxy_connection:
    case bhttp::field::te:
    case bhttp::field::trailer:
    case bhttp::field::transfer_encoding:
    case bhttp::field::upgrade:
    case bhttp::field::proxy_authenticate:
    case bhttp::field::proxy_authorization:
      return true;
    default:
      break;
  }
  const auto name = f.name_string();
  return std::any_of(named_.begin(), named_.end(),
                     [&](std::string_view n) { return util::iequals(n, name); });
}

void strip_hop_by_hop(bhttp::fields& fields) {
  // Found first, erased after: the Connection values the test views must outlive it.
  const HopByHop hop(fields);
  std::vector<bhttp::fields::const_iterator> doomed;
  for (auto it = fields.begin(); it != fields.end(); ++it)
    if (hop(*it)) doomed.push_back(it);
  for (auto it : doomed) fields.erase(it);
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
