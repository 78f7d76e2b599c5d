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

// How many connections the socket keeps open: in all, and per user. Past either, the oldest idle
// one (no request being answered, no log being followed) is closed to make room; with none
// idle, the new one gets a "too many connections" error and is closed. Both stay below the
// descriptor limit, so that builds, logs and the store always have descriptors.
struct SocketLimits {
  size_t max_connections = 256;
  size_t max_per_user = 64;
};
// The limits under a soft RLIMIT_NOFILE of `descriptors`: a quarter of them at most (1,024),
// and a quarter of that per user.
SocketLimits socket_limits(uint64_t descriptors);

class SocketServer {
 public:
  // Binds `path` (mode 0660, group `group` if it exists), replacing a stale socket file. A peer
  // may change things if it is root, tvd's own user, or has `group` among the groups of its
  // credentials (SO_PEERCRED and SO_PEERGROUPS: what it had when it connected, not what the
  // group database says now, as for files).
  static Result<std::unique_ptr<SocketServer>> listen(boost::asio::io_context& io,
                                                      const std::filesystem::path& path,
                                                      const std::string& group,
                                                      service::Service& service,
                                                      SocketLimits limits = {});
  virtual ~SocketServer() = default;
  virtual void stop() = 0;  // stop accepting; close connections
};

}  // namespace tvd::server
