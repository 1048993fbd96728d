// Tests of the test support itself (client against backend directly, a fake daemon script, the JSON check),
// so that a proxy test failure points at the proxy and not at the harness.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include "support/daemon_process.hpp"
#include "support/json_check.hpp"
#include "support/raw_client.hpp"
#include "support/test_backend.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

TEST(TestSupport, ClientReadsEveryResponseFramingFromBackend) {
  TestBackend backend([](const BackendRequest& req, ResponseWriter& w) {
    if (req.target == "/chunked") {
      w.begin_chunked(200);
      w.write_chunk("ab");
      w.write_chunk("cde");
      w.end_chunks();
    } else if (req.target == "/close") {
      w.write("HTTP/1.1 200 OK\r\n\r\nuntil close");
      w.close_connection();
    } else if (req.method == "HEAD") {
      w.write("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
    } else {
      w.respond(200, "hello");
    }
  });
  RawClient client(backend.port());
  ASSERT_TRUE(client.connected()) << client.error();

  ASSERT_TRUE(client.send("GET /cl HTTP/1.1\r\nHost: x\r\n\r\nHEAD /h HTTP/1.1\r\nHost: x\r\n\r\n"));
  HttpResponse fixed = client.read_response();
  HttpResponse head = client.read_response({.head_request = true});
  ASSERT_TRUE(client.send("GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n"));
  HttpResponse chunked = client.read_response();
  ASSERT_TRUE(client.send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n"));
  HttpResponse until_close = client.read_response();

  ASSERT_TRUE(fixed.ok()) << fixed.describe();
  EXPECT_EQ(fixed.body, "hello");
  ASSERT_TRUE(head.ok()) << head.describe();
  EXPECT_EQ(head.body_bytes, 0u);
  ASSERT_TRUE(chunked.ok()) << chunked.describe();
  EXPECT_TRUE(chunked.chunked);
  EXPECT_EQ(chunked.body, "abcde");
  EXPECT_EQ(chunked.chunk_sizes, (std::vector<std::uint64_t>{2, 3}));
  ASSERT_TRUE(until_close.ok()) << until_close.describe();
  EXPECT_EQ(until_close.body, "until close");
  EXPECT_EQ(backend.connections_accepted(), 1u);
}

TEST(TestSupport, BackendRecordsRequestsAndConnections) {
  TestBackend backend;
  RawClient first(backend.port());
  RawClient second(backend.port());
  ASSERT_TRUE(first.connected() && second.connected());

  ASSERT_TRUE(first.send(
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n"));
  ASSERT_TRUE(first.read_response().ok());
  ASSERT_TRUE(second.send("POST /l HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxy"));
  ASSERT_TRUE(second.read_response().ok());

  auto seen = backend.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[0].chunked);
  EXPECT_EQ(seen[0].body, "abcd");
  EXPECT_EQ(seen[0].chunk_sizes, (std::vector<std::uint64_t>{3, 1}));
  EXPECT_FALSE(seen[1].chunked);
  EXPECT_EQ(seen[1].body, "xy");
  EXPECT_NE(seen[0].connection_id, seen[1].connection_id);
  EXPECT_EQ(backend.connections_accepted(), 2u);
}

TEST(TestSupport, BackendStopsWhileHandlerIsBlocked) {
  auto backend = std::make_unique<TestBackend>(
      [](const BackendRequest&, ResponseWriter& w) { w.wait_until([] { return false; }, deadline_in(60s)); });
  RawClient client(backend->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(backend->wait_for_requests(1));

  auto start = Clock::now();
  backend.reset();

  EXPECT_LT(Clock::now() - start, 5s) << "stopping the backend waited for the blocked handler";
  EXPECT_TRUE(client.wait_closed());
}

// A stand-in daemon: a shell script that logs like the real one and then idles.
class FakeDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/orc-fake-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    std::remove(script_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string write_script(const std::string& body) {
    script_ = dir_ + "/fake-daemon";
    std::ofstream(script_) << "#!/bin/sh\n" << body;
    ::chmod(script_.c_str(), 0755);
    return script_;
  }

  std::string dir_;
  std::string script_;
};

TEST_F(FakeDaemonTest, CapturesLogsSignalsAndExitStatus) {
  // Its args are "serve --config FILE": $3 is the config file.
  std::string exe = write_script(
      "cat \"$3\" >&2\n"
      "echo 'info: listening on 127.0.0.1:4321' >&2\n"
      "exec tail -f /dev/null\n");
  DaemonProcess daemon(exe, "listen: 127.0.0.1:0\n");

  ASSERT_TRUE(daemon.wait_listening()) << daemon.stderr_text();
  EXPECT_EQ(daemon.port(), 4321);
  EXPECT_NE(daemon.stderr_text().find("listen: 127.0.0.1:0"), std::string::npos);
  auto rss = daemon.peak_rss_bytes();
  ASSERT_TRUE(rss.has_value());
  EXPECT_GT(*rss, 0u);
  ASSERT_TRUE(daemon.send_signal(SIGTERM));
  auto status = daemon.wait_exit();
  ASSERT_TRUE(status.has_value());
  EXPECT_FALSE(status->exited);
  EXPECT_EQ(status->signal, SIGTERM);
  EXPECT_FALSE(daemon.send_signal(SIGTERM)) << "signalled a pid already reaped";
  EXPECT_FALSE(daemon.peak_rss_bytes().has_value());
}

TEST_F(FakeDaemonTest, LogWaitEndsWhenTheProcessExits) {
  std::string exe = write_script("echo 'config.yaml:1:1: error: nope' >&2\nexit 3\n");
  DaemonProcess daemon(exe, "");

  auto start = Clock::now();
  EXPECT_FALSE(daemon.wait_listening(deadline_in(30s)));
  EXPECT_LT(Clock::now() - start, 10s) << "waited for the deadline although stderr had closed";
  auto status = daemon.wait_exit();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 3);
  EXPECT_TRUE(daemon.wait_for_log("error: nope").has_value());
}

TEST_F(FakeDaemonTest, DestructorKillsARunningDaemon) {
  std::string exe = write_script("echo 'listening on 127.0.0.1:1' >&2\nexec tail -f /dev/null\n");
  pid_t pid;
  {
    DaemonProcess daemon(exe, "");
    ASSERT_TRUE(daemon.wait_listening());
    pid = daemon.pid();
  }
  EXPECT_NE(::kill(pid, 0), 0) << "the daemon survived its DaemonProcess";
}

TEST(TestSupport, JsonCheckAcceptsObjectsOnly) {
  EXPECT_TRUE(is_json_object(R"({"a":1,"b":[true,false,null,-1.5e3],"c":{"d":"x\"y\u00e9"}})"));
  EXPECT_TRUE(is_json_object(" {} "));
  EXPECT_FALSE(is_json_object("[1]"));
  EXPECT_FALSE(is_json_object(R"({"a":1,})"));
  EXPECT_FALSE(is_json_object(R"({"a":01})"));
  EXPECT_FALSE(is_json_object(R"({"a":"tab	inside"})"));
  EXPECT_FALSE(is_json_object(R"({"a":1} trailing)"));
  EXPECT_FALSE(is_json_object("2024-01-01 info listening on 127.0.0.1:80"));
  EXPECT_FALSE(is_json_object("{\"a\":\"caf\xc3\"}")) << "invalid UTF-8";
  EXPECT_TRUE(is_json_object("{\"a\":\"caf\xc3\xa9\"}"));
}

}  // namespace
}  // namespace orc::test
