// What the dashboard's handlers see of HTTP: a parsed GET and the response to write. The server
// (http_server.cc) does all of Beast; nothing else includes it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tvd::server {

struct HttpRequest {
  std::string method;                        // GET or HEAD; the server answers others itself
  std::string path;                          // "/variant/torchvision-python313-cpu-avx2"
  std::map<std::string, std::string> query;  // ?part=main&refresh=2, percent-decoded
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse text(int status, std::string body);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpLimits {
  size_t header_bytes = 16 * 1024;  // request line and headers; past it: 431 and close
  // To read a whole request, or to wait for the next one on a kept-alive connection; a client
  // trickling a header (slowloris) is cut off when it runs out.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
  size_t max_connections = 64;  // past it, new connections are closed at once
};

// A Host header naming this machine's loopback: localhost, 127.x.x.x or [::1], with or without a
// port (an empty one too: HTTP/1.0).
bool loopback_host(std::string_view host);

// "a%20b" -> "a b"; "?x=1&y" -> {x: 1, y: ""}.
std::map<std::string, std::string> parse_query(std::string_view query);

}  // namespace tvd::server
