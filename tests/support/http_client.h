// A small blocking HTTP/1.1 client over POSIX sockets, for tests: one request per connection
// (Connection: close), replies read to the end. Also raw connections, to send what no polite
// client would (a slowloris header, a huge header).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace tvd::testing {

struct HttpReply {
  int status = 0;                              // 0: no reply (refused, closed, or timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

HttpReply http_request(int port, const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::string& content_type = "application/json");
inline HttpReply http_get(int port, const std::string& target) {
  return http_request(port, "GET", target);
}

// A connected socket to 127.0.0.1:port that the test writes to and reads from as it likes.
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // What arrives until the peer closes or `wait` passes; nullopt if it did not close in time.
  std::optional<std::string> read_until_closed(std::chrono::milliseconds wait);

 private:
  int fd_ = -1;
};

// A TCP port nobody listens on now (bound to port 0, then closed).
int free_port();

}  // namespace tvd::testing
