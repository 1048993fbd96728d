// What /proc says about another process: resident memory and open file descriptors, for tests that check
// a daemon returns to its baseline after connections come and go.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace orc::test {

// VmRSS of /proc/PID/status in bytes (the resident set now). Empty when it cannot be read.
std::optional<std::uint64_t> proc_rss_bytes(pid_t pid);
// VmHWM of /proc/PID/status in bytes (the peak resident set). Empty when it cannot be read.
std::optional<std::uint64_t> proc_peak_rss_bytes(pid_t pid);
// The entries of /proc/PID/fd: the descriptors the process holds open. Empty when it cannot be read.
std::optional<std::size_t> proc_fd_count(pid_t pid);
// Those of them that are sockets (listeners and connections).
std::optional<std::size_t> proc_socket_count(pid_t pid);

}  // namespace orc::test
