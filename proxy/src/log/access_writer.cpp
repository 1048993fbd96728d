// The writer thread swaps the whole buffer out and writes it with as few write(2) calls as the descriptor
// allows, under spdlog's console mutex so that the daemon's lines written at once (before the writer
// starts, after it stops: logging.cpp) never land inside a batch.
#include "log/access_writer.hpp"

#include <spdlog/details/console_globals.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/thread_name.hpp"

namespace orc::log {

AccessWriter::AccessWriter(int fd, std::size_t limit) : fd_(fd), limit_(limit) {
  thread_ = std::thread([this] {
    util::name_this_thread("orc-access-log");
    run();
  });
}

AccessWriter::~AccessWriter() {
  stop();
}

void AccessWriter::append(std::string_view prefix, std::string_view body, std::string_view suffix) {
  const std::size_t n = prefix.size() + body.size() + suffix.size() + 1;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() + n > limit_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // The writer sleeps while the buffer is empty, and gathers until a batch is full.
    const std::size_t batch = batch_bytes();
    wake = pending_.empty() || (pending_.size() < batch && pending_.size() + n >= batch);
    pending_.append(prefix).append(body).append(suffix).push_back('\n');
    appended_ += n;
  }
  if (wake) cv_.notify_one();
}

void AccessWriter::set_limit(std::size_t bytes) {
  std::lock_guard lock(mutex_);
  limit_ = bytes;
}

void AccessWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void AccessWriter::write_soon() {
  {
    std::lock_guard lock(mutex_);
    urgent_ = true;
  }
  cv_.notify_one();
}

void AccessWriter::flush(std::chrono::milliseconds bound) {
  std::unique_lock lock(mutex_);
  const auto target = appended_;
  if (written_ >= target) return;
  urgent_ = true;
  cv_.notify_one();
  done_.wait_for(lock, bound, [&] { return written_ >= target; });
}

void AccessWriter::run() {
  std::string batch;
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    cv_.wait_for(lock, kGather, [this] { return stopping_ || urgent_ || pending_.size() >= batch_bytes(); });
    urgent_ = false;
    batch.swap(pending_);  // the emptied batch's capacity serves the next lines
    const bool last = stopping_;
    lock.unlock();
    write_batch(batch);
    lock.lock();
    written_ += batch.size();
    done_.notify_all();
    batch.clear();
    if (last) return;
  }
}

void AccessWriter::write_batch(const std::string& batch) {
  std::lock_guard console(spdlog::details::console_mutex::mutex());
  std::size_t done = 0;
  while (done < batch.size()) {
    const ssize_t n = ::write(fd_, batch.data() + done, batch.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // the descriptor refuses (closed pipe, full disk): the rest is lost, and counted
      const auto lost = std::count(batch.begin() + static_cast<std::ptrdiff_t>(done), batch.end(), '\n');
      dropped_.fetch_add(static_cast<std::uint64_t>(lost), std::memory_order_relaxed);
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace orc::log
