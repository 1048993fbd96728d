// Unit tests for util/allocator: after tune_allocator(), a body-sized block comes from the heap (not a fresh
// mapping) and its pages stay with the heap once freed, so the next request does not fault them in again.
#include "util/allocator.hpp"

#include <gtest/gtest.h>

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace orc::util {
namespace {

// Under a sanitizer (GCC names it with a macro, Clang with __has_feature) malloc is the sanitizer's, which
// ignores mallopt().
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ORC_SANITIZED_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define ORC_SANITIZED_ALLOCATOR 1
#endif
#endif
#if defined(ORC_SANITIZED_ALLOCATOR)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

TEST(Allocator, BodySizedBlocksComeFromTheHeapAndStayWithIt) {
  if (kSanitized) GTEST_SKIP() << "a sanitizer's allocator ignores mallopt()";
  ASSERT_TRUE(tune_allocator());
  // 3 MiB: under the new mmap threshold, and over glibc's default (128 KiB, adapting up to what was freed).
  constexpr std::size_t kBlock = 3 << 20;
  const auto before = mallinfo2();
  void* block = std::malloc(kBlock);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBlock);
  const auto with = mallinfo2();
  EXPECT_EQ(with.hblkhd, before.hblkhd) << "the block was mapped on its own, not taken from the heap";
  std::free(block);
  const auto after = mallinfo2();
  // Under the trim threshold: the freed pages stay in the heap, free for the next request.
  EXPECT_GE(after.fordblks, kBlock);
  EXPECT_GE(after.arena, with.arena);
}

}  // namespace
}  // namespace orc::util
