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

}  // namespace orc::cache
