// A blocking TCP socket with a read buffer where every read has a deadline (poll), and can be cancelled
// through a second descriptor so that an owner can stop a thread blocked in a read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "support/http_message.hpp"

namespace orc::test {

enum class IoStatus {
  ok,
  closed,     // the peer closed the connection (read returned 0, or the connection was reset)
  timeout,    // the deadline passed first
  cancelled,  // the cancel descriptor became readable
  error,      // a socket error or a protocol error in what was read
};

const char* to_string(IoStatus status);

class BufferedSocket {
 public:
  BufferedSocket() = default;
  // Takes ownership of `fd`. When `cancel_fd` (not owned) becomes readable, pending reads return cancelled.
  explicit BufferedSocket(int fd, int cancel_fd = -1);
  ~BufferedSocket();
  BufferedSocket(BufferedSocket&& other) noexcept;
  BufferedSocket& operator=(BufferedSocket&& other) noexcept;
  BufferedSocket(const BufferedSocket&) = delete;
  BufferedSocket& operator=(const BufferedSocket&) = delete;

  // Connects to 127.0.0.1:port; an invalid socket (and `error` set) on failure.
  static BufferedSocket connect_local(std::uint16_t port, std::string& error);
  // A listening socket on 127.0.0.1 at a free port (set in `port`); -1 (and `error` set) on failure.
  static int listen_local(std::uint16_t& port, int backlog, std::string& error);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Writes everything (blocking). False when the connection failed; never raises SIGPIPE.
  bool send_all(std::string_view data);

  // A line without its line ending (CRLF, or a bare LF).
  IoStatus read_line(std::string& line, Deadline deadline);
  // Exactly `n` bytes, appended to `out`, or discarded when `out` is null.
  IoStatus read_exact(std::uint64_t n, std::string* out, Deadline deadline);
  // Whatever is buffered, else what one receive brings; at most `max` bytes, appended to `out`.
  IoStatus read_some(std::string& out, std::size_t max, Deadline deadline);
  // Reads until the peer closes. Bytes that arrive before are appended to `extra` (when not null).
  IoStatus read_until_closed(Deadline deadline, std::string* extra);

  std::size_t buffered() const { return end_ - begin_; }
  void shutdown_write();
  void close();

 private:
  // Receives more bytes into the buffer.
  IoStatus fill(Deadline deadline);

  int fd_ = -1;
  int cancel_fd_ = -1;
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace orc::test
