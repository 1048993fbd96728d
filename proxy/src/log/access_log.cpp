// Access-log lines: one per request, never a raw credential, query secrets redacted.
#include "log/access_log.hpp"

#include <charconv>
#include <chrono>

#include "log/logging.hpp"
#include "util/query.hpp"
#include "util/strings.hpp"

namespace orc::log {

namespace {

void append_uint(std::string& out, std::uint64_t v) {
  char buf[20];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

// A duration in milliseconds with three decimals (its microseconds exactly): 1234 us is "1.234".
void append_ms(std::string& out, std::chrono::microseconds d) {
  auto us = d.count();
  if (us < 0) {
    out += '-';
    us = -us;
  }
  append_uint(out, static_cast<std::uint64_t>(us / 1000));
  const auto fraction = decimal_thousandths(static_cast<int>(us % 1000));
  out.append(fraction.data(), fraction.size());
}

// redact_target(), appended to `out`.
void append_redacted(std::string& out, std::string_view target, const std::vector<std::string>& names) {
  auto q = target.find('?');
  if (q == std::string_view::npos || names.empty()) {
    out.append(target);
    return;
  }
  out.append(target.substr(0, q + 1));
  const util::Query query(target.substr(q + 1));
  if (!query.valid()) {  // its parameters cannot be read: any of them may be a secret
    out += "REDACTED";
    return;
  }
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
}

// format_access(), appended to `out`; `scratch` holds the redacted target meanwhile. Written by hand rather
// than with fmt: one line per request, and the formatting was most of what the access log cost a hit.
void append_access(std::string& out, std::string& scratch, const AccessRecord& r,
                   const std::vector<std::string>& redact, config::LogFormat format) {
  scratch.clear();
  append_redacted(scratch, r.target, redact);
  if (format == config::LogFormat::json) {
    out += R"("client":")";
    util::json_escape_append(out, r.client);
    out += R"(","method":")";
    util::json_escape_append(out, r.method);
    out += R"(","path":")";
    util::json_escape_append(out, scratch);
    out += R"(","status":)";
    append_uint(out, r.status);
    out += R"(,"bytes":)";
    append_uint(out, r.bytes_sent);
    out += R"(,"duration_ms":)";
    append_ms(out, r.total);
    out += R"(,"upstream_ms":)";
    append_ms(out, r.upstream);
    out += R"(,"request_id":")";
    util::json_escape_append(out, r.request_id);
    out += R"(","outcome":")";
    out += r.outcome;
    out += R"(","rule":")";
    util::json_escape_append(out, r.rule);
    out += R"(","cache":")";
    out += r.cache;
    out += '"';
    return;
  }
  out += r.client;
  out += ' ';
  out += r.method;
  out += ' ';
  util::json_escape_append(out, scratch);  // control characters in the target cannot forge extra log lines
  out += ' ';
  append_uint(out, r.status);
  out += ' ';
  append_uint(out, r.bytes_sent);
  out += ' ';
  append_ms(out, r.total);
  out += "ms upstream=";
  append_ms(out, r.upstream);
  out += "ms id=";
  out += r.request_id;
  out += " outcome=";
  out += r.outcome;
  out += " rule=";
  out += r.rule;
  out += " cache=";
  out += r.cache;
}

}  // namespace

std::string redact_target(std::string_view target, const std::vector<std::string>& names) {
  std::string out;
  append_redacted(out, target, names);
  return out;
}

std::string format_access(const AccessRecord& r, const std::vector<std::string>& redact,
                          config::LogFormat format) {
  std::string out, scratch;
  append_access(out, scratch, r, redact, format);
  return out;
}

void write_access(const AccessRecord& r, const config::LoggingConfig& cfg) {
  auto* writer = access_writer();
  if (!writer) return;
  // The shape of the daemon's other lines (logging.cpp), with the record's fields in place of a message;
  // built in buffers of the thread's that keep their capacity from one request to the next.
  thread_local std::string line, scratch;
  char ts[40];
  const auto stamp = access_timestamp(std::chrono::system_clock::now(), ts);
  const bool json = cfg.format == config::LogFormat::json;
  line.clear();
  if (json) {
    line += R"({"ts":")";
    line += stamp;
    line += R"(","level":"info","logger":"access",)";
  } else {
    line += stamp;
    line += " [access] ";
  }
  append_access(line, scratch, r, cfg.redact_query, cfg.format);
  if (json) line += '}';
  writer->append(line, {}, {});
}

}  // namespace orc::log
