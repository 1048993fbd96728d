// Refresh-token rotation with family revocation, and the random values tokens are made of.
#include "openrisk_sim/auth_sessions.hpp"

#include <openssl/rand.h>

#include <atomic>
#include <vector>

namespace orc::sim {

std::string random_hex(std::size_t n_bytes) {
  std::vector<unsigned char> raw(n_bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    // The CSPRNG failing is not something a test double should die over; fall back to something unique.
    static std::atomic<unsigned long long> counter{0};
    for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<unsigned char>(counter++ * 131 + i);
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(n_bytes * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string RefreshSessions::issue(const std::string& user_id, const std::string& tenant_id,
                                   std::string family) {
  std::string token = random_hex(32);
  if (family.empty()) family = random_hex(16);
  std::lock_guard lock(mu_);
  while (entries_.size() >= capacity_ && !order_.empty()) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  // Revoked tokens leave their names in order_; compact it before it outgrows the live set.
  if (order_.size() >= 2 * capacity_) {
    std::erase_if(order_, [&](const std::string& t) { return !entries_.contains(t); });
  }
  entries_[token] = Entry{user_id, tenant_id, std::move(family), false};
  order_.push_back(token);
  return token;
}

RefreshSessions::Rotation RefreshSessions::spend(std::string_view token) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(token));
  if (it == entries_.end()) return {};
  Entry& e = it->second;
  if (e.spent) {
    std::string family = e.family;
    Rotation r{Status::reused, e.user_id, e.tenant_id, family};
    for (auto i = entries_.begin(); i != entries_.end();)
      i = i->second.family == family ? entries_.erase(i) : std::next(i);
    return r;
  }
  e.spent = true;
  return {Status::ok, e.user_id, e.tenant_id, e.family};
}

void RefreshSessions::revoke(std::string_view token) {
  std::lock_guard lock(mu_);
  entries_.erase(std::string(token));
}

void RefreshSessions::clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
  order_.clear();
}

}  // namespace orc::sim
