// The admin listener (admin.listen, loopback by default): /metrics, /healthz, /readyz, and the
// authenticated /admin/purge, /admin/reload, /admin/rules and /admin/verify. Served by the daemon's own HTTP
// stack on the main thread's io_context; storage work runs on a worker, where the storage lives.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace orc::http {
class Server;
}

namespace orc::admin {

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

class AdminServer {
 public:
  // `reload` re-reads the config file and swaps it in (the same path as SIGHUP), then calls its argument with
  // the outcome on `ctx`'s thread. It must not block: the file is read elsewhere.
  using Reload = std::function<void(std::function<void(ReloadOutcome)>)>;
  AdminServer(boost::asio::io_context& ctx, http::Server& server, Reload reload);

  // Binds `listen`; throws std::system_error when it cannot.
  void start(const config::HostPort& listen);
  config::HostPort bound_address() const;
  void stop();

 private:
  void accept();
  boost::asio::io_context& ctx_;
  http::Server& server_;
  Reload reload_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace orc::admin
