// A strict JSON check (RFC 8259, with Boost.JSON's parser, which also refuses invalid UTF-8) for log lines
// and response bodies.
#pragma once

#include <string>
#include <string_view>

namespace orc::test {

// True when `text` is exactly one JSON object (surrounding whitespace allowed); else `error` says where.
bool is_json_object(std::string_view text, std::string* error = nullptr);

}  // namespace orc::test
