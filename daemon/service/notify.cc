#include "daemon/service/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace tvd::service {

Notifier::Notifier() {
  if (const char* s = std::getenv("NOTIFY_SOCKET"); s && *s) socket_ = s;
  if (const char* w = std::getenv("WATCHDOG_USEC"); w && *w) {
    long long usec = std::atoll(w);
    if (usec > 0) watchdog_ = std::chrono::microseconds(usec / 2);
  }
}

void Notifier::send(const std::string& state) const {
  if (socket_.empty() || socket_.size() >= sizeof(sockaddr_un::sun_path)) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                 len);
  ::close(fd);
}

}  // namespace tvd::service
