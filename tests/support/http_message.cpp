// Header lists, header-block reading and chunked framing for the test client and backend.
#include "support/http_message.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "support/buffered_socket.hpp"

namespace orc::test {

bool poll_until(const std::function<bool()>& probe, Deadline deadline) {
  for (;;) {
    if (probe()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::string> HeaderList::get(std::string_view name) const {
  for (const auto& [n, v] : fields)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

std::vector<std::string> HeaderList::get_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : fields)
    if (iequals(n, name)) out.push_back(v);
  return out;
}

std::vector<std::string> HeaderList::tokens(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& value : get_all(name)) {
    std::string_view rest = value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto token = trim(rest.substr(0, comma));
      if (!token.empty()) out.push_back(to_lower(token));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

std::string HeaderList::to_string() const {
  std::string out;
  for (const auto& [n, v] : fields) out += n + ": " + v + "\r\n";
  return out;
}

std::optional<std::pair<std::string, std::string>> parse_header_line(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  return std::make_pair(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
}

IoStatus read_header_block(BufferedSocket& socket, HeaderList& out, Deadline deadline, std::string& error) {
  std::string line;
  for (;;) {
    IoStatus status = socket.read_line(line, deadline);
    if (status != IoStatus::ok) {
      error = std::string("reading a header line: ") + to_string(status);
      return status;
    }
    if (line.empty()) return IoStatus::ok;
    auto field = parse_header_line(line);
    if (!field) {
      error = "malformed header line '" + line + "'";
      return IoStatus::error;
    }
    out.add(std::move(field->first), std::move(field->second));
  }
}

bool has_chunked_encoding(const HeaderList& headers) {
  auto codings = headers.tokens("Transfer-Encoding");
  return !codings.empty() && codings.back() == "chunked";
}

IoStatus read_chunk(BufferedSocket& socket, std::string* data, std::uint64_t& size, HeaderList& trailers,
                    Deadline deadline, std::string& error) {
  std::string line;
  IoStatus status = socket.read_line(line, deadline);
  if (status != IoStatus::ok) {
    error = std::string("reading a chunk size: ") + to_string(status);
    return status;
  }
  std::string_view digits = line;
  if (auto semi = digits.find(';'); semi != std::string_view::npos) digits = digits.substr(0, semi);
  digits = trim(digits);
  if (digits.empty() || digits.size() > 15 ||
      digits.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
    error = "bad chunk size line '" + line + "'";
    return IoStatus::error;
  }
  size = std::strtoull(std::string(digits).c_str(), nullptr, 16);
  if (size == 0) return read_header_block(socket, trailers, deadline, error);
  status = socket.read_exact(size, data, deadline);
  if (status != IoStatus::ok) {
    error = std::string("reading chunk data: ") + to_string(status);
    return status;
  }
  status = socket.read_line(line, deadline);
  if (status != IoStatus::ok || !line.empty()) {
    error = status != IoStatus::ok ? std::string("reading a chunk end: ") + to_string(status)
                                   : "chunk data not followed by CRLF";
    return status != IoStatus::ok ? status : IoStatus::error;
  }
  return IoStatus::ok;
}

std::string make_chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out = size;
  out.append(data);
  out += "\r\n";
  return out;
}

std::string reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::optional<double> metric_sample(std::string_view exposition, std::string_view series) {
  std::string needle = "\n" + std::string(series) + " ";
  std::string text = "\n" + std::string(exposition);
  auto at = text.find(needle);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(text.c_str() + at + needle.size(), nullptr);
}

}  // namespace orc::test
