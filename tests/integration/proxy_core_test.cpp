// Black-box tests of the proxy core's relaying: keep-alive, pipelining, body framing both ways, streaming,
// bounded memory, bodiless responses and 100-continue, against the real daemon and a scripted backend.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "proxy_fixture.hpp"

namespace orc::test {
namespace {

using namespace std::chrono_literals;

// Deterministic, non-repeating-looking content so that a reordered or dropped piece shows.
std::string pattern_body(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return out;
}

TEST_F(ProxyTest, ForwardsRequestAndRelaysResponse) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    HeaderList h;
    h.add("X-Backend", "yes");
    w.respond(201, req.method + " " + req.target + " " + req.body, h);
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse r = send_request(make_request("POST", "/api/items?x=1", {}, "payload"));

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.body, "POST /api/items?x=1 payload");
  EXPECT_EQ(r.headers.get("X-Backend"), "yes");
  ASSERT_EQ(backend_.request_count(), 1u);
  EXPECT_EQ(backend_.requests()[0].body, "payload");
}

TEST_F(ProxyTest, ReusesOneUpstreamConnectionForSequentialClients) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  constexpr int kRequests = 5;

  for (int i = 0; i < kRequests; ++i) {
    HttpResponse r = send_request(make_request("GET", "/n/" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.describe();
    ASSERT_EQ(r.status, 200) << r.describe();
  }

  EXPECT_EQ(backend_.request_count(), static_cast<std::size_t>(kRequests));
  EXPECT_EQ(backend_.connections_accepted(), 1u)
      << "each client connection should reuse the pooled upstream one";
}

TEST_F(ProxyTest, KeepsClientConnectionOpenBetweenRequests) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();

  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.send(make_request("GET", "/k/" + std::to_string(i))));
    HttpResponse r = client.read_response();
    ASSERT_TRUE(r.ok()) << "request " << i << ": " << r.describe();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ok");
  }
  EXPECT_EQ(backend_.request_count(), 3u);
}

TEST_F(ProxyTest, ClientConnectionCloseIsHonoured) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  HeaderList h;
  h.add("Connection", "close");
  ASSERT_TRUE(client.send(make_request("GET", "/bye", h)));

  HttpResponse r = client.read_response();
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200);
  std::string extra;
  EXPECT_TRUE(client.wait_closed(deadline_in(), &extra)) << "the proxy kept the connection open";
  EXPECT_EQ(extra, "");
}

TEST_F(ProxyTest, PipelinedResponsesComeBackInRequestOrder) {
  // The first request is answered last when the proxy works on pipelined requests concurrently: its handler
  // waits for the others to reach the backend. A proxy that forwards them one at a time never lets them
  // reach it, so that wait is bounded and short (its expiry is a normal outcome, not a failure).
  int others_started = 0;
  backend_.set_handler([&](const BackendRequest& req, ResponseWriter& w) {
    if (req.target == "/first") {
      w.wait_until([&] { return others_started == 3; }, deadline_in(300ms));
      w.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfi");
      w.write("rst");
      return;
    }
    w.update([&] { ++others_started; });
    w.respond(200, req.target.substr(1) + (req.body.empty() ? "" : ":" + req.body));
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();

  ASSERT_TRUE(client.send(make_request("GET", "/first") + make_request("GET", "/second") +
                          make_request("POST", "/third", {}, "with-body") + make_request("GET", "/fourth")));

  for (std::string expected : {"first", "second", "third:with-body", "fourth"}) {
    HttpResponse r = client.read_response();
    ASSERT_TRUE(r.ok()) << "waiting for " << expected << ": " << r.describe();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, expected);
  }
  EXPECT_EQ(backend_.request_count(), 4u);
}

// RFC 9112 section 2.2: empty lines before a request line are ignored, before the first request and between
// pipelined ones (a client that ends a body with an extra CRLF).
TEST_F(ProxyTest, EmptyLinesBeforeARequestLineAreIgnored) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    w.respond(200, req.target.substr(1) + (req.body.empty() ? "" : ":" + req.body));
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  ASSERT_TRUE(client.send("\r\n" + make_request("POST", "/first", {}, "abc") + "\r\n\r\n" +
                          make_request("GET", "/second")));
  for (std::string expected : {"first:abc", "second"}) {
    HttpResponse r = client.read_response();
    ASSERT_TRUE(r.ok()) << "waiting for " << expected << ": " << r.describe();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.body, expected);
  }
  EXPECT_EQ(backend_.request_count(), 2u);
}

// A write's small body came with its head: both leave for the backend in one write (one wake-up of the
// backend rather than two), so the backend's first read has them both.
TEST_F(ProxyTest, ABodyThatCameWithItsHeadLeavesWithIt) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) { w.respond(200, req.body); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = R"({"description":"one write"})";
  HeaderList h;
  h.add("Content-Type", "application/json");
  for (int i = 0; i < 3; ++i) {  // fresh, then pooled backend connections
    HttpResponse r = send_request(make_request("PATCH", "/api/v1/risks/1", h, body));
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.body, body);
  }
  ASSERT_EQ(backend_.request_count(), 3u);
  for (const auto& up : backend_.requests()) {
    EXPECT_EQ(up.body, body);
    EXPECT_EQ(up.with_head, body.size())
        << "request " << up.index_on_connection << " on connection " << up.connection_id;
  }
}

// A chunked body longer than limits.request_buffer streams to the backend, chunked, as it arrives: what was
// read of it while it could still fit goes first, with the head.
TEST_F(ProxyTest, ChunkedRequestBodyIsForwardedChunkedAndIntact) {
  backend_.set_handler(
      [](const BackendRequest& req, ResponseWriter& w) { w.respond(200, std::to_string(req.body.size())); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string big = pattern_body(40000);
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  HeaderList h;
  h.add("Transfer-Encoding", "chunked");

  // Head and chunks in separate writes, one chunk with an extension, sizes in both hex cases.
  ASSERT_TRUE(client.send(make_request("POST", "/upload", h)));
  ASSERT_TRUE(client.send("5\r\nhello\r\n"));
  ASSERT_TRUE(client.send("1;ext=1\r\n-\r\n"));
  ASSERT_TRUE(client.send(make_chunk(big)));
  ASSERT_TRUE(client.send("A\r\n0123456789\r\n"));
  ASSERT_TRUE(client.send(kLastChunk));
  HttpResponse r = client.read_response();

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(backend_.request_count(), 1u);
  BackendRequest up = backend_.requests()[0];
  EXPECT_TRUE(up.chunked) << "a chunked request body should be forwarded chunked\n" << up.headers.to_string();
  EXPECT_FALSE(up.headers.has("Content-Length")) << up.headers.to_string();
  EXPECT_EQ(up.body, "hello-" + big + "0123456789");
}

TEST_F(ProxyTest, ChunkedResponseIsRelayedChunked) {
  const std::string middle = pattern_body(30000);
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) {
    w.begin_chunked(200);
    w.write_chunk("alpha");
    w.write_chunk(middle);
    w.write_chunk("gamma");
    w.end_chunks();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse r = send_request(make_request("GET", "/chunked"));

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.chunked) << r.describe();
  EXPECT_FALSE(r.headers.has("Content-Length")) << r.describe();
  EXPECT_EQ(r.body, "alpha" + middle + "gamma");
  EXPECT_FALSE(r.chunk_sizes.empty());
}

// A chunked body within limits.request_buffer is read whole, then leaves with its head in one write, with
// its length in place of the chunks (as nginx's request buffering sends it); the connection serves the next
// request. With the buffer off, the same body streams, chunked.
TEST_F(ProxyTest, AChunkedBodyWithinTheBufferLeavesWholeWithItsLength) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    w.respond(200, req.method + " " + std::to_string(req.body.size()) + " with head " +
                       std::to_string(req.with_head));
  });
  for (const bool buffered : {true, false}) {
    SCOPED_TRACE(buffered ? "request_buffer 16KiB" : "request_buffer 0");
    ProxyConfig cfg = config();
    if (!buffered) cfg.limits["request_buffer"] = "0";
    ASSERT_NO_FATAL_FAILURE(start_proxy(cfg));
    const std::size_t before = backend_.request_count();
    RawClient client(port());
    ASSERT_TRUE(client.connected()) << client.error();
    HeaderList h;
    h.add("Transfer-Encoding", "chunked");

    ASSERT_TRUE(client.send(make_request("POST", "/upload", h) + "5\r\nhello\r\n3\r\n-ok\r\n0\r\n\r\n" +
                            make_request("GET", "/after")));
    HttpResponse r = client.read_response();
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.status, 200) << r.describe();
    HttpResponse next = client.read_response();
    ASSERT_TRUE(next.ok()) << next.describe();
    EXPECT_EQ(next.body, "GET 0 with head 0");

    ASSERT_EQ(backend_.request_count(), before + 2);
    BackendRequest up = backend_.requests()[before];
    EXPECT_EQ(up.body, "hello-ok");
    if (buffered) {
      EXPECT_FALSE(up.chunked) << up.headers.to_string();
      EXPECT_EQ(up.headers.get("Content-Length"), "8") << up.headers.to_string();
      EXPECT_EQ(up.with_head, 8u) << "the body should leave whole with the head, in one write";
    } else {
      EXPECT_TRUE(up.chunked) << up.headers.to_string();
      EXPECT_FALSE(up.headers.has("Content-Length")) << up.headers.to_string();
      EXPECT_GT(up.with_head, 0u) << "what came with the head should leave with it";
    }
    daemon_.reset();
  }
}

// A body within limits.request_buffer is read whole before the backend is asked: one the client sends in
// pieces reaches the backend in one write with its head, and a slow client holds no backend connection.
TEST_F(ProxyTest, ABodyInPiecesIsReadWholeBeforeTheBackendIsAsked) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) { w.respond(200, req.body); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const std::string body = pattern_body(12000);
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  HeaderList h;
  h.add("Content-Length", std::to_string(body.size()));
  ASSERT_TRUE(client.send(make_request("PUT", "/upload/1", h)));
  // The proxy's answer to a request on another connection: by then it has read the first one's head.
  HttpResponse other = send_request(make_request("GET", "/other"));
  ASSERT_TRUE(other.ok()) << other.describe();
  ASSERT_TRUE(access_line(other));
  EXPECT_EQ(backend_.connections_accepted(), 1u) << "a backend connection was taken before the body came";
  ASSERT_TRUE(client.send(body.substr(0, 5000)));
  ASSERT_TRUE(client.send(body.substr(5000)));
  HttpResponse r = client.read_response();
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.body, body);
  ASSERT_EQ(backend_.request_count(), 2u);
  EXPECT_EQ(backend_.requests()[1].with_head, body.size()) << "the body left in pieces";
}

// The fields of a chunked body's trailer section are dropped: Beast's parser adds them to the head's fields,
// where, with the body read whole (within limits.request_buffer), they would reach the backend having passed
// none of the head's checks (a second Host, an Authorization the plan never saw). A streamed body,
// re-chunked, never carried them; its case guards that.
TEST_F(ProxyTest, AChunkedBodysTrailerFieldsNeverReachTheBackend) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) { w.respond(200, req.body); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  for (const std::size_t size : {std::size_t{10}, std::size_t{40000}}) {
    SCOPED_TRACE(size);
    const std::size_t before = backend_.request_count();
    const std::string body = pattern_body(size);
    HeaderList h;
    h.add("Transfer-Encoding", "chunked");
    RawClient client(port());
    ASSERT_TRUE(client.connected()) << client.error();
    ASSERT_TRUE(
        client.send(make_request("POST", "/upload", h) + make_chunk(body) +
                    "0\r\nHost: evil.example\r\nAuthorization: Bearer smuggled\r\nX-Trailer: 1\r\n\r\n"));
    HttpResponse r = client.read_response();
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.body, body);
    ASSERT_EQ(backend_.request_count(), before + 1);
    const BackendRequest up = backend_.requests()[before];
    EXPECT_FALSE(up.headers.has("Authorization")) << up.headers.to_string();
    EXPECT_FALSE(up.headers.has("X-Trailer")) << up.headers.to_string();
    EXPECT_EQ(up.headers.get_all("Host"), std::vector<std::string>{"test.local"}) << up.headers.to_string();
  }
}

// A body within limits.request_buffer that the client breaks off never reaches the backend: no connection is
// taken for it, and the client gets its 400.
TEST_F(ProxyTest, ASmallBodyThatBreaksOffNeverReachesTheBackend) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  HeaderList h;
  h.add("Content-Length", "100");
  h.add("Content-Type", "application/json");
  ASSERT_TRUE(client.send(make_request("PATCH", "/items/1", h) + "{\"a\""));
  client.shutdown_write();
  HttpResponse r = client.read_response();
  EXPECT_EQ(r.status, 400) << r.describe();
  ASSERT_TRUE(access_line(r)) << daemon_->stderr_text();
  EXPECT_EQ(backend_.connections_accepted(), 0u) << "a backend connection was taken for a body never whole";
  EXPECT_EQ(backend_.request_count(), 0u);
}

// A body the backend delimits by closing its connection reaches an HTTP/1.1 client chunked, so the client's
// connection lives on.
TEST_F(ProxyTest, CloseDelimitedResponseIsRelayedChunkedAndTheConnectionKept) {
  const std::string body = pattern_body(40000);
  backend_.set_handler([&](const BackendRequest& req, ResponseWriter& w) {
    if (req.target != "/until-close") {
      w.respond(200, "next");
      return;
    }
    w.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nX-Trace: t1\r\n\r\n");
    w.write(body.substr(0, 100));
    w.write(body.substr(100));
    w.close_connection();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();

  ASSERT_TRUE(client.send(make_request("GET", "/until-close")));
  HttpResponse r = client.read_response();
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.chunked) << r.describe();
  EXPECT_FALSE(r.headers.has("Connection")) << r.describe();
  EXPECT_EQ(r.headers.get("X-Trace"), "t1") << r.describe();
  EXPECT_EQ(r.body, body);

  ASSERT_TRUE(client.send(make_request("GET", "/after")));
  HttpResponse next = client.read_response();
  ASSERT_TRUE(next.ok()) << next.describe();
  EXPECT_EQ(next.body, "next");
}

// HTTP/1.0 has no chunked coding: a chunked backend response reaches such a client as its plain bytes,
// delimited by the proxy closing the connection.
TEST_F(ProxyTest, Http10ClientGetsAChunkedResponseUnchunkedAndClosed) {
  const std::string middle = pattern_body(20000);
  HeaderList trace;
  trace.add("X-Trace", "t2");
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) {
    w.begin_chunked(200, trace);
    w.write_chunk("alpha");
    w.write_chunk(middle);
    w.end_chunks();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();

  ASSERT_TRUE(client.send("GET /old HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n"));
  HttpResponse r = client.read_response();
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.chunked) << r.describe();
  EXPECT_FALSE(r.headers.has("Transfer-Encoding")) << r.describe();
  EXPECT_FALSE(r.headers.has("Content-Length")) << r.describe();
  EXPECT_EQ(r.headers.get("Connection"), "close") << r.describe();
  EXPECT_EQ(r.headers.get("X-Trace"), "t2") << r.describe();
  EXPECT_EQ(r.body, "alpha" + middle);
  EXPECT_TRUE(client.wait_closed(deadline_in()));
}

// RFC 9112 section 9.3: an HTTP/1.0 client that asked for keep-alive closes unless the response says
// `Connection: keep-alive`; a response with a length keeps the connection and says so.
TEST_F(ProxyTest, Http10KeepAliveIsAnnouncedWhenTheConnectionIsKept) {
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  for (const char* target : {"/one", "/two"}) {
    ASSERT_TRUE(
        client.send(std::string("GET ") + target + " HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n"));
    HttpResponse r = client.read_response();
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers.get("Connection"), "keep-alive") << r.describe();
  }
  EXPECT_EQ(backend_.request_count(), 2u);
}

TEST_F(ProxyTest, ContentLengthResponseKeepsContentLength) {
  const std::string body = pattern_body(100000);
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) { w.respond(200, body); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  HttpResponse r = send_request(make_request("GET", "/fixed"));

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.get("Content-Length"), "100000") << r.describe();
  EXPECT_FALSE(r.chunked) << r.describe();
  EXPECT_EQ(r.body, body);
}

TEST_F(ProxyTest, ServerSentEventsArriveOneByOne) {
  // The backend writes event k only once the client has event k-1: a proxy that buffers the stream
  // deadlocks this exchange and the client's deadline fails the test.
  constexpr int kEvents = 5;
  int client_has = 0;
  std::atomic<bool> backend_gave_up = false;
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) {
    HeaderList h;
    h.add("Content-Type", "text/event-stream");
    h.add("Cache-Control", "no-cache");
    w.begin_chunked(200, h);
    for (int k = 1; k <= kEvents; ++k) {
      if (k > 1 && !w.wait_until([&] { return client_has >= k - 1; })) {
        backend_gave_up = true;
        return;
      }
      w.write_chunk("id: " + std::to_string(k) + "\ndata: event " + std::to_string(k) + "\n\n");
    }
    w.end_chunks();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  ASSERT_TRUE(client.send(make_request("GET", "/events", [] {
    HeaderList h;
    h.add("Accept", "text/event-stream");
    return h;
  }())));

  HttpResponse head = client.read_head();
  ASSERT_TRUE(head.ok()) << head.describe();
  ASSERT_EQ(head.status, 200) << head.describe();
  EXPECT_EQ(head.headers.get("Content-Type"), "text/event-stream");
  std::string received;
  for (int k = 1; k <= kEvents; ++k) {
    const std::string event = "data: event " + std::to_string(k) + "\n\n";
    while (received.find(event) == std::string::npos) {
      ASSERT_FALSE(client.body_done()) << "the stream ended before event " << k << "; got: " << received;
      auto part = client.read_body_part();
      ASSERT_TRUE(part.has_value()) << "event " << k
                                    << " did not arrive while the backend waited for it: " << client.error()
                                    << "; got so far: " << received;
      received += *part;
    }
    backend_.update([&] { client_has = k; });
  }
  while (!client.body_done()) {
    auto part = client.read_body_part();
    ASSERT_TRUE(part.has_value()) << client.error();
    received += *part;
  }
  EXPECT_FALSE(backend_gave_up.load());
  EXPECT_EQ(received.find("id: 1\n"), 0u) << received;
}

TEST_F(ProxyTest, LargeDownloadStreamsWithBoundedMemory) {
  constexpr std::uint64_t kSize = 1ull << 30;  // 1 GiB
  // What relaying may add to the daemon's resident set (peak over the peak at start): a sanitizer build's own
  // footprint (an ASan daemon starts at 30 to 60 MiB) stays out of the measure. A Release daemon relays it
  // with about 2 MiB over its 10 MiB at start.
  constexpr std::uint64_t kMaxGrowth = 32ull << 20;
  backend_.set_handler([&](const BackendRequest&, ResponseWriter& w) {
    if (!w.write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                 std::to_string(kSize) + "\r\n\r\n"))
      return;
    const std::string block = pattern_body(256 * 1024);
    for (std::uint64_t sent = 0; sent < kSize; sent += block.size())
      if (!w.write(std::string_view(block).substr(0, std::min<std::uint64_t>(block.size(), kSize - sent))))
        return;
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  const auto at_start = daemon_->peak_rss_bytes();
  ASSERT_TRUE(at_start.has_value()) << "cannot read VmHWM of the daemon";

  HttpResponse r =
      send_request(make_request("GET", "/huge"), {.discard_body = true, .deadline = deadline_in(100s)});

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.get("Content-Length"), std::to_string(kSize));
  EXPECT_EQ(r.body_bytes, kSize);
  auto rss = daemon_->peak_rss_bytes();
  ASSERT_TRUE(rss.has_value()) << "cannot read VmHWM of the daemon";
  RecordProperty("daemon_peak_rss_bytes", std::to_string(*rss));
  RecordProperty("daemon_rss_at_start_bytes", std::to_string(*at_start));
  EXPECT_LT(*rss - *at_start, kMaxGrowth)
      << "peak RSS " << (*rss >> 20) << " MiB while relaying 1 GiB, " << (*at_start >> 20) << " MiB at start";
}

TEST_F(ProxyTest, HeadResponseHasNoBody) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.method == "HEAD")
      w.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n");
    else
      w.respond(200, "after");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();

  ASSERT_TRUE(client.send(make_request("HEAD", "/thing")));
  HttpResponse head = client.read_response({.head_request = true});
  ASSERT_TRUE(head.ok()) << head.describe();
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.get_all("Content-Length"), std::vector<std::string>{"1234"})  // the GET's length
      << head.describe();
  // Any body byte after the HEAD response would corrupt the next response on this connection.
  ASSERT_TRUE(client.send(make_request("GET", "/after")));
  HttpResponse next = client.read_response();
  ASSERT_TRUE(next.ok()) << next.describe();
  EXPECT_EQ(next.status, 200) << next.describe();
  EXPECT_EQ(next.body, "after");
  ASSERT_EQ(backend_.request_count(), 2u);
  EXPECT_EQ(backend_.requests()[0].method, "HEAD");
}

TEST_F(ProxyTest, NoContentAndNotModifiedHaveNoBody) {
  backend_.set_handler([](const BackendRequest& req, ResponseWriter& w) {
    if (req.target == "/204")
      w.write("HTTP/1.1 204 No Content\r\nX-Kind: none\r\n\r\n");
    else if (req.target == "/304")  // Content-Length in a 304 is the selected representation's, not a body
      w.write("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 42\r\n\r\n");
    else
      w.respond(200, "after");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();

  ASSERT_TRUE(client.send(make_request("DELETE", "/204")));
  HttpResponse no_content = client.read_response();
  ASSERT_TRUE(no_content.ok()) << no_content.describe();
  EXPECT_EQ(no_content.status, 204);
  EXPECT_FALSE(no_content.headers.has("Transfer-Encoding")) << no_content.describe();
  EXPECT_FALSE(no_content.headers.has("Content-Length")) << "RFC 9110 8.6: not in a 204\n"
                                                         << no_content.describe();

  HeaderList conditional;
  conditional.add("If-None-Match", "\"v1\"");
  ASSERT_TRUE(client.send(make_request("GET", "/304", conditional)));
  HttpResponse not_modified = client.read_response();
  ASSERT_TRUE(not_modified.ok()) << not_modified.describe();
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.headers.get("ETag"), "\"v1\"");
  EXPECT_FALSE(not_modified.headers.has("Transfer-Encoding")) << not_modified.describe();
  EXPECT_EQ(not_modified.headers.get_all("Content-Length"), std::vector<std::string>{"42"})
      << "the selected representation's length, as the backend sent it\n"
      << not_modified.describe();

  ASSERT_TRUE(client.send(make_request("GET", "/after")));
  HttpResponse next = client.read_response();
  ASSERT_TRUE(next.ok()) << next.describe();
  EXPECT_EQ(next.status, 200) << next.describe();
  EXPECT_EQ(next.body, "after");
}

TEST_F(ProxyTest, ExpectContinueGetsInterimResponseBeforeBody) {
  backend_.set_handler(
      [](const BackendRequest& req, ResponseWriter& w) { w.respond(200, "got " + req.body); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();
  HeaderList h;
  h.add("Content-Length", "11");
  h.add("Expect", "100-continue");

  ASSERT_TRUE(client.send(make_request("POST", "/upload", h)));
  HttpResponse interim = client.read_response();
  ASSERT_TRUE(interim.ok()) << "no 100 Continue before the body was sent: " << interim.describe();
  ASSERT_EQ(interim.status, 100) << interim.describe();
  ASSERT_TRUE(client.send("hello world"));
  HttpResponse final_response = client.read_response();

  ASSERT_TRUE(final_response.ok()) << final_response.describe();
  EXPECT_EQ(final_response.status, 200) << final_response.describe();
  EXPECT_EQ(final_response.body, "got hello world");
  ASSERT_EQ(backend_.request_count(), 1u);
  EXPECT_FALSE(backend_.requests()[0].headers.has("Expect")) << backend_.requests()[0].headers.to_string();
}

// RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored (an HTTP/1.0 client cannot
// read an interim response): the answer is the final one alone.
TEST_F(ProxyTest, ExpectContinueFromAnHttp10ClientIsIgnored) {
  backend_.set_handler(
      [](const BackendRequest& req, ResponseWriter& w) { w.respond(200, "got " + req.body); });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient client(port());
  ASSERT_TRUE(client.connected()) << client.error();

  ASSERT_TRUE(
      client.send("POST /upload HTTP/1.0\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"));
  ASSERT_TRUE(client.send("hello world"));
  HttpResponse r = client.read_response();

  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status, 200) << "an interim response reached an HTTP/1.0 client\n" << r.describe();
  EXPECT_EQ(r.body, "got hello world");
}

}  // namespace
}  // namespace orc::test
