// One detached thread per load: a thread blocked in a read cannot be interrupted, so shutdown never waits
// for it (see ~BackgroundLoad).
#include "app/background_load.hpp"

#include <boost/asio/post.hpp>

#include <thread>

#include "util/thread_name.hpp"

namespace orc::app {

BackgroundLoad::BackgroundLoad(boost::asio::io_context& main, std::string path)
    : shared_(std::make_shared<Shared>()), path_(std::move(path)) {
  shared_->main = &main;
}

BackgroundLoad::~BackgroundLoad() {
  std::lock_guard lock(shared_->mutex);
  shared_->main = nullptr;
}

void BackgroundLoad::load(Done done) {
  waiting_.push_back(std::move(done));
  if (waiting_.size() == 1) start_next();  // otherwise the one loading starts it when done
}

void BackgroundLoad::start_next() {
  // The thread holds only its own copies and the shared block; it reaches this object through the main
  // context, and only while the object exists (the destructor clears `main` under the same lock, and the
  // main context runs no handler after the object is gone: it is destroyed on the main thread after run()
  // returned).
  std::thread([shared = shared_, path = path_, self = this] {
    util::name_this_thread("orc-reload");
    Loaded loaded = load_all(path);
    std::lock_guard lock(shared->mutex);
    if (shared->main)
      boost::asio::post(*shared->main,
                        [self, loaded = std::move(loaded)]() mutable { self->finished(std::move(loaded)); });
  }).detach();
}

void BackgroundLoad::finished(Loaded loaded) {
  Done done = std::move(waiting_.front());
  waiting_.pop_front();
  if (!waiting_.empty()) start_next();  // a reload asked for meanwhile reads the file again
  done(std::move(loaded));
}

}  // namespace orc::app
