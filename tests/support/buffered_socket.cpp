// Deadline-bounded blocking socket I/O for the test client and the test backend.
#include "support/buffered_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

namespace orc::test {

namespace {

constexpr std::size_t kInitialBuffer = 256 * 1024;
constexpr std::size_t kMaxLine = 1024 * 1024;

// Milliseconds left until `deadline` for poll(), rounded up so that poll never returns before it; -1 when
// past.
int poll_timeout(Deadline deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return -1;
  return static_cast<int>(std::min<long long>(left, INT_MAX));
}

}  // namespace

const char* to_string(IoStatus status) {
  switch (status) {
    case IoStatus::ok:
      return "ok";
    case IoStatus::closed:
      return "connection closed by peer";
    case IoStatus::timeout:
      return "deadline passed";
    case IoStatus::cancelled:
      return "cancelled";
    case IoStatus::error:
      return "error";
  }
  return "?";
}

BufferedSocket::BufferedSocket(int fd, int cancel_fd)
    : fd_(fd), cancel_fd_(cancel_fd), buf_(kInitialBuffer) {}

BufferedSocket::~BufferedSocket() {
  close();
}

BufferedSocket::BufferedSocket(BufferedSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      cancel_fd_(other.cancel_fd_),
      buf_(std::move(other.buf_)),
      begin_(std::exchange(other.begin_, 0)),
      end_(std::exchange(other.end_, 0)) {}

BufferedSocket& BufferedSocket::operator=(BufferedSocket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    cancel_fd_ = other.cancel_fd_;
    buf_ = std::move(other.buf_);
    begin_ = std::exchange(other.begin_, 0);
    end_ = std::exchange(other.end_, 0);
  }
  return *this;
}

BufferedSocket BufferedSocket::connect_local(std::uint16_t port, std::string& error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return {};
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    error = "connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return {};
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return BufferedSocket(fd);
}

int BufferedSocket::listen_local(std::uint16_t& port, int backlog, std::string& error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
      ::listen(fd, backlog) < 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    error = std::string("listen on 127.0.0.1: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
}

bool BufferedSocket::send_all(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

IoStatus BufferedSocket::fill(Deadline deadline) {
  if (fd_ < 0) return IoStatus::error;
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == buf_.size()) {
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    } else {
      buf_.resize(std::max<std::size_t>(kInitialBuffer, buf_.size() * 2));
    }
  }
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {cancel_fd_, POLLIN, 0}};
    int timeout = poll_timeout(deadline);
    if (timeout < 0) return IoStatus::timeout;
    int rc = ::poll(fds, cancel_fd_ >= 0 ? 2 : 1, timeout);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return IoStatus::error;
    }
    if (rc == 0) continue;  // poll woke early (rounding); the deadline check above decides
    if (cancel_fd_ >= 0 && (fds[1].revents & POLLIN)) return IoStatus::cancelled;
    ssize_t n = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, 0);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return IoStatus::ok;
    }
    if (n == 0) return IoStatus::closed;
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ECONNRESET || errno == EPIPE) return IoStatus::closed;
    return IoStatus::error;
  }
}

IoStatus BufferedSocket::read_line(std::string& line, Deadline deadline) {
  std::size_t scanned = begin_;
  for (;;) {
    auto first = buf_.begin() + static_cast<std::ptrdiff_t>(scanned);
    auto last = buf_.begin() + static_cast<std::ptrdiff_t>(end_);
    auto nl = std::find(first, last, '\n');
    if (nl != last) {
      std::size_t stop = static_cast<std::size_t>(nl - buf_.begin());
      std::size_t len = stop - begin_;
      if (len > 0 && buf_[stop - 1] == '\r') --len;
      line.assign(buf_.data() + begin_, len);
      begin_ = stop + 1;
      return IoStatus::ok;
    }
    if (end_ - begin_ > kMaxLine) return IoStatus::error;
    std::size_t offset = end_ - begin_;  // fill() may compact the buffer
    IoStatus status = fill(deadline);
    if (status != IoStatus::ok) return status;
    scanned = begin_ + offset;
  }
}

IoStatus BufferedSocket::read_exact(std::uint64_t n, std::string* out, Deadline deadline) {
  while (n > 0) {
    if (begin_ == end_) {
      IoStatus status = fill(deadline);
      if (status != IoStatus::ok) return status;
    }
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, end_ - begin_));
    if (out != nullptr) out->append(buf_.data() + begin_, take);
    begin_ += take;
    n -= take;
  }
  return IoStatus::ok;
}

IoStatus BufferedSocket::read_some(std::string& out, std::size_t max, Deadline deadline) {
  if (begin_ == end_) {
    IoStatus status = fill(deadline);
    if (status != IoStatus::ok) return status;
  }
  std::size_t take = std::min(max, end_ - begin_);
  out.append(buf_.data() + begin_, take);
  begin_ += take;
  return IoStatus::ok;
}

IoStatus BufferedSocket::read_until_closed(Deadline deadline, std::string* extra) {
  for (;;) {
    if (extra != nullptr) extra->append(buf_.data() + begin_, end_ - begin_);
    begin_ = end_;
    IoStatus status = fill(deadline);
    if (status != IoStatus::ok) return status;
  }
}

void BufferedSocket::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void BufferedSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  begin_ = end_ = 0;
}

}  // namespace orc::test
