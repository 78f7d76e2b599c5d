// Readings of the host for the scheduler's gates and the runner's memory samples. The parsers
// are pure (tested on fixed text); the readers return nullopt where a source is missing, and the
// gate that needs it is then off.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

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
// Field 24 (rss, in pages) and field 5 (pgrp) of /proc/PID/stat.
struct ProcStat {
  pid_t pgrp = 0;
  uint64_t rss_pages = 0;
};
std::optional<ProcStat> parse_proc_stat(std::string_view text);

std::optional<MemInfo> read_meminfo();
std::optional<double> read_memory_pressure();
// memory.max of this process's cgroup (v2), if it has a limit.
std::optional<uint64_t> read_cgroup_memory_limit();
std::optional<uint64_t> free_disk(const std::filesystem::path& path);
// The sum of RSS over the live processes of a process group.
uint64_t group_rss(pid_t pgid);
unsigned online_cores();

}  // namespace tvd::exec
