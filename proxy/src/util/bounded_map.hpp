// A map from strings to values with a bound on its size, looked up by string_view without building a key
// string: the per-thread caches of the request path (verified JWTs, credential HMACs) use it. When it is
// full, an insert clears it first: the entries refill as their keys recur, with no per-entry bookkeeping.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace orc::util {

template <typename V>
class BoundedMap {
 public:
  explicit BoundedMap(std::size_t max) : max_(max) {}

  // Null when absent. The pointer is valid until the next insert, erase or clear.
  const V* find(std::string_view key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  const V& insert(std::string_view key, V value) {
    if (map_.size() >= max_) map_.clear();
    return map_.insert_or_assign(std::string(key), std::move(value)).first->second;
  }
  void erase(std::string_view key) {
    if (auto it = map_.find(key); it != map_.end()) map_.erase(it);
  }
  void clear() { map_.clear(); }
  std::size_t size() const { return map_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::size_t max_;
  std::unordered_map<std::string, V, Hash, std::equal_to<>> map_;
};

}  // namespace orc::util
