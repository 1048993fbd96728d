// A strict JSON syntax check (RFC 8259) for log lines and response bodies; no values are built.
#pragma once

#include <string>
#include <string_view>

namespace orc::test {

// True when `text` is exactly one JSON object (surrounding whitespace allowed); else `error` says where.
bool is_json_object(std::string_view text, std::string* error = nullptr);

}  // namespace orc::test
