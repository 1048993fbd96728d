// A response that fits the socket's send buffer leaves at once: one sendmsg without waiting, no trip through
// the event loop. An awaited asio::async_write of the same bytes makes the same system call, but its
// completion is queued behind every other ready connection's, and the connection reads its next request
// only after that: at 256 connections a hit then waited up to two passes of the loop where nginx's waits
// one (docs/performance.md, "Responses that leave at once").
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <span>

namespace orc::http {

// Writes as much of `pieces` as `socket` takes now (MSG_DONTWAIT | MSG_NOSIGNAL) and removes what it wrote
// from `pieces`. True when everything went; else the caller async-writes what is left of `pieces` (which
// also reports the error of a connection that failed: this call only says it wrote nothing).
bool send_now(boost::asio::ip::tcp::socket& socket, std::span<boost::asio::const_buffer> pieces);

}  // namespace orc::http
