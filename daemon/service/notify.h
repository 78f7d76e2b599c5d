// systemd's notification protocol (sd_notify), written out: a datagram to $NOTIFY_SOCKET.
// Without NOTIFY_SOCKET (not under systemd) every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace tvd::service {

class Notifier {
 public:
  Notifier();  // reads NOTIFY_SOCKET and WATCHDOG_USEC
  bool enabled() const { return !socket_.empty(); }
  // "READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1".
  void send(const std::string& state) const;
  // How often to send WATCHDOG=1 (half of WatchdogSec), when systemd asks for it.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

 private:
  std::string socket_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace tvd::service
