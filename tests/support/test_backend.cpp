// The scriptable upstream: accept loop, request parsing, handler dispatch and a stop that never hangs.
#include "support/test_backend.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace orc::test {

namespace {

// Reads between requests have no useful deadline (the proxy keeps idle connections); stop() cancels them.
Deadline far_future() {
  return Clock::now() + std::chrono::hours(1);
}

}  // namespace

bool ResponseWriter::write(std::string_view bytes) {
  return socket_.send_all(bytes);
}

bool ResponseWriter::respond(int status, std::string_view body, const HeaderList& headers) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  if (!headers.has("Content-Type")) head += "Content-Type: text/plain\r\n";
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  head += headers.to_string() + "\r\n";
  return write(head + std::string(body));
}

bool ResponseWriter::begin_chunked(int status, const HeaderList& headers) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  head += "Transfer-Encoding: chunked\r\n" + headers.to_string() + "\r\n";
  return write(head);
}

bool ResponseWriter::write_chunk(std::string_view data) {
  return write(make_chunk(data));
}

bool ResponseWriter::wait_until(const std::function<bool()>& pred, Deadline deadline) {
  return backend_.wait_until(pred, deadline);
}

void ResponseWriter::update(const std::function<void()>& change) {
  backend_.update(change);
}

TestBackend::TestBackend()
    : TestBackend([](const BackendRequest&, ResponseWriter& w) { w.respond(200, "ok"); }) {}

TestBackend::TestBackend(Handler handler) : handler_(std::move(handler)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error(std::string("backend eventfd: ") + std::strerror(errno));
  std::string error;
  listen_fd_ = BufferedSocket::listen_local(port_, 128, error);
  if (listen_fd_ < 0) throw std::runtime_error("backend " + error);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TestBackend::~TestBackend() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    for (auto& [id, fd] : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  cv_.notify_all();
  acceptor_.join();
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void TestBackend::set_handler(Handler handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
}

std::size_t TestBackend::connections_accepted() const {
  std::lock_guard lock(mutex_);
  return accepted_;
}

std::size_t TestBackend::open_connections() const {
  std::lock_guard lock(mutex_);
  return open_fds_.size();
}

bool TestBackend::wait_open_connections_at_most(std::size_t n, Deadline deadline) {
  return wait_until([&] { return open_fds_.size() <= n; }, deadline);
}

std::size_t TestBackend::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

std::vector<BackendRequest> TestBackend::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool TestBackend::wait_for_requests(std::size_t n, Deadline deadline) {
  return wait_until([&] { return requests_.size() >= n; }, deadline);
}

bool TestBackend::wait_until(const std::function<bool()>& pred, Deadline deadline) {
  std::unique_lock lock(mutex_);
  cv_.wait_until(lock, deadline, [&] { return stop_.load() || pred(); });
  return !stop_.load() && pred();
}

void TestBackend::update(const std::function<void()>& change) {
  {
    std::lock_guard lock(mutex_);
    change();
  }
  cv_.notify_all();
}

void TestBackend::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents & POLLIN) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::size_t id;
    {
      std::lock_guard lock(mutex_);
      if (stop_) {
        ::close(fd);
        return;
      }
      id = ++accepted_;
      open_fds_[id] = fd;
    }
    cv_.notify_all();
    threads_.emplace_back([this, fd, id] { serve(fd, id); });
  }
}

void TestBackend::forget_connection(std::size_t connection_id) {
  {
    std::lock_guard lock(mutex_);
    open_fds_.erase(connection_id);
  }
  cv_.notify_all();
}

void TestBackend::serve(int fd, std::size_t connection_id) {
  BufferedSocket socket(fd, wake_fd_);
  for (std::size_t index = 0;; ++index) {
    BackendRequest req;
    req.connection_id = connection_id;
    req.index_on_connection = index;
    std::string line;
    IoStatus status;
    do {
      status = socket.read_line(line, far_future());
    } while (status == IoStatus::ok && line.empty());  // RFC 9112 2.2: ignore empty lines before a request
    if (status != IoStatus::ok) break;
    auto sp1 = line.find(' ');
    auto sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1) break;
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    req.version = line.substr(sp2 + 1);
    std::string error;
    if (read_header_block(socket, req.headers, far_future(), error) != IoStatus::ok) break;
    req.with_head = socket.buffered();
    if (auto expect = req.headers.get("Expect"); expect && iequals(*expect, "100-continue"))
      socket.send_all("HTTP/1.1 100 Continue\r\n\r\n");
    if (req.headers.has("Transfer-Encoding")) {
      req.chunked = has_chunked_encoding(req.headers);
      if (!req.chunked) break;  // not a framing a correct proxy forwards
      HeaderList trailers;
      bool complete = false;
      while (!complete) {
        std::uint64_t size = 0;
        if (read_chunk(socket, &req.body, size, trailers, far_future(), error) != IoStatus::ok) break;
        if (size > 0) req.chunk_sizes.push_back(size);
        complete = size == 0;
      }
      if (!complete) break;
    } else if (auto length = req.headers.get("Content-Length")) {
      if (socket.read_exact(std::strtoull(length->c_str(), nullptr, 10), &req.body, far_future()) !=
          IoStatus::ok)
        break;
    }
    Handler handler;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(req);
      handler = handler_;
    }
    cv_.notify_all();
    ResponseWriter writer(*this, socket);
    handler(req, writer);
    if (writer.closing() || stop_) break;
    bool client_close = false;
    for (const auto& token : req.headers.tokens("Connection")) client_close |= token == "close";
    if (client_close) break;
  }
  // Forget the descriptor before closing it, so that stop never shuts down a reused descriptor number.
  forget_connection(connection_id);
  socket.close();
}

}  // namespace orc::test
