#include "http/response_head.hpp"

#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <array>
#include <charconv>

#include "cache/cache_policy.hpp"
#include "http/header_rewrite.hpp"
#include "util/strings.hpp"

namespace orc::http {

namespace bhttp = boost::beast::http;

namespace {

// Fields of the entry this answer writes itself (or leaves out: framing and hop-by-hop fields, which are
// never stored, are skipped should a stored entry have them). Via and Cache-Status are folded before this is
// asked.
bool replaced(std::string_view name, bool own_content_range) {
  static constexpr std::array<std::string_view, 10> kAlways = {
      "ETag",       "X-Request-ID",      "Age",     "X-Cache",         "Content-Length", "Connection",
      "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection"};
  for (auto f : kAlways)
    if (util::iequals(name, f)) return true;
  return own_content_range && util::iequals(name, "Content-Range");
}

std::string_view digits(char (&buf)[24], std::uint64_t v) {
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string_view(buf, static_cast<std::size_t>(end - buf));
}

bool named(std::span<const cache::Field> fields, std::string_view name) {
  return std::any_of(fields.begin(), fields.end(),
                     [&](const cache::Field& f) { return util::iequals(f.name, name); });
}

}  // namespace

void write_stored_head(std::string& out, const cache::Reply& r, bool keep_alive, std::string_view request_id,
                       bool http10) {
  char number[24];
  out.append("HTTP/1.1 ").append(digits(number, r.status)).push_back(' ');
  out.append(bhttp::obsolete_reason(static_cast<bhttp::status>(r.status))).append("\r\n");
  const bool own_range = !r.content_range.empty();
  FoldedList via, cache_status;
  bool dated = false;
  if (r.headers)
    for (const auto& [name, value] : *r.headers) {
      if (r.status == 304 && !cache::sent_with_304(name)) continue;
      dated = dated || util::iequals(name, "Date");
      if (util::iequals(name, "Via")) {
        via.add(value);
        continue;
      }
      if (util::iequals(name, "Cache-Status")) {  // the caches before this one keep their members
        cache_status.add(value);
        continue;
      }
      if (replaced(name, own_range)) continue;
      append_field(out, name, value);
    }
  if (!r.etag.empty()) append_field(out, "ETag", r.etag);
  via.write(out, "Via", kViaValue);
  append_field(out, "X-Request-ID", request_id);
  // An answer without a Date (a revalidated one that was not stored, say) gets the time it leaves: RFC 9110
  // section 6.6.1, as a relayed one does.
  if (!dated) append_field(out, "Date", http_date_now());
  append_field(out, "Age", r.age);
  append_field(out, "X-Cache", r.x_cache);
  cache_status.write(out, "Cache-Status", r.cache_status);
  if (own_range) append_field(out, "Content-Range", r.content_range);
  if (!keep_alive)
    append_field(out, "Connection", "close");
  else if (http10)
    append_field(out, "Connection", "keep-alive");
  if (r.has_body) append_field(out, "Content-Length", digits(number, r.body.size()));
  out.append("\r\n");
}

void write_relayed_head(std::string& out, const bhttp::response_header<>& up,
                        std::span<const cache::Field> fields, RelayFraming framing,
                        std::string_view request_id) {
  char number[24];
  out.append("HTTP/1.1 ").append(digits(number, up.result_int())).push_back(' ');
  const auto reason = up.reason();
  out.append(reason.empty() ? bhttp::obsolete_reason(up.result()) : reason).append("\r\n");
  const bool own_via = !named(fields, "Via");
  const bool own_id = !named(fields, "X-Request-ID");
  const bool own_status = named(fields, "Cache-Status");
  const HopByHop hop(up);
  FoldedList via, cache_status;
  bool dated = false;
  for (const auto& f : up) {
    if (hop(f)) continue;
    const auto name = f.name_string();
    // RFC 9211 section 2: the members of the caches before this one are kept, this one's follows them.
    if (own_status && util::iequals(name, "Cache-Status")) {
      cache_status.add(f.value());
      continue;
    }
    if (named(fields, name)) continue;
    dated = dated || f.name() == bhttp::field::date;
    if (f.name() == bhttp::field::via && own_via) {
      via.add(f.value());
      continue;
    }
    // The backend's Content-Length fields ("5" twice, "5, 5" are read as one length) leave as one, below.
    if (f.name() == bhttp::field::content_length || (own_id && util::iequals(name, "X-Request-ID"))) continue;
    append_field(out, name, f.value());
  }
  if (own_via) via.write(out, "Via", kViaValue);
  if (own_id) append_field(out, "X-Request-ID", request_id);
  // A response forwarded without a Date gets the time it was received (RFC 9110 section 6.6.1).
  if (!dated) append_field(out, "Date", http_date_now());
  for (const auto& f : fields) {
    if (f.remove) continue;
    if (util::iequals(f.name, "Cache-Status"))
      cache_status.write(out, f.name, f.value);
    else
      append_field(out, f.name, f.value);
  }
  const auto status = up.result_int();
  if (framing.chunked)
    append_field(out, "Transfer-Encoding", "chunked");
  else if (framing.content_length && status != 204 && status / 100 != 1)
    append_field(out, "Content-Length", digits(number, *framing.content_length));
  if (!framing.keep_alive)
    append_field(out, "Connection", "close");
  else if (framing.http10)
    append_field(out, "Connection", "keep-alive");
  out.append("\r\n");
}

}  // namespace orc::http
