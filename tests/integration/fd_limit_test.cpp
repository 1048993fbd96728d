// The daemon out of file descriptors (issue 18, "a daemon that survives its environment"): accept() failing
// with EMFILE pauses the listener, with one log line and one count per pause, instead of spinning on the
// same error; once descriptors are free again it accepts and serves. The limit is lowered on the running
// daemon with prlimit(2), just above what it holds after a warm-up.
//
// Not against the ASan + UBSan daemon: UBSan's vptr check opens a pipe to read a vtable it has not seen
// before, which fails with no descriptor free, and it then reports an "invalid vptr" of its own making and
// aborts. The TSan job runs this test against the TSan daemon (Makefile, TSAN_TESTS); `make check` against
// the Release one.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cache_fixture.hpp"
#include "proxy_fixture.hpp"
#include "support/raw_client.hpp"
#include "support/test_backend.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

// Whether `executable` carries UBSan's vptr check (its runtime's handler is linked in).
bool checks_vptrs(const std::string& executable) {
  // Read in one call: character by character, a sanitizer build's test binary takes tens of seconds over it.
  std::ifstream in(executable, std::ios::binary | std::ios::ate);
  std::string image(static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg())), '\0');
  in.seekg(0);
  in.read(image.data(), static_cast<std::streamsize>(image.size()));
  return image.find("__ubsan_handle_dynamic_type_cache_miss") != std::string::npos;
}

std::size_t occurrences(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

class FdLimitTest : public CacheTest {
 protected:
  void TearDown() override { CacheTest::TearDown(); }  // the daemons go before the backend
  TestBackend backend_;
};

TEST_F(FdLimitTest, OutOfDescriptorsPausesAcceptingOncePerPauseAndRecovers) {
  if (checks_vptrs(daemon_path()))
    GTEST_SKIP()
        << "the daemon is a UBSan build: its vptr check needs free descriptors (see the file's comment)";
  backend_.set_handler([](const BackendRequest&, ResponseWriter& w) { w.respond(200, "ok"); });
  DaemonProcess* proxy = start_proxy(config_yaml("rules: []\n", false, "", backend_.url()), {}, "");
  ASSERT_NE(proxy, nullptr);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(through(0, "GET", "/warm").status, 200);  // pools, resolver, timers
  const auto held = proxy->fd_count();
  ASSERT_TRUE(held) << "cannot read /proc of the daemon";

  // Room for two more descriptors; eight clients connect (the kernel queues them in the backlog).
  rlimit previous{};
  ASSERT_EQ(::prlimit(proxy->pid(), RLIMIT_NOFILE, nullptr, &previous), 0) << std::strerror(errno);
  const rlimit low{*held + 2, previous.rlim_max};
  ASSERT_EQ(::prlimit(proxy->pid(), RLIMIT_NOFILE, &low, nullptr), 0) << std::strerror(errno);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(std::make_unique<RawClient>(proxy->port()));
    ASSERT_TRUE(idle.back()->connected()) << idle.back()->error();
  }
  ASSERT_TRUE(
      poll_until([&] { return occurrences(proxy->stderr_text(), "pausing accepts") >= 3; }, deadline_in(20s)))
      << "no repeated pause of the listener:\n"
      << proxy->stderr_text();
  const std::string log = proxy->stderr_text();
  EXPECT_EQ(occurrences(log, "accept failed"), occurrences(log, "pausing accepts"))
      << "an accept failure that did not pause the listener (a spinning loop logs every turn):\n"
      << log;

  // The clients leave: the connections the daemon accepted close, their descriptors come back, the backlog
  // drains, and a new client is served under the same low limit.
  idle.clear();
  HttpResponse after;
  EXPECT_TRUE(poll_until(
      [&] {
        after = through(0, "GET", "/after");
        return after.status == 200;
      },
      deadline_in(20s)))
      << after.describe();
  const auto pauses = metric_of(*proxy, "openrisk_cache_accept_pauses_total");
  ASSERT_TRUE(pauses) << "no openrisk_cache_accept_pauses_total on /metrics";
  EXPECT_GE(*pauses, 3.0);
  ASSERT_EQ(::prlimit(proxy->pid(), RLIMIT_NOFILE, &previous, nullptr), 0) << std::strerror(errno);
}

}  // namespace
}  // namespace orc::test
