// The dashboard's HTTP/1.1 server (Boost.Beast) on the daemon's io_context: GET and HEAD only,
// bounded headers, no bodies, a timeout per request, a cap on connections. A bad request gets
// an error reply and its connection closed; builds never wait on it.
#pragma once

#include <memory>
#include <string>

#include "daemon/base/result.h"
#include "daemon/server/http.h"

namespace boost::asio {
class io_context;
}

namespace tvd::server {

class HttpServer {
 public:
  // `listen` is HOST:PORT ("127.0.0.1:8347", "[::1]:8347"); port 0 picks a free one.
  static Result<std::unique_ptr<HttpServer>> listen(boost::asio::io_context& io,
                                                    const std::string& listen, HttpLimits limits,
                                                    HttpHandler handler);
  virtual ~HttpServer() = default;
  virtual unsigned short port() const = 0;
  virtual void stop() = 0;
};

}  // namespace tvd::server
