// Response reading for the raw test client: status line, headers, and every body framing of RFC 9112.
#include "support/raw_client.hpp"

#include <cstdlib>

namespace orc::test {

namespace {

constexpr std::size_t kMaxPart = 1024 * 1024;

bool parse_status_line(const std::string& line, HttpResponse& r) {
  // HTTP/1.1 200 OK
  auto sp1 = line.find(' ');
  if (sp1 == std::string::npos || line.compare(0, 5, "HTTP/") != 0) return false;
  r.version = line.substr(0, sp1);
  auto sp2 = line.find(' ', sp1 + 1);
  std::string code = line.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
  if (code.size() != 3 || code.find_first_not_of("0123456789") != std::string::npos) return false;
  r.status = std::atoi(code.c_str());
  r.reason = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
  return true;
}

}  // namespace

std::string HttpResponse::describe() const {
  std::string out = version + " " + std::to_string(status) + " " + reason + "\n" + headers.to_string();
  out += "[body: " + std::to_string(body_bytes) + " bytes";
  if (chunked) out += ", chunked";
  out += "] " + body.substr(0, 512);
  if (!error.empty()) out += "\n[error: " + error + "]";
  return out;
}

RawClient::RawClient(std::uint16_t port) {
  socket_ = BufferedSocket::connect_local(port, error_);
}

bool RawClient::send(std::string_view bytes) {
  if (socket_.send_all(bytes)) return true;
  error_ = "send failed";
  return false;
}

HttpResponse RawClient::read_head(Deadline deadline, bool head_request) {
  HttpResponse r;
  framing_ = Framing::none;
  chunk_sizes_.clear();
  trailers_ = {};
  std::string line;
  IoStatus status = socket_.read_line(line, deadline);
  if (status != IoStatus::ok) {
    r.error = error_ = std::string("reading the status line: ") + to_string(status);
    return r;
  }
  if (!parse_status_line(line, r)) {
    r.error = error_ = "malformed status line '" + line + "'";
    return r;
  }
  std::string error;
  if (read_header_block(socket_, r.headers, deadline, error) != IoStatus::ok) {
    r.error = error_ = error;
    return r;
  }
  bool no_body = head_request || r.status / 100 == 1 || r.status == 204 || r.status == 304;
  if (no_body) return r;
  if (r.headers.has("Transfer-Encoding")) {
    r.chunked = has_chunked_encoding(r.headers);
    framing_ = r.chunked ? Framing::chunked : Framing::until_close;
  } else if (auto length = r.headers.get("Content-Length")) {
    if (length->empty() || length->find_first_not_of("0123456789") != std::string::npos) {
      r.error = error_ = "bad Content-Length '" + *length + "'";
      return r;
    }
    remaining_ = std::strtoull(length->c_str(), nullptr, 10);
    framing_ = remaining_ > 0 ? Framing::length : Framing::none;
  } else {
    framing_ = Framing::until_close;
  }
  return r;
}

std::optional<std::string> RawClient::read_body_part(Deadline deadline) {
  std::string part;
  switch (framing_) {
    case Framing::none:
      return part;
    case Framing::length: {
      IoStatus status = socket_.read_some(
          part, static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, kMaxPart)), deadline);
      if (status != IoStatus::ok) {
        error_ = std::string("reading the body (") + std::to_string(remaining_) +
                 " bytes missing): " + to_string(status);
        framing_ = Framing::none;
        return std::nullopt;
      }
      remaining_ -= part.size();
      if (remaining_ == 0) framing_ = Framing::none;
      return part;
    }
    case Framing::chunked: {
      std::uint64_t size = 0;
      std::string error;
      if (read_chunk(socket_, &part, size, trailers_, deadline, error) != IoStatus::ok) {
        error_ = error;
        framing_ = Framing::none;
        return std::nullopt;
      }
      if (size == 0)
        framing_ = Framing::none;
      else
        chunk_sizes_.push_back(size);
      return part;
    }
    case Framing::until_close: {
      IoStatus status = socket_.read_some(part, kMaxPart, deadline);
      if (status == IoStatus::closed) {
        framing_ = Framing::none;
        return part;
      }
      if (status != IoStatus::ok) {
        error_ = std::string("reading a close-delimited body: ") + to_string(status);
        framing_ = Framing::none;
        return std::nullopt;
      }
      return part;
    }
  }
  return std::nullopt;
}

HttpResponse RawClient::read_response(const ReadOptions& options) {
  HttpResponse r = read_head(options.deadline, options.head_request);
  if (!r.ok()) return r;
  if (options.discard_body && framing_ == Framing::length) {
    // The fast path for huge bodies: no copies.
    IoStatus status = socket_.read_exact(remaining_, nullptr, options.deadline);
    framing_ = Framing::none;
    if (status != IoStatus::ok) {
      r.error = error_ = std::string("discarding the body: ") + to_string(status);
      return r;
    }
    r.body_bytes = remaining_;
    remaining_ = 0;
    return r;
  }
  while (!body_done()) {
    auto part = read_body_part(options.deadline);
    if (!part) {
      r.error = error_;
      break;
    }
    r.body_bytes += part->size();
    if (!options.discard_body) r.body += *part;
  }
  r.chunk_sizes = chunk_sizes_;
  r.trailers = trailers_;
  return r;
}

bool RawClient::wait_closed(Deadline deadline, std::string* extra) {
  return socket_.read_until_closed(deadline, extra) == IoStatus::closed;
}

HttpResponse roundtrip(std::uint16_t port, std::string_view request, const ReadOptions& options) {
  RawClient client(port);
  HttpResponse r;
  if (!client.connected() || !client.send(request)) {
    r.error = client.error();
    return r;
  }
  do {
    r = client.read_response(options);
  } while (r.ok() && r.status / 100 == 1);
  return r;
}

}  // namespace orc::test
