// SSE fan-out. Publishing happens under the tenant's write lock, so frames reach subscribers in write order.
#include "openrisk_sim/sse_hub.hpp"

namespace orc::sim {

std::optional<std::uint64_t> SseHub::subscribe(const std::string& tenant_id, Deliver deliver) {
  std::lock_guard lock(mu_);
  if (subs_.size() >= max_subscribers_) return std::nullopt;
  std::uint64_t id = next_id_++;
  subs_.emplace(id, Sub{tenant_id, std::move(deliver)});
  return id;
}

void SseHub::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  subs_.erase(id);
}

std::size_t SseHub::publish(const std::string& tenant_id, const std::string& type, const std::string& json) {
  auto frame = std::make_shared<const std::string>("event: " + type + "\ndata: " + json + "\n\n");
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (auto& [id, s] : subs_) {
    if (s.tenant_id != tenant_id) continue;
    s.deliver(frame);  // only posts to the subscriber's strand: cheap and non-blocking
    ++n;
  }
  return n;
}

std::size_t SseHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

}  // namespace orc::sim
