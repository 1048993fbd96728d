// The bounded multi-thread load loop.
#include "support/load_loop.hpp"

#include <sstream>

namespace orc::test {
namespace {

constexpr std::size_t kFailureSamples = 5;

}  // namespace

std::string LoadReport::describe() const {
  std::ostringstream out;
  out << requests << " requests, " << failures << " failed, slowest "
      << std::chrono::duration_cast<std::chrono::milliseconds>(max_latency).count() << " ms";
  for (const auto& f : failure_samples) out << "\n  failure: " << f;
  return out.str();
}

LoadLoop::LoadLoop(std::size_t threads, Request request, Deadline hard_deadline)
    : request_(std::move(request)), hard_deadline_(hard_deadline) {
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run(i); });
}

LoadLoop::~LoadLoop() {
  stop();
}

void LoadLoop::run(std::size_t thread) {
  for (std::size_t n = 0; !stop_.load() && Clock::now() < hard_deadline_; ++n) {
    const auto start = Clock::now();
    std::optional<std::string> failure = request_(thread, n);
    const auto latency = Clock::now() - start;
    {
      std::lock_guard lock(mutex_);
      ++report_.requests;
      if (latency > report_.max_latency) report_.max_latency = latency;
      if (failure) {
        ++report_.failures;
        if (report_.failure_samples.size() < kFailureSamples)
          report_.failure_samples.push_back("thread " + std::to_string(thread) + ": " + *failure);
      }
      ++completed_;
    }
    cv_.notify_all();
  }
}

bool LoadLoop::wait_for_more(std::size_t n, Deadline deadline) {
  std::unique_lock lock(mutex_);
  const std::size_t target = completed_.load() + n;
  if (hard_deadline_ < deadline) deadline = hard_deadline_;
  return cv_.wait_until(lock, deadline, [&] { return completed_.load() >= target; });
}

LoadReport LoadLoop::stop() {
  stop_.store(true);
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  std::lock_guard lock(mutex_);
  return report_;
}

}  // namespace orc::test
