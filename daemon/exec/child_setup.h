// What every child tvd starts gets between fork and exec, as Boost.Process v2's on_exec_setup
// hook: a process group of its own (and, for the runner's builds, a session: no controlling
// terminal, and a cancel reaches the whole group), every inherited descriptor but 0-2 closed at
// exec (Boost.Process v2 in 1.81 leaks them otherwise), default SIGPIPE, and the descriptor limit
// tvd raised for itself put back. One set-up for both spawners (process_runner.cc, capture.cc).
// Private to daemon/exec: it includes Boost.Process.
#pragma once

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/close_range.h>
#include <boost/process/v2/process.hpp>
#include <csignal>

#include "daemon/exec/host.h"

namespace tvd::exec {

enum class ChildGroup {
  kSession,  // setsid: a session and process group of its own
  kGroup,    // setpgid: a process group of its own in tvd's session
};

template <ChildGroup Group>
struct ChildSetup {
  template <class Launcher>
  boost::process::v2::error_code on_exec_setup(Launcher&,
                                               const boost::process::v2::filesystem::path&,
                                               const char* const*&) {
    if (Group == ChildGroup::kSession) {
      if (::setsid() < 0) ::setpgid(0, 0);
    } else {
      ::setpgid(0, 0);
    }
    if (::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < 65536; ++fd)
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    ::signal(SIGPIPE, SIG_DFL);
    restore_child_descriptor_limit();
    return {};
  }
};

}  // namespace tvd::exec
