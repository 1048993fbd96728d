// A scriptable HTTP/1.1 upstream on 127.0.0.1 with a random port: one thread per connection, a handler
// that writes raw bytes, a record of every request and connection, and one lock + condition variable that
// handlers and tests share to coordinate ("send the next event once the client has the previous one").
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/buffered_socket.hpp"
#include "support/http_message.hpp"

namespace orc::test {

class TestBackend;

struct BackendRequest {
  std::string method;
  std::string target;
  std::string version;
  HeaderList headers;
  std::string body;
  bool chunked = false;  // the body arrived with chunked framing
  std::vector<std::uint64_t> chunk_sizes;
  std::size_t with_head = 0;            // bytes after the head that arrived with it (the body's first ones)
  std::size_t connection_id = 0;        // 1 for the first connection accepted, 2 for the next...
  std::size_t index_on_connection = 0;  // 0 for the first request on its connection
};

// What a handler uses to answer; raw writes allow any framing, or none.
class ResponseWriter {
 public:
  ResponseWriter(TestBackend& backend, BufferedSocket& socket) : backend_(backend), socket_(socket) {}

  // Raw bytes. False once the connection failed (the proxy closed it, or the backend is stopping).
  bool write(std::string_view bytes);
  // A complete response framed by Content-Length (plus Content-Type: text/plain unless given).
  bool respond(int status, std::string_view body = "", const HeaderList& headers = {});
  // A head with Transfer-Encoding: chunked; then write_chunk() and end_chunks().
  bool begin_chunked(int status, const HeaderList& headers = {});
  bool write_chunk(std::string_view data);
  bool end_chunks() { return write(kLastChunk); }

  // Closes the connection once the handler returns (without telling the proxy in any header).
  void close_connection() { close_ = true; }
  bool closing() const { return close_; }

  // Waits (under the backend's lock) until `pred` holds; false on deadline or when the backend stops.
  bool wait_until(const std::function<bool()>& pred, Deadline deadline = deadline_in());
  // Runs `change` under the backend's lock and wakes every waiter.
  void update(const std::function<void()>& change);

  TestBackend& backend() { return backend_; }

 private:
  TestBackend& backend_;
  BufferedSocket& socket_;
  bool close_ = false;
};

class TestBackend {
 public:
  using Handler = std::function<void(const BackendRequest&, ResponseWriter&)>;

  // Answers every request with 200 "ok" until set_handler() says otherwise.
  TestBackend();
  explicit TestBackend(Handler handler);
  // Stops accepting, wakes every waiting handler, shuts every connection down and joins all threads.
  ~TestBackend();
  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;

  void set_handler(Handler handler);

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::size_t connections_accepted() const;
  // Connections still open: accepted and not yet closed by either side.
  std::size_t open_connections() const;
  // Waits until at most `n` connections are open (the proxy closed the others, or the handlers ended them).
  bool wait_open_connections_at_most(std::size_t n, Deadline deadline = deadline_in());
  std::size_t request_count() const;
  std::vector<BackendRequest> requests() const;
  bool wait_for_requests(std::size_t n, Deadline deadline = deadline_in());

  // See ResponseWriter: the same lock and condition variable, for the test side.
  bool wait_until(const std::function<bool()>& pred, Deadline deadline = deadline_in());
  void update(const std::function<void()>& change);
  bool stopping() const { return stop_.load(); }

 private:
  void accept_loop();
  void serve(int fd, std::size_t connection_id);
  void forget_connection(std::size_t connection_id);

  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: readable once stopping, cancels every blocked read
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  Handler handler_;
  std::vector<BackendRequest> requests_;
  std::size_t accepted_ = 0;
  std::map<std::size_t, int> open_fds_;  // connection id -> fd, to shut them down on stop
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace orc::test
