// Unit tests for http/send_now: a write at once that takes what the socket takes, says whether it took all,
// and leaves the rest (or everything, on a failed connection) for the caller's async write.
#include "http/send_now.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <functional>
#include <string>

namespace orc::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// A connected pair of loopback sockets.
struct Pair {
  asio::io_context ctx;
  tcp::socket client{ctx};
  tcp::socket server{ctx};
  Pair() {
    tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
};

std::string pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 23);
  return s;
}

TEST(SendNow, SendsEveryPieceInOrderWhenTheSocketTakesThemAll) {
  Pair p;
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  const std::string body = "hello";
  std::array<asio::const_buffer, 3> pieces{asio::buffer(head), asio::const_buffer(), asio::buffer(body)};
  ASSERT_TRUE(send_now(p.server, pieces));
  EXPECT_EQ(asio::buffer_size(pieces), 0u);
  std::string got(head.size() + body.size(), '\0');
  asio::read(p.client, asio::buffer(got));
  EXPECT_EQ(got, head + body);
}

TEST(SendNow, LeavesWhatTheFullSocketDidNotTakeForTheAsyncWrite) {
  Pair p;
  // Far more than a loopback socket's send and receive buffers hold while nobody reads.
  const std::string head = pattern(1000, 'a');
  const std::string body = pattern(64 << 20, 'A');
  std::array<asio::const_buffer, 2> pieces{asio::buffer(head), asio::buffer(body)};
  ASSERT_FALSE(send_now(p.server, pieces));
  const auto left = asio::buffer_size(pieces);
  ASSERT_GT(left, 0u);
  ASSERT_LT(left, body.size()) << "some of it went";
  // The rest, written the way a caller does, arrives after what send_now wrote: nothing lost or repeated.
  std::string got(head.size() + body.size(), '\0');
  std::size_t read = 0;
  asio::async_write(p.server, pieces,
                    [](const boost::system::error_code& ec, std::size_t) { ASSERT_FALSE(ec); });
  std::function<void()> read_more = [&] {
    p.client.async_read_some(asio::buffer(got.data() + read, got.size() - read),
                             [&](const boost::system::error_code& ec, std::size_t n) {
                               ASSERT_FALSE(ec);
                               read += n;
                               if (read < got.size()) read_more();
                             });
  };
  read_more();
  p.ctx.run();
  ASSERT_EQ(read, got.size());
  EXPECT_TRUE(got == head + body);
}

TEST(SendNow, AFailedConnectionSendsNothingAndLeavesEverythingToReportTheError) {
  Pair p;
  p.client.set_option(asio::socket_base::linger(true, 0));
  p.client.close();  // a reset: the server's sends fail
  const std::string data = pattern(4096, 'x');
  bool failed = false;
  // The first send after the reset may still be taken by the kernel; the reset shows on a later one.
  for (int i = 0; i < 100 && !failed; ++i) {
    std::array<asio::const_buffer, 1> pieces{asio::buffer(data)};
    if (!send_now(p.server, pieces)) {
      failed = true;
      EXPECT_EQ(asio::buffer_size(pieces), data.size());
      boost::system::error_code ec;
      asio::write(p.server, pieces, ec);
      EXPECT_TRUE(ec) << "the write that follows reports the failure";
    }
  }
  EXPECT_TRUE(failed);
}

TEST(SendNow, NothingToSendIsDoneAndAClosedSocketIsNot) {
  Pair p;
  std::array<asio::const_buffer, 2> empty{};
  EXPECT_TRUE(send_now(p.server, empty));
  p.server.close();
  const std::string data = "x";
  std::array<asio::const_buffer, 1> pieces{asio::buffer(data)};
  EXPECT_FALSE(send_now(p.server, pieces));
  EXPECT_EQ(asio::buffer_size(pieces), 1u);
}

}  // namespace
}  // namespace orc::http
