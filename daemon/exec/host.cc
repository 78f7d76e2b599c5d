#include "daemon/exec/host.h"

#include <sys/resource.h>
#include <sys/utsname.h>

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace tvd::exec {
namespace {

std::optional<std::string> slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<uint64_t> number(std::string_view s) {
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<MemInfo> parse_meminfo(std::string_view text) {
  std::optional<uint64_t> total, available;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      auto key = line.substr(0, colon);
      auto kb = number(line.substr(colon + 1));
      if (key == "MemTotal" && kb) total = *kb * 1024;
      if (key == "MemAvailable" && kb) available = *kb * 1024;
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  if (!total || !available) return std::nullopt;
  return MemInfo{*total, *available};
}

std::optional<double> parse_memory_pressure(std::string_view text) {
  auto full = text.find("full ");
  if (full == std::string_view::npos) return std::nullopt;
  auto avg = text.find("avg10=", full);
  if (avg == std::string_view::npos) return std::nullopt;
  auto s = text.substr(avg + 6);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

std::optional<uint64_t> parse_cgroup_limit(std::string_view text) {
  if (text.rfind("max", 0) == 0) return std::nullopt;
  return number(text);
}

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  // rest: " state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
  // stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss ..."
  ProcStat st;
  size_t field = 2;  // the next token is field 3 (state)
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ')
      ++pos;
    size_t end = rest.find(' ', pos);
    std::string_view tok = rest.substr(pos, end == std::string_view::npos ? end : end - pos);
    ++field;
    if (field == 3 && !tok.empty()) {
      st.state = tok[0];
    } else if (field == 5) {
      auto v = number(tok);
      if (!v) return std::nullopt;
      st.pgrp = static_cast<pid_t>(*v);
    } else if (field == 22) {
      auto v = number(tok);
      if (!v) return std::nullopt;
      st.start_ticks = *v;
    } else if (field == 24) {
      auto v = number(tok);
      if (!v) return std::nullopt;
      st.rss_pages = *v;
      return st;
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return std::nullopt;
}

std::string host_system() {
  struct utsname u {};
  if (::uname(&u) != 0) return "";
  std::string machine = u.machine;
  if (machine == "arm64") machine = "aarch64";
  return machine + "-linux";
}

std::optional<MemInfo> read_meminfo() {
  auto t = slurp("/proc/meminfo");
  return t ? parse_meminfo(*t) : std::nullopt;
}

std::optional<double> read_memory_pressure() {
  auto t = slurp("/proc/pressure/memory");
  return t ? parse_memory_pressure(*t) : std::nullopt;
}

std::optional<uint64_t> read_cgroup_memory_limit() {
  auto cg = slurp("/proc/self/cgroup");
  if (!cg) return std::nullopt;
  auto pos = cg->find("0::");
  if (pos == std::string::npos) return std::nullopt;
  auto end = cg->find('\n', pos);
  std::string path = cg->substr(pos + 3, end == std::string::npos ? end : end - pos - 3);
  // Walk up: the tightest limit on the way to the root applies.
  std::optional<uint64_t> tightest;
  std::filesystem::path dir =
      std::filesystem::path("/sys/fs/cgroup") / std::filesystem::path(path).relative_path();
  for (int depth = 0; depth < 64; ++depth) {
    if (auto t = slurp(dir / "memory.max")) {
      if (auto v = parse_cgroup_limit(*t)) tightest = tightest ? std::min(*tightest, *v) : *v;
    }
    if (dir == "/sys/fs/cgroup" || !dir.has_parent_path()) break;
    dir = dir.parent_path();
  }
  return tightest;
}

namespace {

// Every process of the group by scanning all of /proc: the fallback when the leader is gone.
uint64_t group_rss_by_scan(pid_t pgid, uint64_t page) {
  uint64_t sum = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] < '0' || name[0] > '9') continue;
    auto t = slurp(it->path() / "stat");
    if (!t) continue;  // the process ended meanwhile
    if (auto st = parse_proc_stat(*t); st && st->pgrp == pgid) sum += st->rss_pages * page;
  }
  return sum;
}

}  // namespace

std::vector<pid_t> group_members(pid_t pgid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    auto pid = number(name);
    if (!pid) continue;
    auto t = slurp(it->path() / "stat");
    if (!t) continue;  // the process ended meanwhile
    if (auto st = parse_proc_stat(*t); st && st->pgrp == pgid && st->state != 'Z') {
      out.push_back(static_cast<pid_t>(*pid));
    }
  }
  return out;
}

uint64_t group_rss(pid_t pgid) {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  // The group's leader and its descendants, through each thread's "children" (CONFIG_PROC_CHILDREN,
  // on in Debian's kernels): as many reads as the build has processes, however many the host has.
  const std::string root = "/proc/" + std::to_string(pgid);
  auto leader = slurp(root + "/stat");
  auto lst = leader ? parse_proc_stat(*leader) : std::nullopt;
  if (!lst || lst->pgrp != pgid) return group_rss_by_scan(pgid, page);
  uint64_t sum = 0;
  std::vector<pid_t> todo{pgid};
  std::set<pid_t> seen;
  while (!todo.empty()) {
    const pid_t pid = todo.back();
    todo.pop_back();
    if (!seen.insert(pid).second) continue;
    const std::string dir = "/proc/" + std::to_string(pid);
    auto t = pid == pgid ? leader : slurp(dir + "/stat");
    if (!t) continue;  // it ended meanwhile
    if (auto st = parse_proc_stat(*t); st && st->pgrp == pgid) sum += st->rss_pages * page;
    std::error_code ec;
    for (auto task = std::filesystem::directory_iterator(dir + "/task", ec);
         !ec && task != std::filesystem::directory_iterator(); task.increment(ec)) {
      auto kids = slurp(task->path() / "children");
      if (!kids) continue;
      std::string_view rest = *kids;
      while (!rest.empty()) {
        auto end = rest.find(' ');
        if (auto n = number(rest.substr(0, end))) todo.push_back(static_cast<pid_t>(*n));
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
      }
    }
  }
  return sum;
}

unsigned online_cores() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : std::max(1u, std::thread::hardware_concurrency());
}

bool held_open(const std::filesystem::path& path) {
  std::error_code ec;
  const auto target = std::filesystem::weakly_canonical(path, ec);
  for (auto proc = std::filesystem::directory_iterator("/proc", ec);
       !ec && proc != std::filesystem::directory_iterator(); proc.increment(ec)) {
    const auto name = proc->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code fd_ec;
    for (auto fd = std::filesystem::directory_iterator(proc->path() / "fd", fd_ec);
         !fd_ec && fd != std::filesystem::directory_iterator(); fd.increment(fd_ec)) {
      std::error_code link_ec;
      if (std::filesystem::read_symlink(fd->path(), link_ec) == target) return true;
    }
  }
  return false;
}

std::optional<int64_t> process_started_at(pid_t pid) {
  auto stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  auto st = parse_proc_stat(*stat);
  auto boot = slurp("/proc/stat");
  if (!st || !boot) return std::nullopt;
  auto at = boot->find("\nbtime ");
  if (at == std::string::npos) return std::nullopt;
  auto btime = number(std::string_view(*boot).substr(at + 7, boot->find('\n', at + 7) - at - 7));
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (!btime || ticks <= 0) return std::nullopt;
  return static_cast<int64_t>(*btime) + static_cast<int64_t>(st->start_ticks) / ticks;
}

bool may_be_our_run(pid_t pgid, int64_t run_started,
                    std::initializer_list<std::string_view> programs) {
  auto started = process_started_at(pgid);
  if (!started) return true;  // the leader is gone: the group, if any, is still the run's
  if (*started < run_started - 2 || *started > run_started + 15 * 60) return false;
  auto cmdline = slurp("/proc/" + std::to_string(pgid) + "/cmdline");
  if (!cmdline) return false;
  for (auto program : programs) {
    if (cmdline->find(program) != std::string::npos) return true;
  }
  return false;
}

namespace {
struct rlimit g_child_nofile {};  // set once at start, read in children
bool g_child_nofile_set = false;
}  // namespace

uint64_t raise_descriptor_limit() {
  struct rlimit now {};
  if (::getrlimit(RLIMIT_NOFILE, &now) != 0) return 1024;
  if (!g_child_nofile_set) {
    g_child_nofile = now;
    g_child_nofile_set = true;
  }
  if (now.rlim_cur < now.rlim_max) {
    struct rlimit raised = now;
    raised.rlim_cur = now.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) now = raised;
  }
  return now.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : static_cast<uint64_t>(now.rlim_cur);
}

void restore_child_descriptor_limit() {
  if (g_child_nofile_set) ::setrlimit(RLIMIT_NOFILE, &g_child_nofile);
}

}  // namespace tvd::exec
