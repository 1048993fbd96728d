// A blocking HTTP/1.1 client that sends raw bytes and reads responses exactly as they arrive, so tests can
// send malformed or pipelined requests and check the framing (chunk sizes, closes) the proxy really used.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/buffered_socket.hpp"
#include "support/http_message.hpp"

namespace orc::test {

struct HttpResponse {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;
  HeaderList headers;
  std::string body;  // stays empty when the body was discarded
  std::uint64_t body_bytes = 0;
  bool chunked = false;
  std::vector<std::uint64_t> chunk_sizes;
  HeaderList trailers;
  std::string error;  // empty when the whole response was read

  bool ok() const { return error.empty(); }
  // Status line, headers and the start of the body: for assertion messages.
  std::string describe() const;
};

struct ReadOptions {
  bool head_request = false;  // the response answers a HEAD request: no body whatever the headers say
  bool discard_body = false;  // count the body bytes without keeping them
  Deadline deadline = deadline_in();
};

class RawClient {
 public:
  // Connects to 127.0.0.1:port; check connected().
  explicit RawClient(std::uint16_t port);

  bool connected() const { return socket_.valid(); }
  const std::string& error() const { return error_; }

  bool send(std::string_view bytes);

  // One response: a 1xx interim response is returned on its own (call again for the final one).
  HttpResponse read_response(const ReadOptions& options = {});

  // Only the status line and headers; the body then comes from read_body_part().
  HttpResponse read_head(Deadline deadline = deadline_in(), bool head_request = false);
  // The next piece of the body whose head was read last: a chunk's data for chunked bodies, else what
  // arrived. An empty string once the body is complete; empty optional on error or deadline (see error()).
  std::optional<std::string> read_body_part(Deadline deadline = deadline_in());
  bool body_done() const { return framing_ == Framing::none; }
  // Chunk sizes seen by read_body_part() since the last read_head().
  const std::vector<std::uint64_t>& chunk_sizes() const { return chunk_sizes_; }

  // True when the server closes the connection (EOF or reset) before the deadline. Bytes that arrive
  // first are appended to `extra` (a connection that should be closed must not send anything more).
  bool wait_closed(Deadline deadline = deadline_in(), std::string* extra = nullptr);

  void shutdown_write() { socket_.shutdown_write(); }
  BufferedSocket& socket() { return socket_; }

 private:
  enum class Framing { none, length, chunked, until_close };

  BufferedSocket socket_;
  std::string error_;
  Framing framing_ = Framing::none;
  std::uint64_t remaining_ = 0;
  std::vector<std::uint64_t> chunk_sizes_;
  HeaderList trailers_;
};

// Connects, sends `request`, reads one final response (1xx skipped). Connection problems land in error.
HttpResponse roundtrip(std::uint16_t port, std::string_view request, const ReadOptions& options = {});

}  // namespace orc::test
