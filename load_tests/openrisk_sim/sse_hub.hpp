// Fan-out of mitigation events to SSE subscribers of one tenant. Asio-free: a subscriber hands in a
// delivery callback (the session posts the frame to its own strand and bounds its own queue).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace orc::sim {

class SseHub {
 public:
  using Frame = std::shared_ptr<const std::string>;
  using Deliver = std::function<void(Frame)>;

  explicit SseHub(std::size_t max_subscribers) : max_subscribers_(max_subscribers) {}

  // Empty when the subscriber limit is reached.
  std::optional<std::uint64_t> subscribe(const std::string& tenant_id, Deliver deliver);
  void unsubscribe(std::uint64_t id);
  // Sends `event: <type>\ndata: <json>\n\n` to every subscriber of the tenant; returns how many.
  std::size_t publish(const std::string& tenant_id, const std::string& type, const std::string& json);
  std::size_t subscribers() const;

 private:
  struct Sub {
    std::string tenant_id;
    Deliver deliver;
  };
  std::size_t max_subscribers_;
  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Sub> subs_;
};

}  // namespace orc::sim
