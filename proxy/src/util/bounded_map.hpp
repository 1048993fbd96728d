// A map from strings to values with a bound on its size, looked up by string_view without building a key
// string: the per-thread caches of the request path (verified JWTs, credential HMACs) use it.
//
// Two generations, no per-entry bookkeeping: inserts go to the current one; when it holds `max` entries, it
// becomes the previous one (the one before is dropped) and a new one starts; an entry found in the previous
// generation moves to the current one. So an entry stays while it is used again before `max` other entries
// have entered the current generation: keys taken in turn are always found when they and the keys inserted
// meanwhile number at most `max` (a map that started over when full lost them all at once, and one set of
// keys just over the bound, taken in turn, missed on every lookup), and at most 2 x `max` entries are kept.
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
  explicit BoundedMap(std::size_t max) : max_(max == 0 ? 1 : max) {}

  // Null when absent. The pointer is valid until the next call that is not size().
  const V* find(std::string_view key) {
    if (auto it = current_.find(key); it != current_.end()) return &it->second;
    auto it = previous_.find(key);
    if (it == previous_.end()) return nullptr;
    auto node = previous_.extract(it);  // the key's string and the value move, not copied
    turn_if_full();
    return &current_.insert(std::move(node)).position->second;
  }
  const V& insert(std::string_view key, V value) {
    if (auto it = current_.find(key); it != current_.end()) {
      it->second = std::move(value);
      return it->second;
    }
    if (auto it = previous_.find(key); it != previous_.end()) previous_.erase(it);
    turn_if_full();
    return current_.emplace(std::string(key), std::move(value)).first->second;
  }
  void erase(std::string_view key) {
    if (auto it = current_.find(key); it != current_.end()) current_.erase(it);
    if (auto it = previous_.find(key); it != previous_.end()) previous_.erase(it);
  }
  void clear() {
    current_.clear();
    previous_.clear();
  }
  std::size_t size() const { return current_.size() + previous_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, V, Hash, std::equal_to<>>;

  void turn_if_full() {
    if (current_.size() < max_) return;
    previous_ = std::move(current_);
    current_ = Map{};
    current_.reserve(max_);
  }

  std::size_t max_;
  Map current_;
  Map previous_;
};

}  // namespace orc::util
