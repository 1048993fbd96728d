// See allocator.hpp.
#include "util/allocator.hpp"

#include <cstdlib>  // defines __GLIBC__ with glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace orc::util {

// glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit); a trim threshold under it would
// give back the pages of a block just under it.
static_assert(kMmapThreshold <= (32 << 20));
static_assert(kTrimThreshold > kMmapThreshold);

bool tune_allocator() {
#if defined(__GLIBC__)
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  const bool trim_set = mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
  return mmap_set && trim_set;
#else
  return false;
#endif
}

}  // namespace orc::util
