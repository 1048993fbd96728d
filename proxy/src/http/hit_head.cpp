#include "http/hit_head.hpp"

#include <boost/beast/http/status.hpp>

#include <array>
#include <charconv>

#include "cache/cache_policy.hpp"
#include "http/header_rewrite.hpp"
#include "util/strings.hpp"

namespace orc::http {

namespace {

// Fields of the entry this answer writes itself (or leaves out: framing and hop-by-hop fields, which are
// never stored, are skipped should a stored entry have them). Via is folded before this is asked.
bool replaced(std::string_view name, bool own_content_range) {
  static constexpr std::array<std::string_view, 11> kAlways = {
      "ETag",       "X-Request-ID",    "Age",
      "X-Cache",    "Cache-Status",    "Content-Length",
      "Connection", "Keep-Alive",      "Transfer-Encoding",
      "Upgrade",    "Proxy-Connection"};
  for (auto f : kAlways)
    if (util::iequals(name, f)) return true;
  return own_content_range && util::iequals(name, "Content-Range");
}

void field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

void write_stored_head(std::string& out, const cache::Reply& r, bool keep_alive,
                       std::string_view request_id) {
  namespace bhttp = boost::beast::http;
  char number[24];
  auto digits = [&number](std::uint64_t v) {
    auto [end, ec] = std::to_chars(number, number + sizeof number, v);
    return std::string_view(number, static_cast<std::size_t>(end - number));
  };
  out.append("HTTP/1.1 ").append(digits(r.status)).push_back(' ');
  out.append(bhttp::obsolete_reason(static_cast<bhttp::status>(r.status))).append("\r\n");
  const bool own_range = !r.content_range.empty();
  std::string_view first_via;
  std::string folded_via;  // only when the entry has more than one Via field
  if (r.headers)
    for (const auto& [name, value] : *r.headers) {
      if (r.status == 304 && !cache::sent_with_304(name)) continue;
      if (util::iequals(name, "Via")) {
        if (first_via.data() == nullptr) {
          first_via = value;
        } else {
          if (folded_via.empty()) folded_via.append(first_via);
          folded_via.append(", ").append(value);
        }
        continue;
      }
      if (replaced(name, own_range)) continue;
      field(out, name, value);
    }
  if (!r.etag.empty()) field(out, "ETag", r.etag);
  out.append("Via: ");
  if (first_via.data() != nullptr) out.append(folded_via.empty() ? first_via : folded_via).append(", ");
  out.append(kViaValue).append("\r\n");
  field(out, "X-Request-ID", request_id);
  field(out, "Age", r.age);
  field(out, "X-Cache", r.x_cache);
  field(out, "Cache-Status", r.cache_status);
  if (own_range) field(out, "Content-Range", r.content_range);
  if (!keep_alive) field(out, "Connection", "close");
  if (r.has_body) field(out, "Content-Length", digits(r.body.size()));
  out.append("\r\n");
}

}  // namespace orc::http
