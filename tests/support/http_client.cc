#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <functional>

namespace tvd::testing {

namespace {

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads until EOF, or until `complete` says the bytes so far are a whole reply, or until `wait`
// passes (nullopt).
std::optional<std::string> read_all(int fd, std::chrono::milliseconds wait,
                                    const std::function<bool(const std::string&)>& complete) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + wait;
  char buf[65536];
  for (;;) {
    if (complete && complete(out)) return out;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;  // closed or reset
    out.append(buf, static_cast<size_t>(n));
  }
}

// A whole HTTP reply: headers, then Content-Length bytes or the last chunk. Servers may keep
// the connection open whatever the request said.
bool whole_reply(const std::string& raw) {
  auto end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string head = raw.substr(0, end);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
    size_t n = std::stoul(head.substr(cl + 17));
    return raw.size() >= end + 4 + n;
  }
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    return raw.size() >= 5 && raw.compare(raw.size() - 5, 5, "0\r\n\r\n") == 0;
  }
  return false;
}

std::string dechunk(const std::string& body) {
  std::string out;
  size_t at = 0;
  while (at < body.size()) {
    size_t eol = body.find("\r\n", at);
    if (eol == std::string::npos) break;
    size_t n = std::stoul(body.substr(at, eol - at), nullptr, 16);
    if (n == 0) break;
    out += body.substr(eol + 2, n);
    at = eol + 2 + n + 2;
  }
  return out;
}

}  // namespace

HttpReply http_request(int port, const std::string& method, const std::string& target,
                       const std::string& body, const std::string& content_type) {
  HttpReply reply;
  int fd = connect_to(port);
  if (fd < 0) return reply;
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
  }
  req += "\r\n" + body;
  std::optional<std::string> raw;
  if (send_all(fd, req)) raw = read_all(fd, std::chrono::seconds(60), whole_reply);
  ::close(fd);
  if (!raw) return reply;
  auto end = raw->find("\r\n\r\n");
  if (raw->rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return reply;
  reply.status = std::stoi(raw->substr(9, 3));
  size_t line = raw->find("\r\n") + 2;
  while (line < end) {
    size_t eol = raw->find("\r\n", line);
    std::string h = raw->substr(line, eol - line);
    auto colon = h.find(':');
    if (colon != std::string::npos) {
      std::string name = h.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      reply.headers[name] = value;
    }
    line = eol + 2;
  }
  reply.body = raw->substr(end + 4);
  if (reply.headers["transfer-encoding"] == "chunked") reply.body = dechunk(reply.body);
  return reply;
}

RawConnection::RawConnection(int port) : fd_(connect_to(port)) {}
RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}
bool RawConnection::send(const std::string& bytes) {
  return fd_ >= 0 && send_all(fd_, bytes);
}
std::optional<std::string> RawConnection::read_until_closed(std::chrono::milliseconds wait) {
  if (fd_ < 0) return std::string();
  return read_all(fd_, wait, nullptr);
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace tvd::testing
