// Access-log lines: one per request, never a raw credential, query secrets redacted.
#include "log/access_log.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "log/logging.hpp"
#include "util/query.hpp"
#include "util/strings.hpp"

namespace orc::log {

std::string redact_target(std::string_view target, const std::vector<std::string>& names) {
  auto q = target.find('?');
  if (q == std::string_view::npos || names.empty()) return std::string(target);
  std::string out(target.substr(0, q + 1));
  const util::Query query(target.substr(q + 1));
  if (!query.valid()) return out + "REDACTED";  // its parameters cannot be read: any of them may be a secret
  bool first = true;
  for (const auto& p : query.params()) {
    if (!first) out += '&';
    first = false;
    bool secret = false;
    for (const auto& n : names)
      if (util::iequals(n, p.name)) secret = true;  // decoded: "%74oken" is "token" to the backend
    out.append(p.raw_name);
    if (!p.has_value) continue;  // a flag without a value has nothing to hide
    out += '=';
    out.append(secret ? std::string_view("REDACTED") : p.raw_value);
  }
  return out;
}

std::string format_access(const AccessRecord& r, const std::vector<std::string>& redact,
                          config::LogFormat format) {
  std::string target = redact_target(r.target, redact);
  double total_ms = static_cast<double>(r.total.count()) / 1000.0;
  double upstream_ms = static_cast<double>(r.upstream.count()) / 1000.0;
  if (format == config::LogFormat::json) {
    return fmt::format(
        R"("client":"{}","method":"{}","path":"{}","status":{},"bytes":{},"duration_ms":{:.3f},"upstream_ms":{:.3f},"request_id":"{}","outcome":"{}","rule":"{}","cache":"{}")",
        util::json_escape(r.client), util::json_escape(r.method), util::json_escape(target), r.status,
        r.bytes_sent, total_ms, upstream_ms, util::json_escape(r.request_id), r.outcome,
        util::json_escape(r.rule), r.cache);
  }
  // Control characters in the target cannot forge extra log lines.
  return fmt::format("{} {} {} {} {} {:.3f}ms upstream={:.3f}ms id={} outcome={} rule={} cache={}", r.client,
                     r.method, util::json_escape(target), r.status, r.bytes_sent, total_ms, upstream_ms,
                     r.request_id, r.outcome, r.rule, r.cache);
}

void write_access(const AccessRecord& r, const config::LoggingConfig& cfg) {
  auto* writer = access_writer();
  if (!writer) return;
  const std::string body = format_access(r, cfg.redact_query, cfg.format);
  char ts[40];
  const auto stamp = access_timestamp(std::chrono::system_clock::now(), ts);
  // The shape of the daemon's other lines (logging.cpp), with the record's fields in place of a message.
  char prefix[96];
  const bool json = cfg.format == config::LogFormat::json;
  const int n =
      json ? std::snprintf(prefix, sizeof prefix, R"({"ts":"%.*s","level":"info","logger":"access",)",
                           static_cast<int>(stamp.size()), stamp.data())
           : std::snprintf(prefix, sizeof prefix, "%.*s [access] ", static_cast<int>(stamp.size()),
                           stamp.data());
  writer->append(std::string_view(prefix, n > 0 ? static_cast<std::size_t>(n) : 0), body, json ? "}" : "");
}

}  // namespace orc::log
