// Pure header rewriting for the proxy hop.
#include "http/header_rewrite.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "cache/cache_policy.hpp"
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

void FoldedList::add(std::string_view value) {
  if (value.empty()) return;  // an empty field adds no member to the list
  if (first_.data() == nullptr) {
    first_ = value;
    return;
  }
  if (folded_.empty()) folded_.append(first_);
  folded_.append(", ").append(value);
}

void FoldedList::append_to(std::string& out, std::string_view own) const {
  if (first_.data() != nullptr) out.append(folded_.empty() ? first_ : folded_).append(", ");
  out.append(own);
}

void FoldedList::write(std::string& out, std::string_view name, std::string_view own) const {
  out.append(name).append(": ");
  append_to(out, own);
  out.append("\r\n");
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
  FoldedList list;
  auto range = fields.equal_range(name);
  for (auto f = range.first; f != range.second; ++f) list.add(f->value());
  std::string joined;  // built before set() drops the fields the list views
  list.append_to(joined, value);
  fields.set(name, joined);
}

std::optional<std::uint64_t> max_forwards_of(const bhttp::request_header<>& req) {
  if (req.method() != bhttp::verb::options && req.method() != bhttp::verb::trace) return std::nullopt;
  auto [first, last] = req.equal_range(bhttp::field::max_forwards);
  if (first == last || std::next(first) != last) return std::nullopt;
  const auto v = util::trim(first->value());
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return n;
}

void write_forwarded_head(std::string& out, const bhttp::request_header<>& req, const ForwardedRequest& f) {
  out.append(f.method.empty() ? std::string_view(req.method_string()) : f.method).push_back(' ');
  out.append(f.target).append(" HTTP/1.1\r\n");
  const HopByHop hop(req);
  FoldedList via, forwarded_for;
  std::string_view host = f.authority;
  bool has_host = false;
  for (const auto& field : req) {
    if (hop(field)) continue;
    const auto name = field.name_string();
    switch (field.name()) {
      case bhttp::field::expect:
        continue;  // the proxy answers 100-continue itself
      case bhttp::field::if_none_match:
        if (f.strip_validators || !f.if_none_match.empty()) continue;
        break;
      case bhttp::field::if_modified_since:
        if (f.strip_validators || !f.if_modified_since.empty()) continue;
        break;
      case bhttp::field::content_length:
        if (f.chunked || f.content_length) continue;
        break;
      case bhttp::field::via:
        via.add(field.value());
        continue;
      case bhttp::field::max_forwards:
        if (auto n = max_forwards_of(req); n && *n > 0) {  // 0 never gets here: the proxy answered it
          append_field(out, name, std::to_string(*n - 1));
          continue;
        }
        break;
      case bhttp::field::host:
        if (!has_host) host = field.value();
        has_host = true;
        break;
      default:
        if (util::iequals(name, "X-Forwarded-For")) {
          forwarded_for.add(field.value());
          continue;
        }
        if (util::iequals(name, "X-Forwarded-Proto") || util::iequals(name, "X-Forwarded-Host") ||
            util::iequals(name, "X-Request-ID"))
          continue;
        break;
    }
    append_field(out, name, field.value());
  }
  if (!f.if_none_match.empty()) append_field(out, "If-None-Match", f.if_none_match);
  if (!f.if_modified_since.empty()) append_field(out, "If-Modified-Since", f.if_modified_since);
  if (!has_host) append_field(out, "Host", host);
  via.write(out, "Via", kViaValue);
  forwarded_for.write(out, "X-Forwarded-For", f.ctx.client_ip);
  append_field(out, "X-Forwarded-Proto", "http");
  append_field(out, "X-Forwarded-Host", host);
  append_field(out, "X-Request-ID", f.ctx.request_id);
  if (f.content_length) append_field(out, "Content-Length", std::to_string(*f.content_length));
  if (f.chunked) append_field(out, "Transfer-Encoding", "chunked");
  out.append("\r\n");
}

void add_response_headers(bhttp::fields& fields, std::string_view request_id) {
  append_list_header(fields, "Via", kViaValue);
  fields.set("X-Request-ID", request_id);
}

std::string_view http_date_now() {
  thread_local std::int64_t second = -1;
  thread_local std::string text;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  if (ms / 1000 != second) {
    second = ms / 1000;
    text = cache::format_http_date(ms);
  }
  return text;
}

}  // namespace orc::http
