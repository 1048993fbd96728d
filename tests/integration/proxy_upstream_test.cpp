// Black-box tests of the upstream side: pooled connections that died (retried or not), a backend that
// refuses connections (502) and one that never answers (504).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "proxy_fixture.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

void answer_with_connection_id(const BackendRequest& req, ResponseWriter& w) {
  w.respond(200, "conn=" + std::to_string(req.connection_id));
}

TEST_F(ProxyTest, PooledConnectionClosedByBackendIsReplaced) {
  // The backend closes right after its first response without announcing it (no Connection: close).
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    answer_with_connection_id(req, w);
    if (req.connection_id == 1) w.close_connection();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse first = send_request(make_request("GET", "/one"));
  ASSERT_TRUE(first.ok()) << first.describe();
  ASSERT_EQ(first.status, 200) << first.describe();
  HttpResponse second = send_request(make_request("GET", "/two"));

  ASSERT_TRUE(second.ok()) << second.describe();
  EXPECT_EQ(second.status, 200) << second.describe();
  EXPECT_EQ(second.body, "conn=2");
}

TEST_F(ProxyTest, IdempotentRequestIsRetriedWhenPooledConnectionDiesBeforeResponse) {
  // The pooled connection looks alive until the second request is on it; then the backend closes it
  // without a response byte: the proxy must retry once on a fresh connection.
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.connection_id == 1 && req.index_on_connection == 1) {
      w.close_connection();
      return;
    }
    answer_with_connection_id(req, w);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse first = send_request(make_request("GET", "/one"));
  ASSERT_TRUE(first.ok()) << first.describe();
  ASSERT_EQ(first.body, "conn=1");
  ASSERT_TRUE(access_line(first));  // connection 1 is back in the pool: the next request will use it
  HttpResponse second = send_request(make_request("GET", "/two"));

  ASSERT_TRUE(second.ok()) << second.describe();
  EXPECT_EQ(second.status, 200) << second.describe();
  EXPECT_EQ(second.body, "conn=2");
  auto seen = backend_.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].target, "/two");
  EXPECT_EQ(seen[2].target, "/two");
  EXPECT_EQ(backend_.connections_accepted(), 2u);
}

TEST_F(ProxyTest, RequestWithBodyIsNotRetriedWhenPooledConnectionDies) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.connection_id == 1 && req.index_on_connection == 1) {
      w.close_connection();
      return;
    }
    answer_with_connection_id(req, w);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse first = send_request(make_request("GET", "/one"));
  ASSERT_TRUE(first.ok()) << first.describe();
  ASSERT_EQ(first.body, "conn=1");
  ASSERT_TRUE(access_line(first));  // connection 1 is back in the pool: the POST will use it
  HttpResponse second = send_request(make_request("POST", "/orders", {}, "{\"qty\":1}"));

  ASSERT_TRUE(second.ok()) << second.describe();
  EXPECT_GE(second.status, 500) << "a POST whose connection died was retried or answered\n"
                                << second.describe();
  EXPECT_EQ(backend_.request_count(), 2u) << "the POST reached the backend more than once";
}

// An idempotent request with a body read whole (limits.request_buffer) is sent again, once, when its pooled
// connection dies before an answer, as one without a body is (RFC 9110 section 9.2.2).
TEST_F(ProxyTest, AnIdempotentRequestWithABodyIsRetriedWhenPooledConnectionDies) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.connection_id == 1 && req.index_on_connection == 1) {
      w.close_connection();
      return;
    }
    w.respond(200, "conn=" + std::to_string(req.connection_id) + " " + req.body);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse first = send_request(make_request("GET", "/one"));
  ASSERT_TRUE(first.ok()) << first.describe();
  ASSERT_TRUE(access_line(first));  // connection 1 is back in the pool: the PUT will use it
  HttpResponse second = send_request(make_request("PUT", "/orders/1", {}, "{\"qty\":1}"));

  ASSERT_TRUE(second.ok()) << second.describe();
  EXPECT_EQ(second.status, 200) << second.describe();
  EXPECT_EQ(second.body, "conn=2 {\"qty\":1}");
  EXPECT_EQ(backend_.request_count(), 3u);
}

// An interim response is relayed as a final one's head is: hop-by-hop fields and Content-Length dropped (a
// 1xx has no content, RFC 9110 section 8.6: a client that honoured it would take the final response's first
// bytes for it), this hop's Via and X-Request-ID added (found by a probe).
TEST_F(ProxyTest, AnInterimResponseIsRelayedWithoutContentLengthAndWithThisHopsFields) {
  backend_.set_handler([](const BackendRequest&, ResponseWriter& w) {
    w.write(
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nContent-Length: 0\r\n"
        "Via: 1.1 origin-edge\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n");
    w.respond(200, "final");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  ASSERT_TRUE(client.send(make_request("GET", "/hints")));
  HttpResponse interim = client.read_response();
  ASSERT_TRUE(interim.ok()) << interim.describe();
  ASSERT_EQ(interim.status, 103) << interim.describe();
  EXPECT_EQ(interim.headers.get("Link"), "</a.css>; rel=preload") << interim.describe();
  EXPECT_FALSE(interim.headers.has("Content-Length")) << interim.describe();
  EXPECT_FALSE(interim.headers.has("X-Hop")) << interim.describe();
  EXPECT_EQ(interim.headers.get("Via"), "1.1 origin-edge, 1.1 openrisk-cache") << interim.describe();
  HttpResponse final_response = client.read_response();
  ASSERT_TRUE(final_response.ok()) << final_response.describe();
  EXPECT_EQ(final_response.body, "final");
  EXPECT_EQ(interim.headers.get("X-Request-ID"), final_response.headers.get("X-Request-ID"));
}

// A request the backend answered with an interim response (103) before it closed the connection has
// reached it: it is never sent again, whatever its method.
TEST_F(ProxyTest, ARequestAnsweredWithAnInterimResponseIsNotRetried) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.connection_id == 1 && req.index_on_connection == 1) {
      w.write("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
      w.close_connection();
      return;
    }
    w.respond(200, "conn=" + std::to_string(req.connection_id));
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse first = send_request(make_request("GET", "/one"));
  ASSERT_TRUE(first.ok()) << first.describe();
  ASSERT_TRUE(access_line(first));  // connection 1 is back in the pool: the PUT will use it
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  ASSERT_TRUE(client.send(make_request("PUT", "/orders/1", {}, "{\"qty\":1}")));
  HttpResponse interim = client.read_response();
  ASSERT_TRUE(interim.ok()) << interim.describe();
  EXPECT_EQ(interim.status, 103) << interim.describe();
  HttpResponse final_response = client.read_response();
  expect_json_error(final_response, 502);
  EXPECT_EQ(backend_.request_count(), 2u) << "the PUT was sent again after the backend had answered 103";
}

TEST_F(ProxyTest, UpstreamConnectionRefusedGives502) {
  ProxyConfig cfg = config();
  cfg.upstream["url"] = "http://127.0.0.1:" + std::to_string(unused_port());
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));

  HttpResponse r = send_request(make_request("GET", "/down"));

  expect_json_error(r, 502);
}

TEST_F(ProxyTest, SilentUpstreamGives504AfterFirstByteTimeout) {
  bool release = false;  // never set: the backend stays silent until the test ends
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) {
    if (w.wait_until([&] { return release; }, deadline_in(60s))) w.respond(200, "too late");
  });
  ProxyConfig cfg = config();
  cfg.upstream["first_byte_timeout"] = "300ms";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));

  auto start = Clock::now();
  HttpResponse r = send_request(make_request("GET", "/silent"));
  auto elapsed = Clock::now() - start;

  expect_json_error(r, 504);
  EXPECT_GE(elapsed, 300ms) << "the 504 came before first_byte_timeout";
  EXPECT_EQ(backend_.request_count(), 1u);
}

// A backend that stops reading in the middle of a request body: the answer (504 at the send timeout) closes
// the client's connection, for the rest of the body was never read and must not be taken for requests.
TEST_F(ProxyTest, ABackendThatStopsReadingMidBodyGetsTheClientConnectionClosed) {
  // A listener that never accepts: the kernel takes the connection and some bytes, then the window closes.
  std::uint16_t listener_port = 0;
  std::string error;
  const int listener = BufferedSocket::listen_local(listener_port, 4, error);
  ASSERT_GE(listener, 0) << error;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{listener};

  ProxyConfig cfg = config();
  cfg.upstream["url"] = "http://127.0.0.1:" + std::to_string(listener_port);
  cfg.upstream["send_timeout"] = "300ms";
  cfg.limits["request_body"] = "64MiB";
  ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));

  // A body made of requests, more than the kernel's buffers hold: read as a request stream, it would be
  // answered.
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
  std::string body;
  while (body.size() < (32u << 20)) body += smuggled;
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  HeaderList h;
  h.add("Content-Type", "text/plain");
  const std::string request = make_request("POST", "/upload", h, body);
  std::thread sender([&] { client.send(request); });  // fails once the proxy closes: that is the point

  HttpResponse r = client.read_response();
  std::string extra;
  const bool closed = client.wait_closed(deadline_in(), &extra);
  sender.join();
  expect_json_error(r, 504);
  EXPECT_TRUE(closed) << "the proxy kept reading a connection with an unread body";
  EXPECT_EQ(extra, "") << "the rest of the body was answered as requests";
}

// A 101 for a request that asked for no upgrade (the proxy drops Upgrade, so none ever does): what follows on
// that connection is another protocol. Found by a probe: the connection went back to the pool, and the next
// request, of another client, was sent into the upgraded stream and answered (and stored) from it.
TEST_F(ProxyTest, ABackendThatSwitchesProtocolsGets502AndItsConnectionIsNeverReused) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.target == "/switch") {
      w.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x-stream\r\n\r\n");
      return;  // the connection stays open, as an upgraded one would
    }
    answer_with_connection_id(req, w);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse switched = send_request(make_request("GET", "/switch"));
  expect_json_error(switched, 502);
  ASSERT_TRUE(access_line(switched));
  HttpResponse next = send_request(make_request("GET", "/next"));
  ASSERT_TRUE(next.ok()) << next.describe();
  EXPECT_EQ(next.status, 200) << next.describe();
  EXPECT_EQ(next.body, "conn=2") << "the next request went into the switched connection";
}

// RFC 9110 section 15: a status is 100..599; anything else is the backend's fault (502), never relayed.
TEST_F(ProxyTest, AnInvalidStatusFromTheBackendGets502) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    const std::string code = req.target.substr(1);
    w.write("HTTP/1.1 " + code + " Odd\r\nContent-Length: 2\r\nCache-Control: max-age=60\r\n\r\nok");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  for (const char* code : {"999", "600", "099", "000"}) {
    HttpResponse r = send_request(make_request("GET", std::string("/") + code));
    expect_json_error(r, 502);
  }
  EXPECT_EQ(backend_.request_count(), 4u);
}

// RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; the connection is
// closed once the response is read, whatever its Connection says.
TEST_F(ProxyTest, AnHttp10ResponseWithTransferEncodingEndsItsConnection) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.target == "/old") {
      w.write(
          "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n0\r\n\r\n");
      return;
    }
    answer_with_connection_id(req, w);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse old = send_request(make_request("GET", "/old"));
  ASSERT_TRUE(old.ok()) << old.describe();
  EXPECT_EQ(old.status, 200) << old.describe();
  EXPECT_EQ(old.body, "hello");
  ASSERT_TRUE(access_line(old));
  HttpResponse next = send_request(make_request("GET", "/next"));
  EXPECT_EQ(next.body, "conn=2") << next.describe();
}

// A backend that fails before the first byte of the body (a broken first chunk): the client has had nothing
// yet, since the head waits for the first body bytes, so it gets a 502, and the log says 502.
TEST_F(ProxyTest, ABodyThatBreaksBeforeItsFirstByteGets502) {
  backend_.set_handler([](const BackendRequest&, ResponseWriter& w) {
    w.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n");
    w.close_connection();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  HttpResponse r = send_request(make_request("GET", "/broken"));
  expect_json_error(r, 502);
  auto line = access_line(r);
  ASSERT_TRUE(line);
  EXPECT_NE(line->line.find(" 502 "), std::string::npos) << line->line;
}

// A backend's chunk-size line or trailer section is bounded by the relay's 64 KiB read buffer: a trailer
// field of 64 KiB made Beast's field container throw out of the worker's event loop, which stopped the worker
// for good. The response fails (its client's connection is cut), and the worker serves on.
TEST_F(ProxyTest, ABackendsTrailerOrChunkLineOverTheReadBufferFailsOnlyItsResponse) {
  const std::string huge(70000, 'y');
  backend_.set_handler([&](const BackendRequest& req, ResponseWriter& w) {
    if (req.target == "/after") {
      w.respond(200, "after");
      return;
    }
    w.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    w.write(req.target == "/trailer" ? "0\r\nX: " + huge.substr(0, 65535) + "\r\n\r\n"
                                     : "5;a=" + huge + "\r\n");
    w.close_connection();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  for (const char* target : {"/trailer", "/chunk-line"}) {
    SCOPED_TRACE(target);
    HttpResponse r = send_request(make_request("GET", target));
    EXPECT_FALSE(r.ok() && r.status == 200 && r.body == "hello") << "a broken response was relayed whole";
    HttpResponse after = send_request(make_request("GET", "/after"));  // one worker: it must still serve
    ASSERT_TRUE(after.ok()) << after.describe() << daemon_->stderr_text();
    EXPECT_EQ(after.body, "after");
  }
  EXPECT_EQ(daemon_->stderr_text().find("[critical]"), std::string::npos) << daemon_->stderr_text();
}

}  // namespace
}  // namespace orc::test
