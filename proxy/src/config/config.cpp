// Derived values of the configuration structs.
#include "config/config.hpp"

#include <thread>

namespace orc::config {

std::string HostPort::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::uint32_t Config::effective_threads() const {
  if (threads != 0) return threads;
  auto n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

}  // namespace orc::config
