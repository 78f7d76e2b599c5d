// A webhook delivery: one HTTP/1.1 POST of a JSON body (Boost.Beast, on the daemon's io_context),
// answered 2xx or not, cut off after a timeout. http:// only (README "Notifications" says how to
// reach an https receiver through a command).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "daemon/base/result.h"

namespace boost::asio {
class io_context;
}

namespace tvd::notify {

struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string target = "/";
};
Result<HttpUrl> parse_http_url(const std::string& url);

// Calls `done` once, on `io`: with "" when the receiver answered 2xx, else what went wrong.
void post_json(boost::asio::io_context& io, const std::string& url, std::string body,
               std::chrono::seconds timeout, std::function<void(const std::string& error)> done);

}  // namespace tvd::notify
