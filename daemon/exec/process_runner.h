// The real runner: Boost.Process v2 on an Asio io_context. Each run gets its own process group
// (so cancel reaches grandchildren), stdin from /dev/null (or RunSpec::stdin_file) and no terminal,
// no descriptor of the daemon's but 0-2, and its output drained continuously into a bounded log.
// A run that outlives the daemon goes through the supervisor instead (supervisor.h): the runner
// then follows its log (inotify) and reads its status when it ends.
// Asio and Process headers stay in the .cc: this header only names the io_context.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include "daemon/exec/runner.h"

namespace boost::asio {
class io_context;
}

namespace tvd::exec {

struct ProcessRunnerOptions {
  std::chrono::milliseconds grace{std::chrono::seconds(30)};  // SIGTERM to SIGKILL
  // tvd-run (supervisor.h, find_supervisor()): runs with RunSpec::outlives_daemon go through it.
  // Empty: every run ends with the runner.
  std::filesystem::path supervisor;
};

std::unique_ptr<Runner> make_process_runner(boost::asio::io_context& io,
                                            ProcessRunnerOptions options = {});

}  // namespace tvd::exec
