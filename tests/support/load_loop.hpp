// Sustained load for a bounded time: several client threads call one request function in a loop until
// stopped (or a hard deadline passes), and the loop counts successes, failures and the slowest request.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/http_message.hpp"

namespace orc::test {

struct LoadReport {
  std::size_t requests = 0;
  std::size_t failures = 0;
  std::vector<std::string> failure_samples;  // the first few failure descriptions
  Clock::duration max_latency{};             // the slowest request, failures included
  std::string describe() const;
};

class LoadLoop {
 public:
  // One request of thread `thread` (its `n`th): nullopt on success, otherwise what went wrong.
  using Request = std::function<std::optional<std::string>(std::size_t thread, std::size_t n)>;

  // Starts `threads` threads at once. They stop at stop() or, whatever happens, at `hard_deadline`.
  LoadLoop(std::size_t threads, Request request,
           Deadline hard_deadline = deadline_in(std::chrono::seconds(60)));
  ~LoadLoop();  // stops and joins
  LoadLoop(const LoadLoop&) = delete;
  LoadLoop& operator=(const LoadLoop&) = delete;

  // Requests completed so far (successful or not).
  std::size_t completed() const { return completed_.load(); }
  // Waits until `n` more requests than now have completed; false when the deadline or the hard deadline
  // passes first. For "the load keeps flowing while X happens".
  bool wait_for_more(std::size_t n, Deadline deadline = deadline_in());
  // Stops the threads, joins them and reports. Idempotent.
  LoadReport stop();

 private:
  void run(std::size_t thread);

  Request request_;
  Deadline hard_deadline_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> completed_{0};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  LoadReport report_;
  std::vector<std::thread> threads_;
};

}  // namespace orc::test
