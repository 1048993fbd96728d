// The binary form of a cache entry (version 2): the body first, then the other fields (fixed-width integers
// and length-prefixed strings), then the body's length and a 4-byte mark ending in the version. The body
// first, so that decoding hands the blob's own buffer to the entry (resized to the body): no copy of the
// body.
#include "cache/cache_entry.hpp"

#include <algorithm>
#include <limits>

#include "util/strings.hpp"

namespace orc::cache {

namespace {

constexpr std::string_view kMark{"orc\x02", 4};  // the last byte is the version
constexpr std::size_t kTrailer = 8 + kMark.size();

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_str(std::string& out, std::string_view s) {
  put_u64(out, s.size());
  out.append(s);
}

struct Reader {
  std::string_view in;
  bool ok = true;
  std::uint64_t u64() {
    if (in.size() < 8) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    in.remove_prefix(8);
    return v;
  }
  std::string_view view() {
    auto n = u64();
    if (!ok || n > in.size()) {
      ok = false;
      return {};
    }
    auto s = in.substr(0, n);
    in.remove_prefix(n);
    return s;
  }
  std::string str() { return std::string(view()); }
};

bool valid_header_value(std::string_view value) {
  // Three memchr scans, faster than one loop over the bytes for the long values (a Content-Security-Policy).
  return value.find('\r') == std::string_view::npos && value.find('\n') == std::string_view::npos &&
         value.find('\0') == std::string_view::npos;
}

}  // namespace

StoredFields::StoredFields(const HeaderList& list) {
  std::size_t bytes = 0;
  for (const auto& [k, v] : list) bytes += k.size() + v.size();
  reserve(list.size(), bytes);
  for (const auto& [k, v] : list) emplace_back(k, v);
}

StoredFields::StoredFields(std::initializer_list<Field> fields) {
  for (const auto& [k, v] : fields) emplace_back(k, v);
}

void StoredFields::reserve(std::size_t fields, std::size_t bytes) {
  at_.reserve(fields);
  data_.reserve(bytes);
}

void StoredFields::emplace_back(std::string_view name, std::string_view value) {
  at_.push_back({static_cast<std::uint32_t>(data_.size()), static_cast<std::uint32_t>(name.size()),
                 static_cast<std::uint32_t>(value.size())});
  data_.append(name).append(value);
}

HeaderList StoredFields::list() const {
  HeaderList out;
  out.reserve(size());
  for (const auto& [k, v] : *this) out.emplace_back(k, v);
  return out;
}

bool StoredFields::operator==(const StoredFields& o) const {
  return size() == o.size() && std::equal(begin(), end(), o.begin());
}

std::string serialize(const CacheEntry& e) {
  std::string out;
  out.reserve(e.body.size() + e.material.size() + 256);
  out.append(e.body);
  put_u64(out, e.status);
  put_u64(out, static_cast<std::uint64_t>(e.stored_at_ms));
  put_u64(out, static_cast<std::uint64_t>(e.fresh_until_ms));
  put_u64(out, static_cast<std::uint64_t>(e.swr_until_ms));
  put_u64(out, static_cast<std::uint64_t>(e.sie_until_ms));
  put_u64(out, e.initial_age_s);
  put_u64(out, e.vary_marker ? 1 : 0);
  put_str(out, e.material);
  put_str(out, e.etag);
  put_u64(out, e.vary_names.size());
  for (const auto& v : e.vary_names) put_str(out, v);
  put_u64(out, e.headers.size());
  for (const auto& [k, v] : e.headers) {
    put_str(out, k);
    put_str(out, v);
  }
  put_u64(out, e.body.size());
  out.append(kMark);
  return out;
}

std::optional<CacheEntry> deserialize(std::string blob) {
  if (blob.size() < kTrailer || std::string_view(blob).substr(blob.size() - kMark.size()) != kMark)
    return std::nullopt;  // another version, or not an entry
  Reader length{std::string_view(blob).substr(blob.size() - kTrailer, 8)};
  const auto body_size = length.u64();
  if (body_size > blob.size() - kTrailer) return std::nullopt;
  Reader r{std::string_view(blob).substr(body_size, blob.size() - kTrailer - body_size)};
  CacheEntry e;
  e.status = static_cast<unsigned>(r.u64());
  e.stored_at_ms = static_cast<std::int64_t>(r.u64());
  e.fresh_until_ms = static_cast<std::int64_t>(r.u64());
  e.swr_until_ms = static_cast<std::int64_t>(r.u64());
  e.sie_until_ms = static_cast<std::int64_t>(r.u64());
  e.initial_age_s = r.u64();
  e.vary_marker = r.u64() != 0;
  e.material = r.str();
  e.etag = r.str();
  // Each string takes at least its 8-byte length: a damaged count cannot reserve more than the blob holds.
  auto nvary = r.u64();
  e.vary_names.reserve(std::min<std::uint64_t>(nvary, r.in.size() / 8));
  for (std::uint64_t i = 0; r.ok && i < nvary; ++i) e.vary_names.push_back(r.str());
  auto nheaders = r.u64();
  // The fields' bytes are fewer than what is left (each name and value has its 8-byte length too): one
  // allocation for all of them. A blob is far below 4 GiB (StoredFields' offsets), the storage's limit.
  if (r.in.size() > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  e.headers.reserve(std::min<std::uint64_t>(nheaders, r.in.size() / 16), r.in.size());
  for (std::uint64_t i = 0; r.ok && i < nheaders; ++i) {
    auto k = r.view();
    auto v = r.view();
    if (r.ok) e.headers.emplace_back(k, v);
  }
  if (!r.ok || !r.in.empty()) return std::nullopt;
  // Redis may be shared or tampered with: refuse what serialize() of a stored response never writes, rather
  // than serve a status Beast cannot send or a header value that splits the response.
  if (e.status < 100 || e.status > 599) return std::nullopt;
  for (const auto& [k, v] : e.headers)
    if (!util::http_token(k) || !valid_header_value(v)) return std::nullopt;
  for (const auto& name : e.vary_names)
    if (!util::http_token(name)) return std::nullopt;
  blob.resize(body_size);
  e.body = std::move(blob);
  return e;
}

}  // namespace orc::cache
