// Random identifiers (request ids) that are unique enough to correlate logs, cheap on the hot path.
#pragma once

#include <string>

namespace orc::util {

// 32 lowercase hex digits (128 bits) from a per-thread generator seeded by the OS.
std::string random_request_id();

}  // namespace orc::util
