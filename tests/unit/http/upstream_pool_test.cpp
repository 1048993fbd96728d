// Unit tests for http/upstream_pool's read buffers: a relay's 80 KiB of buffers are lent out and come back
// rather than being allocated and freed per request, and the pool keeps only a bounded number of clean ones.
#include "http/upstream_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>

#include <cstring>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

namespace orc::http {
namespace {

TEST(UpstreamPoolBuffers, ReleasedBuffersAreLentAgainEmptyWithTheirCapacity) {
  boost::asio::io_context ctx;
  UpstreamPool pool(ctx.get_executor());
  auto b = pool.take_buffers();
  ASSERT_NE(b, nullptr);
  EXPECT_GE(b->in.capacity(), ReadBuffers::kReadCapacity);
  // Bytes left over (a response the relay did not read to its end) must not reach the next request.
  auto space = b->in.prepare(100);
  std::memset(space.data(), 'x', 100);
  b->in.commit(100);
  auto* first = b.get();
  b.reset();
  auto again = pool.take_buffers();
  EXPECT_EQ(again.get(), first);
  EXPECT_EQ(again->in.size(), 0u);
  EXPECT_GE(again->in.capacity(), ReadBuffers::kReadCapacity);
}

TEST(UpstreamPoolBuffers, KeepsAtMostTheSpareLimit) {
  boost::asio::io_context ctx;
  UpstreamPool pool(ctx.get_executor());
  std::vector<UpstreamPool::LentBuffers> out;
  for (std::size_t i = 0; i < UpstreamPool::kSpareBuffers + 5; ++i) out.push_back(pool.take_buffers());
  std::set<ReadBuffers*> lent;
  for (auto& b : out) lent.insert(b.get());
  out.clear();
  // The spares are lent first, each once; then new ones are made (distinct from every one still lent).
  std::vector<UpstreamPool::LentBuffers> again;
  for (std::size_t i = 0; i < UpstreamPool::kSpareBuffers; ++i) {
    again.push_back(pool.take_buffers());
    EXPECT_EQ(lent.count(again.back().get()), 1u) << i;
  }
  std::set<ReadBuffers*> distinct;
  for (auto& b : again) distinct.insert(b.get());
  EXPECT_EQ(distinct.size(), again.size());
}

// The read buffer never grows past its capacity (a backend's chunk line or trailer fails its response
// instead, and Beast's reads report buffer_overflow rather than throwing), so every buffer given back is
// kept as it is.
TEST(UpstreamPoolBuffers, TheReadBufferNeverGrowsPastItsCapacity) {
  boost::asio::io_context ctx;
  UpstreamPool pool(ctx.get_executor());
  auto b = pool.take_buffers();
  EXPECT_EQ(b->in.max_size(), ReadBuffers::kReadCapacity);
  EXPECT_EQ(b->in.capacity(), ReadBuffers::kReadCapacity);
  EXPECT_THROW(b->in.prepare(ReadBuffers::kReadCapacity + 1), std::length_error);
  b->in.commit(boost::asio::buffer_copy(b->in.prepare(10), boost::asio::buffer("0123456789", 10)));
  b.reset();
  auto next = pool.take_buffers();
  EXPECT_EQ(next->in.size(), 0u) << "a buffer given back is cleared";
  EXPECT_EQ(next->in.capacity(), ReadBuffers::kReadCapacity);
}

TEST(UpstreamPoolBuffers, BuffersThatOutliveThePoolAreFreed) {
  boost::asio::io_context ctx;
  std::optional<UpstreamPool> pool(std::in_place, ctx.get_executor());
  auto b = pool->take_buffers();
  pool.reset();
  b.reset();  // no pool to go back to: ASan (CI) fails a use after free here, LeakSanitizer a buffer not
              // freed
}

}  // namespace
}  // namespace orc::http
