// A stored response and its metadata, and its compact binary form (the blob a Storage keeps).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orc::cache {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// An entry's stored fields, names and values back to back in one buffer: decoding an entry from its blob
// copies them once, where a HeaderList allocates most names and values one by one (a backend's security
// fields alone are a dozen; docs/performance.md, "Redis alone: an entry's fields in one buffer"). Read-only
// but for appending; a field reads as a pair of views, valid while the StoredFields is not changed.
class StoredFields {
 public:
  using Field = std::pair<std::string_view, std::string_view>;

  StoredFields() = default;
  StoredFields(const HeaderList& list);  // NOLINT(google-explicit-constructor): entries are built from one
  StoredFields(std::initializer_list<Field> fields);

  void emplace_back(std::string_view name, std::string_view value);
  void reserve(std::size_t fields, std::size_t bytes);
  std::size_t size() const { return at_.size(); }
  bool empty() const { return at_.empty(); }
  std::size_t bytes() const { return data_.size(); }  // of names and values
  Field operator[](std::size_t i) const {
    const auto& a = at_[i];
    return {std::string_view(data_).substr(a.name, a.name_size),
            std::string_view(data_).substr(a.name + a.name_size, a.value_size)};
  }
  HeaderList list() const;  // a copy, for the rare paths that edit fields (a revalidation)

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Field;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Field;
    iterator() = default;
    iterator(const StoredFields* f, std::size_t i) : f_(f), i_(i) {}
    Field operator*() const { return (*f_)[i_]; }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    iterator operator++(int) {
      auto old = *this;
      ++i_;
      return old;
    }
    bool operator==(const iterator& o) const { return i_ == o.i_; }

   private:
    const StoredFields* f_ = nullptr;
    std::size_t i_ = 0;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, at_.size()}; }

  bool operator==(const StoredFields& o) const;

 private:
  struct At {
    std::uint32_t name;  // offset in data_; the value follows the name
    std::uint32_t name_size;
    std::uint32_t value_size;
  };
  std::string data_;
  std::vector<At> at_;
};

struct CacheEntry {
  unsigned status = 200;
  StoredFields headers;  // end-to-end headers as the backend sent them (never hop-by-hop, never Set-Cookie)
  std::string body;
  std::string material;             // the key material: a hit is served only when it matches exactly
  std::string etag;                 // strong ETag the proxy computed from the body
  std::int64_t stored_at_ms = 0;    // wall clock, so instances sharing Redis agree
  std::int64_t fresh_until_ms = 0;  // served as a HIT before this
  std::int64_t swr_until_ms = 0;    // stale_while_revalidate: served STALE and refreshed before this
  std::int64_t sie_until_ms = 0;    // stale_if_error: served STALE when the backend fails before this
  std::uint64_t initial_age_s = 0;  // the Age the backend reported (ttl: origin)
  // Vary: the request headers the response varies on; a primary entry with vary_names and no body is a
  // marker telling the reader to look under the secondary key that includes their values.
  std::vector<std::string> vary_names;
  bool vary_marker = false;
};

std::string serialize(const CacheEntry& e);
// Empty when `blob` is not an entry this version wrote (another version, truncated, damaged, or fields no
// stored response has). Takes the blob by value: moved in, its buffer becomes the entry's body.
std::optional<CacheEntry> deserialize(std::string blob);

}  // namespace orc::cache
