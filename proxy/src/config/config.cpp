// Derived values of the configuration structs.
#include "config/config.hpp"

#include <thread>

namespace orc::config {

std::string HostPort::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string_view to_string(ActionKind a) {
  switch (a) {
    case ActionKind::cache:
      return "cache";
    case ActionKind::invalidate:
      return "invalidate";
    case ActionKind::pass:
      return "pass";
    case ActionKind::stream:
      return "stream";
  }
  return "pass";
}

std::string_view to_string(Scope s) {
  switch (s) {
    case Scope::public_:
      return "public";
    case Scope::credential:
      return "credential";
    case Scope::user:
      return "user";
    case Scope::role:
      return "role";
    case Scope::tenant:
      return "tenant";
  }
  return "credential";
}

std::uint32_t Config::effective_threads() const {
  if (threads != 0) return threads;
  auto n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

}  // namespace orc::config
