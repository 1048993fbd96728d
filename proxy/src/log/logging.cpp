// spdlog setup. JSON mode escapes the message through a custom pattern flag so every line is valid JSON.
#include "log/logging.hpp"

#include <spdlog/details/console_globals.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "util/strings.hpp"

#include <cstdio>
#include <cstring>
#include <ctime>

namespace orc::log {
namespace {

// %* : the log message, escaped for a JSON string.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    auto escaped = util::json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// Built once, before any worker runs (init_bootstrap, or the first init): a reload only changes the level,
// the format and whether access lines are written. spdlog forbids replacing the default logger while other
// threads log through it (they hold its raw pointer), and a sink's formatter is swapped under the sink's own
// mutex.
std::shared_ptr<spdlog::logger> g_main;
// The access log has a writer of its own (access_writer.hpp): workers never write access lines to stderr
// themselves.
std::unique_ptr<AccessWriter> g_access;
std::atomic<bool> g_access_on{false};
// The writer the daemon's other lines take while it runs (see StderrSink); null before init and after
// shutdown.
std::atomic<AccessWriter*> g_lines{nullptr};

// How long a line that may be the process's last waits to be written (a stuck stderr bounds it).
constexpr std::chrono::milliseconds kLastWords{1000};

// The default logger's sink. While the writer runs, a line (a warning, an error, an info line) is appended
// to its buffer like an access line: no thread that logs ever waits for stderr (a stuck log collector), the
// two kinds of lines keep the order in which they were logged, and a line that finds the buffer full is
// dropped and counted with the access lines. Before the writer starts (the command line, the first load)
// and after it stops, a line is written at once, under spdlog's console mutex, which the writer holds while
// it writes.
class StderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    std::string_view text(line.data(), line.size());
    if (auto* writer = g_lines.load(std::memory_order_acquire)) {
      if (!text.empty() && text.back() == '\n') text.remove_suffix(1);  // the writer ends each line
      writer->append(text, {}, {});
      // Written at once, not gathered with access lines: an operator reads them as they come.
      if (msg.level >= spdlog::level::critical)
        writer->flush(kLastWords);  // the process may end next
      else
        writer->write_soon();
      return;
    }
    std::lock_guard console(spdlog::details::console_mutex::mutex());
    while (!text.empty()) {
      const ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void flush_() override {}
};

// The time stamp of every line: local time with milliseconds and the UTC offset (access_timestamp() writes
// the same for access lines).
std::unique_ptr<spdlog::formatter> make_formatter(config::LogFormat format) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (format == config::LogFormat::json) {
    f->add_flag<JsonMessageFlag>('*');
    f->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%*"})");
  } else {
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%l] %v");
  }
  return f;
}

// An exception that escapes a thread ends the process without unwinding: what is buffered is written first.
std::terminate_handler g_previous_terminate = nullptr;
void flush_then_terminate() {
  if (auto* writer = g_lines.load(std::memory_order_acquire)) writer->flush(kLastWords);
  if (g_previous_terminate) g_previous_terminate();
  std::abort();
}

}  // namespace

void init_bootstrap() {
  if (g_main) return;
  g_main = std::make_shared<spdlog::logger>("main", std::make_shared<StderrSink>());
  g_main->set_formatter(make_formatter(config::LogFormat::text));
  g_main->set_level(spdlog::level::info);
  spdlog::set_default_logger(g_main);
}

void init(const config::LoggingConfig& cfg) {
  init_bootstrap();  // the first call builds the loggers; later ones (reloads) only change them
  if (!g_access) g_access = std::make_unique<AccessWriter>(STDERR_FILENO, cfg.access_log_buffer);
  g_main->set_formatter(make_formatter(cfg.format));
  g_main->set_level(spdlog::level::from_str(cfg.level));
  g_access->set_limit(cfg.access_log_buffer);
  g_access_on.store(cfg.access_log, std::memory_order_relaxed);
  if (!g_lines.exchange(g_access.get(), std::memory_order_acq_rel))
    g_previous_terminate = std::set_terminate(flush_then_terminate);
}

AccessWriter* access_writer() {
  return g_access_on.load(std::memory_order_relaxed) ? g_access.get() : nullptr;
}

std::uint64_t access_log_dropped() {
  return g_access ? g_access->dropped() : 0;
}

void shutdown() {
  g_access_on.store(false, std::memory_order_relaxed);
  g_lines.store(nullptr, std::memory_order_release);  // later lines are written at once
  if (g_access) g_access->stop();
}

std::string_view access_timestamp(std::chrono::system_clock::time_point now, char (&out)[40]) {
  // The date, time and UTC offset change once a second: formatted once per second and thread.
  struct Second {
    std::time_t at = -1;
    char text[32] = {};   // "2026-11-27T04:26:59"
    char offset[8] = {};  // "+00:00"
    std::size_t text_size = 0, offset_size = 0;
  };
  thread_local Second cached;
  const auto since = now.time_since_epoch();
  const std::time_t sec = std::chrono::duration_cast<std::chrono::seconds>(since).count();
  if (sec != cached.at) {
    std::tm tm{};
    ::localtime_r(&sec, &tm);
    std::strftime(cached.text, sizeof cached.text, "%Y-%m-%dT%H:%M:%S", &tm);
    const long minutes = tm.tm_gmtoff / 60;
    const long abs_minutes = minutes < 0 ? -minutes : minutes;
    // UTC offsets are within +-14 hours; the bound also tells the compiler "+HH:MM" fits.
    const int hours = static_cast<int>(std::min(abs_minutes / 60, 99L));
    const int rest = static_cast<int>(abs_minutes % 60);
    std::snprintf(cached.offset, sizeof cached.offset, "%c%02d:%02d", minutes < 0 ? '-' : '+', hours, rest);
    cached.text_size = std::strlen(cached.text);
    cached.offset_size = std::strlen(cached.offset);
    cached.at = sec;
  }
  const auto ms =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000);
  const auto fraction = decimal_thousandths(ms);
  char* end = std::copy_n(cached.text, cached.text_size, out);
  end = std::copy(fraction.begin(), fraction.end(), end);
  end = std::copy_n(cached.offset, cached.offset_size, end);
  return {out, static_cast<std::size_t>(end - out)};
}

}  // namespace orc::log
