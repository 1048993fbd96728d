// Random identifiers (request ids, generation tokens) that are unique enough to tell apart, cheap on the hot
// path. Not secrets.
#pragma once

#include <cstdint>
#include <string>

namespace orc::util {

// 32 lowercase hex digits (128 bits) from a per-thread generator seeded by the OS.
std::string random_request_id();

// 64 bits from the same generator.
std::uint64_t random_u64();

}  // namespace orc::util
