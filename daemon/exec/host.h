// Readings of the host for the scheduler's gates and the runner's memory samples. The parsers
// are pure (tested on fixed text); the readers return nullopt where a source is missing, and the
// gate that needs it is then off.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/base/file.h"

namespace tvd::exec {

struct MemInfo {
  uint64_t total = 0;
  uint64_t available = 0;
  uint64_t used() const { return total > available ? total - available : 0; }
};

std::optional<MemInfo> parse_meminfo(std::string_view text);
// "full avg10" of /proc/pressure/memory, in percent.
std::optional<double> parse_memory_pressure(std::string_view text);
// A cgroup v2 memory.max: a number, or "max" (nullopt: no limit).
std::optional<uint64_t> parse_cgroup_limit(std::string_view text);
// Fields 3 (state), 5 (pgrp), 22 (starttime, in clock ticks after boot) and 24 (rss, in pages) of
// /proc/PID/stat.
struct ProcStat {
  char state = '?';  // field 3: 'R', 'S', 'Z' (a zombie: ended, not yet reaped) ...
  pid_t pgrp = 0;
  uint64_t start_ticks = 0;
  uint64_t rss_pages = 0;
};
std::optional<ProcStat> parse_proc_stat(std::string_view text);

// Nix's name of this host's system ("x86_64-linux", "aarch64-linux"): what builtins.currentSystem
// is when Nix evaluates here.
std::string host_system();

std::optional<MemInfo> read_meminfo();
std::optional<double> read_memory_pressure();
// memory.max of this process's cgroup (v2), if it has a limit.
std::optional<uint64_t> read_cgroup_memory_limit();
using tvd::free_disk;  // daemon/base/file.h
// The sum of RSS over the live processes of a process group: its leader and the leader's
// descendants in the group, so the cost is the build's process count, not the host's (all of
// /proc is read only when the leader is gone).
uint64_t group_rss(pid_t pgid);
// The live processes of a process group, zombies not counted (all of /proc is read).
std::vector<pid_t> group_members(pid_t pgid);
unsigned online_cores();

// Whether any process has `path` open (read from /proc/*/fd). Git holds its index.lock open
// while it works; one that nobody holds is a crash's leftover.
bool held_open(const std::filesystem::path& path);

// When process `pid` started, in Unix seconds; nullopt when there is no such process.
std::optional<int64_t> process_started_at(pid_t pid);
// Whether the process group `pgid`, recorded for a run that started at `run_started` (Unix
// seconds), can still be that run's, so that killing it kills nothing else: its leader is gone (no
// new process takes the id of a group that lives on), or it started within 15 minutes after the
// run did and its command line names one of `programs`. After a reboot the number may belong to
// anything.
bool may_be_our_run(pid_t pgid, int64_t run_started,
                    std::initializer_list<std::string_view> programs);

// The daemon's soft RLIMIT_NOFILE raised to its hard limit, as systemd advises for services
// that need many descriptors (systemd's default soft limit is 1,024). Children get the soft
// limit tvd started with back (restore_child_descriptor_limit, between fork and exec): programs
// that use select() break above 1,024. Returns the soft limit now.
uint64_t raise_descriptor_limit();
// In a child between fork and exec: async-signal-safe.
void restore_child_descriptor_limit();

}  // namespace tvd::exec
