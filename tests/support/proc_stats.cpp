// Reading /proc/PID/status and /proc/PID/fd.
#include "support/proc_stats.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

namespace orc::test {
namespace {

// A "Name:   1234 kB" line of /proc/PID/status, in bytes.
std::optional<std::uint64_t> status_kib_field(pid_t pid, const std::string& name) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string prefix = name + ":";
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream fields(line.substr(prefix.size()));
    std::uint64_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return std::nullopt;
}

// The descriptors of /proc/PID/fd whose link starts with `prefix` (all of them when it is empty).
std::optional<std::size_t> count_fds(pid_t pid, std::string_view prefix) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec) return std::nullopt;
  std::size_t n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return std::nullopt;
    if (!prefix.empty()) {
      std::error_code link_ec;
      auto target = std::filesystem::read_symlink(it->path(), link_ec).string();
      if (link_ec || target.rfind(prefix, 0) != 0) continue;  // closed meanwhile, or not a socket
    }
    ++n;
  }
  return n;
}

}  // namespace

std::optional<std::uint64_t> proc_rss_bytes(pid_t pid) {
  return status_kib_field(pid, "VmRSS");
}

std::optional<std::uint64_t> proc_peak_rss_bytes(pid_t pid) {
  return status_kib_field(pid, "VmHWM");
}

std::optional<std::size_t> proc_fd_count(pid_t pid) {
  return count_fds(pid, "");
}

std::optional<std::size_t> proc_socket_count(pid_t pid) {
  return count_fds(pid, "socket:");
}

}  // namespace orc::test
