// One downstream connection: read requests in order, forward each, relay the response, repeat.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace orc::http {

class Worker;

// The coroutine that owns the connection for its whole life (style.md habit 2).
boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket, Worker& worker);

}  // namespace orc::http
