// The Unix-socket server: accepts, frames lines, asks the handler, writes replies. It knows who
// the peer is (SO_PEERCRED) and nothing about what requests mean. A line over 1 MiB gets a
// too_large reply and the connection is closed; every other connection is unaffected.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "daemon/base/result.h"

namespace boost::asio {
class io_context;
}

namespace tvd::service {
class Service;
}

namespace tvd::server {

class SocketServer {
 public:
  // Binds `path` (mode 0660, group `group` if it exists), replacing a stale socket file.
  static Result<std::unique_ptr<SocketServer>> listen(boost::asio::io_context& io,
                                                      const std::filesystem::path& path,
                                                      const std::string& group,
                                                      service::Service& service);
  virtual ~SocketServer() = default;
  virtual void stop() = 0;  // stop accepting; close connections
};

}  // namespace tvd::server
