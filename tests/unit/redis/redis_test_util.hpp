// Running coroutines in unit tests: the io_context runs on the test thread, bounded by a deadline, so a
// hang fails the test instead of blocking the suite.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

namespace orc::test {

using namespace std::chrono_literals;

// Runs `aw` on `io` until it completes or `limit` passes (then the test fails and the result is empty).
// Exceptions thrown by the coroutine are rethrown here.
template <typename T>
auto run_on(boost::asio::io_context& io, boost::asio::awaitable<T> aw,
            std::chrono::milliseconds limit = 10s) {
  using Value = std::conditional_t<std::is_void_v<T>, bool, T>;
  struct State {
    bool done = false;
    std::exception_ptr error;
    std::optional<Value> value;
  };
  auto state = std::make_shared<State>();  // shared: a coroutine that outlives the deadline must not dangle
  if constexpr (std::is_void_v<T>) {
    boost::asio::co_spawn(io, std::move(aw), [state](std::exception_ptr e) {
      state->done = true;
      state->error = e;
      if (!e) state->value = true;
    });
  } else {
    boost::asio::co_spawn(io, std::move(aw), [state](std::exception_ptr e, T v) {
      state->done = true;
      state->error = e;
      if (!e) state->value = std::move(v);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!state->done && std::chrono::steady_clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_until(deadline);
  }
  if (!state->done) ADD_FAILURE() << "coroutine did not finish within " << limit.count() << " ms";
  if (state->error) std::rethrow_exception(state->error);
  return state->value;
}

// Runs `io` until `done()` holds or `limit` passes; false on timeout. A wait on events, not a guessed sleep.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_until(std::min(deadline, std::chrono::steady_clock::now() + 10ms));
  }
  return true;
}

// An awaitable pause for bounded polls inside coroutines.
inline boost::asio::awaitable<void> pause(std::chrono::milliseconds d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(boost::asio::use_awaitable);
}

}  // namespace orc::test
