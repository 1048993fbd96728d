// Unit tests for log/access_writer: lines reach the descriptor whole and in order, a full buffer drops (and
// counts) instead of waiting, a descriptor that refuses loses its lines counted, stop() writes what is
// buffered; and the time stamp's shape.
#include "log/access_writer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <thread>

#include "log/logging.hpp"

namespace orc::log {
namespace {

// A pipe whose read end the test drains when it chooses.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0); }
  ~Pipe() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  // Reads until `bytes` have come, or nothing came for 10 s (a test failure then shows as a short result).
  std::string read_bytes(std::size_t bytes) {
    std::string out;
    char buf[65536];
    while (out.size() < bytes) {
      pollfd pfd{fds[0], POLLIN, 0};
      if (::poll(&pfd, 1, 10000) <= 0) break;
      ssize_t n = ::read(fds[0], buf, std::min(sizeof buf, bytes - out.size()));
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  // Everything written so far (the writer has stopped).
  std::string drain_nonblocking() {
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
};

TEST(AccessWriter, WritesWholeLinesInOrderAndEverythingBufferedOnStop) {
  Pipe p;
  AccessWriter w(p.fds[1], 1 << 20);
  for (int i = 0; i < 100; ++i) w.append("[", std::to_string(i), "]");
  w.stop();
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += "[" + std::to_string(i) + "]\n";
  EXPECT_EQ(p.drain_nonblocking(), expected);
  EXPECT_EQ(w.dropped(), 0u);
}

TEST(AccessWriter, AFullBufferDropsTheLinesThatDoNotFitWithoutWaiting) {
  Pipe p;
  // Nobody reads the pipe: once its buffer is full the writer blocks, then the writer's buffer fills up.
  AccessWriter w(p.fds[1], 64 * 1024);
  const std::string line(99, 'x');  // 100 bytes with its newline
  int appended = 0;
  while (w.dropped() == 0 && appended < 1000000) {  // would hang here if append() waited for the pipe
    w.append("", line, "");
    ++appended;
  }
  EXPECT_GT(w.dropped(), 0u) << appended << " lines appended and none dropped";
  // The writer writes the rest of its buffer while it is stopped: read it meanwhile.
  const std::size_t kept = static_cast<std::size_t>(appended) - w.dropped();
  std::thread stopper([&] { w.stop(); });
  std::string got = p.read_bytes(kept * 100);
  stopper.join();
  got += p.drain_nonblocking();
  // Every line that was not dropped arrived whole, and nothing else.
  EXPECT_EQ(w.dropped(), static_cast<std::size_t>(appended) - kept);
  EXPECT_EQ(got.size(), kept * 100);
  EXPECT_EQ(got.find_first_not_of(line + "\n"), std::string::npos);
}

TEST(AccessWriter, ALineLongerThanTheLimitIsDroppedAndTheLimitCanChange) {
  Pipe p;
  AccessWriter w(p.fds[1], 64 * 1024);
  w.append("", std::string(70 * 1024, 'y'), "");
  EXPECT_EQ(w.dropped(), 1u);
  w.set_limit(128 * 1024);
  w.append("", std::string(70 * 1024, 'z'), "");
  EXPECT_EQ(w.dropped(), 1u);
  std::thread stopper([&] { w.stop(); });
  std::string got = p.read_bytes(70 * 1024 + 1);
  stopper.join();
  EXPECT_EQ(got, std::string(70 * 1024, 'z') + "\n");
}

TEST(AccessWriter, ADescriptorThatRefusesLosesItsLinesCounted) {
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);  // every write fails with ENOSPC
  ASSERT_GE(full, 0);
  {
    AccessWriter w(full, 1 << 20);
    for (int i = 0; i < 10; ++i) w.append("a", "b", "c");
    w.stop();
    EXPECT_EQ(w.dropped(), 10u);
  }
  ::close(full);
}

// flush() returns once what was appended before it is in the descriptor (a critical line, std::terminate),
// and is bounded when the descriptor takes nothing.
TEST(AccessWriter, FlushReturnsOnceTheLinesAreWrittenOrItsBoundPassed) {
  Pipe pipe;
  AccessWriter writer(pipe.fds[1], 1 << 20);
  writer.append("critical", "", "");
  writer.flush(std::chrono::seconds(10));
  ASSERT_EQ(::fcntl(pipe.fds[0], F_SETFL, O_NONBLOCK), 0);
  char buf[64];
  const ssize_t n = ::read(pipe.fds[0], buf, sizeof buf);  // no wait: it is there already
  ASSERT_EQ(n, 9);
  EXPECT_EQ(std::string(buf, 9), "critical\n");
  writer.flush(std::chrono::seconds(10));  // nothing buffered: at once

  // A pipe nobody reads: fill it, then a flush gives up after its bound.
  const std::string line(4000, 'x');
  for (int i = 0; i < 64; ++i) writer.append(line, "", "");  // 256 KB, more than a pipe holds by default
  writer.flush(std::chrono::milliseconds(100));              // returns, though the pipe cannot take it all
  ASSERT_EQ(::fcntl(pipe.fds[0], F_SETFL, 0), 0);
  EXPECT_EQ(pipe.read_bytes(64 * (line.size() + 1)).size(), 64 * (line.size() + 1)) << "lines were lost";
  EXPECT_EQ(writer.dropped(), 0u);
}

TEST(AccessTimestamp, LocalTimeWithMillisecondsAndTheUtcOffset) {
  using namespace std::chrono;
  const system_clock::time_point t{seconds(1764217619) + milliseconds(466)};
  char buf[40];
  const std::string stamp(access_timestamp(t, buf));
  EXPECT_TRUE(std::regex_match(stamp, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.466[+-]\d\d:\d\d)")))
      << stamp;
  // Same second, another millisecond: only the milliseconds change.
  const std::string later(access_timestamp(t + milliseconds(7), buf));
  EXPECT_EQ(later.substr(0, 20), stamp.substr(0, 20));
  EXPECT_EQ(later.substr(20, 3), "473");
  const std::string next_ms_from_zero(access_timestamp(t - milliseconds(466), buf));
  EXPECT_EQ(next_ms_from_zero.substr(20, 3), "000");
}

}  // namespace
}  // namespace orc::log
