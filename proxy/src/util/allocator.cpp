// See allocator.hpp.
#include "util/allocator.hpp"

#include <cstddef>
#include <cstdlib>  // defines __GLIBC__ with glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

// jemalloc's control interface, declared weak so that this library needs no jemalloc: null unless the
// daemon's link brought jemalloc in (CMakeLists.txt, ORC_JEMALLOC).
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp, std::size_t newlen)
    __attribute__((weak));

namespace orc::util {

// glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit); a trim threshold under it would
// give back the pages of a block just under it.
static_assert(kMmapThreshold <= (32 << 20));
static_assert(kTrimThreshold > kMmapThreshold);

namespace {

// Whether malloc() is jemalloc: the daemon linked with it (its mallctl() is there).
bool jemalloc_linked() {
  return mallctl != nullptr;
}

}  // namespace

bool tune_allocator() {
  if (jemalloc_linked()) return false;
#if defined(__GLIBC__)
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  const bool trim_set = mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
  return mmap_set && trim_set;
#else
  return false;
#endif
}

std::string allocator_name() {
  if (jemalloc_linked()) {
    const char* version = nullptr;
    std::size_t size = sizeof(version);
    if (mallctl("version", &version, &size, nullptr, 0) == 0 && version != nullptr)
      return std::string("jemalloc ") + version;
    return "jemalloc";
  }
#if defined(__GLIBC__)
  return "glibc malloc";
#else
  return "libc malloc";
#endif
}

}  // namespace orc::util
