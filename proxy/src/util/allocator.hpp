// The daemon's allocator: jemalloc when the build links it (CMake's ORC_JEMALLOC, the default outside
// sanitizer builds), else the C library's, set for a proxy that copies bodies of tens to hundreds of KiB per
// request.
#pragma once

#include <string>

namespace orc::util {

// With glibc's defaults a request that stores a 74 KiB list page (its copies: the teed body, the entry, the
// Redis command and hiredis's output buffer, a few hundred KiB together) frees enough at the top of its
// thread's heap for glibc to give the pages back (madvise), and the next request faults them in again; chunks
// of 128 KiB or more are mmapped and unmapped each time (the threshold only adapts up to what was freed). On
// a virtual machine each fault is a trap to the hypervisor: a 74 KiB miss took 1.8 ms more than the backend
// alone, 0.6 ms with these settings. Allocations under kMmapThreshold come from the heap, and a heap keeps up
// to kTrimThreshold of free pages at its top (per worker thread's arena: the resident set can stay that much
// above what is in use after a burst).
inline constexpr int kMmapThreshold = 4 << 20;   // 4 MiB
inline constexpr int kTrimThreshold = 16 << 20;  // 16 MiB

// Applies both to glibc's malloc (once, before the worker threads start). False when the allocator did not
// take them: jemalloc (which needs neither: it gives freed pages back gradually, over seconds), not
// glibc, or a sanitizer's allocator, which ignores mallopt().
bool tune_allocator();

// What malloc() is, for the start-up log: "jemalloc 5.3.0-0-g54eaed1d", "glibc malloc", or "libc malloc".
std::string allocator_name();

}  // namespace orc::util
