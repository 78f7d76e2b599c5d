#include "client/connection.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace tvd::client {

Result<Connection> Connection::open(const std::filesystem::path& socket,
                                    std::chrono::seconds timeout) {
  auto unreachable = [&](const std::string& why) {
    return fail(ErrorKind::kIo, "cannot reach tvd at " + socket.string() + ": " + why,
                "start it with 'systemctl start tvd' (or 'tvd serve --config FILE'), or point "
                "tvctl at its socket with --socket or TVD_SOCKET");
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.string().size() >= sizeof addr.sun_path) return unreachable("the path is too long");
  std::strcpy(addr.sun_path, socket.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return unreachable(std::strerror(errno));
  if (timeout.count() > 0) {
    // On a Unix socket, SO_SNDTIMEO also bounds connect() (a daemon whose backlog is full).
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EAGAIN || e == EINPROGRESS) {
      return unreachable("it did not accept the connection within " +
                         std::to_string(timeout.count()) + " s");
    }
    return unreachable(std::strerror(e));
  }
  return Connection(fd, timeout);
}

Connection::Connection(Connection&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      timeout_(o.timeout_),
      next_id_(o.next_id_),
      framer_(std::move(o.framer_)),
      pending_(std::move(o.pending_)) {}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

Result<proto::Reply> Connection::call(const std::string& op, const nlohmann::json& args) {
  std::string line = proto::encode(proto::Request{next_id_++, op, args});
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return fail(ErrorKind::kIo,
                  std::string("the daemon closed the connection: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return next_reply();
}

Result<proto::Reply> Connection::next_reply() {
  if (!pending_.empty()) {
    auto line = std::move(pending_.front());
    pending_.erase(pending_.begin());
    return proto::decode_reply(line);
  }
  char buf[65536];
  while (true) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return fail(ErrorKind::kIo,
                  "the daemon did not answer within " + std::to_string(timeout_.count()) + " s",
                  "it may be stuck or very busy: 'systemctl status tvd' and 'journalctl -u tvd' "
                  "show what it does; --timeout SECONDS waits longer (0: no limit)");
    }
    if (n <= 0) return fail(ErrorKind::kIo, "the daemon closed the connection without a reply");
    auto lines = framer_.feed(std::string_view(buf, static_cast<size_t>(n)));
    if (!lines.empty()) {
      pending_.assign(lines.begin() + 1, lines.end());
      return proto::decode_reply(lines.front());
    }
    if (framer_.overflowed()) return fail(ErrorKind::kIo, "the daemon's reply is too large");
  }
}

}  // namespace tvd::client
