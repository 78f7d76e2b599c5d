// The supervisor: `tvd-run`, a small process between tvd and a build that outlives tvd. tvd
// starts it as the leader of the build's session and process group; it runs the build with its
// output on a pipe of its own, keeps the bounded log (log_sink.h), samples the group's memory,
// enforces the wall-clock and silence limits, and when the build ends writes the run's status
// beside the log (status_path) and exits. tvd follows the log as it grows and reads the status at
// the end; a tvd that stopped or crashed meanwhile takes the run back at its next start
// (Runner::adopt) from the process group and the log the store recorded. Nothing of the run lives
// only in tvd: a restart of tvd costs the build nothing.
//
// Signals: SIGTERM, SIGINT, SIGHUP or SIGQUIT (tvd's cancel sends SIGTERM to the supervisor) is
// passed to the rest of the group once as SIGTERM; after the grace period what is left of the
// group but the supervisor is killed. A SIGKILL of the group
// (tvd's last resort) ends the supervisor too, without a status: the run is then "lost".
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/exec/runner.h"

namespace tvd::exec {

// The status format is kept from version to version: after an upgrade, the new tvd reads what
// the old tvd-run writes (keys may be added; none is renamed or dropped).
//
// Where a supervised run's status is written: beside its log.
std::filesystem::path status_path(const std::filesystem::path& log);

// What the supervisor knows of the run at its end: RunResult without the tail (tvd reads that
// from the log) and without the pids (tvd knows them).
std::string format_status(const RunResult& r);
// nullopt: not a complete status (the supervisor died while writing it, or it is something else).
std::optional<RunResult> parse_status(std::string_view text);

// The supervisor binary tvd starts: `tvd-run` beside the running executable, or in
// ../lib/tvd/ from its directory (as installed: /usr/bin/tvd, /usr/lib/tvd/tvd-run); empty when
// there is none.
std::filesystem::path find_supervisor();

// The supervisor's command line for `spec`, run with `exe` (argv[0] resolved).
std::vector<std::string> supervisor_argv(const std::filesystem::path& supervisor,
                                         const std::filesystem::path& exe, const RunSpec& spec,
                                         std::chrono::milliseconds grace);

}  // namespace tvd::exec
