// Refresh-token sessions: opaque single-use tokens in families, with reuse detection that revokes the
// whole family, like the backend's refresh_tokens table. Bounded: the oldest entries are evicted first.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace orc::sim {

// 2*n lowercase hex digits from OpenSSL's CSPRNG.
std::string random_hex(std::size_t n_bytes);

class RefreshSessions {
 public:
  explicit RefreshSessions(std::size_t capacity = 100000) : capacity_(capacity) {}

  // A new 64-hex refresh token. An empty family starts a new one.
  std::string issue(const std::string& user_id, const std::string& tenant_id, std::string family = {});

  enum class Status { ok, unknown, reused };
  struct Rotation {
    Status status = Status::unknown;
    std::string user_id, tenant_id, family;
  };
  // Spends `token`. A second use revokes every token of its family.
  Rotation spend(std::string_view token);
  void revoke(std::string_view token);
  void clear();

 private:
  struct Entry {
    std::string user_id, tenant_id, family;
    bool spent = false;
  };
  std::size_t capacity_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> order_;  // insertion order, for eviction
};

}  // namespace orc::sim
