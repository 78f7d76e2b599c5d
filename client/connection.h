// tvctl's side of the socket: connect, send one request, read its reply.
#pragma once

#include <filesystem>
#include <string>

#include "daemon/base/result.h"
#include "proto/protocol.h"

namespace tvd::client {

class Connection {
 public:
  // kIo with the socket named and how to start the daemon, when nothing answers there.
  static Result<Connection> open(const std::filesystem::path& socket);
  Connection(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  ~Connection();

  Result<proto::Reply> call(const std::string& op, const nlohmann::json& args);
  // The next reply of a streaming request.
  Result<proto::Reply> next_reply();

 private:
  explicit Connection(int fd) : fd_(fd) {}
  int fd_ = -1;
  int64_t next_id_ = 1;
  proto::LineFramer framer_;
  std::vector<std::string> pending_;  // replies read but not yet returned
};

}  // namespace tvd::client
