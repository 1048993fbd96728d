#include "http/send_now.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace orc::http {

namespace {

// `pieces` without their first `n` bytes.
void consume(std::span<boost::asio::const_buffer> pieces, std::size_t n) {
  for (auto& p : pieces) {
    const auto k = std::min(n, p.size());
    p += k;
    n -= k;
  }
}

std::size_t sendmsg_now(int fd, std::span<const boost::asio::const_buffer> pieces) {
  std::array<iovec, 8> iov{};
  std::size_t count = 0;
  for (const auto& p : pieces) {
    if (p.size() == 0) continue;
    if (count == iov.size()) break;  // the rest goes with the async write
    iov[count++] = {const_cast<void*>(p.data()), p.size()};
  }
  if (count == 0) return 0;
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = count;
  for (;;) {
    const auto n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return 0;
  }
}

}  // namespace

bool send_now(boost::asio::ip::tcp::socket& socket, std::span<boost::asio::const_buffer> pieces) {
  const auto total = boost::asio::buffer_size(pieces);
  if (total == 0) return true;
  if (!socket.is_open()) return false;
  const auto sent = sendmsg_now(socket.native_handle(), pieces);
  consume(pieces, sent);
  return sent == total;
}

}  // namespace orc::http
