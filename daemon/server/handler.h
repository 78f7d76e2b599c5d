// The request handler: a function from (request, service, peer) to a reply. It never touches a
// socket; the server only frames.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>

#include "daemon/service/service.h"
#include "proto/protocol.h"

namespace tvd::server {

struct Peer {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  bool may_change = false;  // root, the daemon's own user, or a member of socket_group
};

proto::Reply handle(const proto::Request& request, service::Service& service, const Peer& peer);

// `logs` with "follow": true. One step of following: the reply to send (`more` while it goes
// on), and the request for the next step, to be handled `wait` after the reply was written.
struct Followed {
  proto::Reply reply;
  std::optional<proto::Request> next;
  std::chrono::milliseconds wait{0};  // at most; sooner when the job's log grows (wake_on_log)
  service::Service::LogCursor at;     // where the next step reads
};
bool is_follow(const proto::Request& request);
Followed follow(const proto::Request& request, service::Service& service, const Peer& peer);

}  // namespace tvd::server
