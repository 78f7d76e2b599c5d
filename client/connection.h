// tvctl's side of the socket: connect, send one request, read its reply.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "daemon/base/result.h"
#include "proto/protocol.h"

namespace tvd::client {

class Connection {
 public:
  // kIo with the socket named and how to start the daemon, when nothing answers there. With a
  // `timeout` (0: none), connecting and each reply may take at most that long.
  static Result<Connection> open(const std::filesystem::path& socket,
                                 std::chrono::seconds timeout = std::chrono::seconds(0));
  Connection(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  ~Connection();

  Result<proto::Reply> call(const std::string& op, const nlohmann::json& args);
  // The next reply of a streaming request.
  Result<proto::Reply> next_reply();

 private:
  Connection(int fd, std::chrono::seconds timeout) : fd_(fd), timeout_(timeout) {}
  int fd_ = -1;
  std::chrono::seconds timeout_{0};
  int64_t next_id_ = 1;
  proto::LineFramer framer_;
  std::vector<std::string> pending_;  // replies read but not yet returned
};

}  // namespace tvd::client
