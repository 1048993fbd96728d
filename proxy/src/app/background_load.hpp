// Reads and checks the config file off the event loop. A reload parses YAML and PEM files, and a file on a
// slow or stuck filesystem (or a FIFO nobody writes) must not stop the main thread, which accepts every
// connection and serves the admin endpoints. One load runs at a time, on a thread of its own; each result
// comes back on the main io_context, in the order the loads were asked for.
#pragma once

#include <boost/asio/io_context.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "app/loaded_config.hpp"

namespace orc::app {

class BackgroundLoad {
 public:
  using Done = std::function<void(Loaded)>;

  BackgroundLoad(boost::asio::io_context& main, std::string path);
  // Abandons a load in progress: its thread finishes on its own and its result is never delivered.
  ~BackgroundLoad();
  BackgroundLoad(const BackgroundLoad&) = delete;
  BackgroundLoad& operator=(const BackgroundLoad&) = delete;

  // Loads the file; `done` runs on the main io_context with the result. Call on the main thread.
  void load(Done done);
  // Whether a load is running (called on the main thread).
  bool busy() const { return !waiting_.empty(); }

 private:
  // What the load's thread shares with the main thread: the context to deliver to, null once this object
  // is gone.
  struct Shared {
    std::mutex mutex;
    boost::asio::io_context* main = nullptr;
  };
  void start_next();
  void finished(Loaded loaded);

  std::shared_ptr<Shared> shared_;
  std::string path_;
  std::deque<Done> waiting_;  // the front one is loading
};

}  // namespace orc::app
