// Names of the storage outcomes (metric labels, log fields).
#include "cache/storage.hpp"

namespace orc::cache {

std::string_view to_string(StorageStatus s) {
  switch (s) {
    case StorageStatus::ok:
      return "ok";
    case StorageStatus::unavailable:
      return "unavailable";
    case StorageStatus::timeout:
      return "timeout";
    case StorageStatus::error:
      return "error";
  }
  return "error";
}

boost::asio::awaitable<StorageResult<Storage::Snapshot>> Storage::get_with_generations(
    const std::string& key, const std::vector<std::string>& tags) {
  StorageResult<Snapshot> out;
  auto got = co_await get(key);
  if (!got.ok()) {
    out.status = got.status;
    co_return out;
  }
  auto gens = co_await generations(tags);
  if (!gens.ok()) {
    out.status = gens.status;
    co_return out;
  }
  out.value.blob = std::move(got.value);
  out.value.generations = std::move(gens.value);
  co_return out;
}

}  // namespace orc::cache
