// tvd-run: the supervisor of one build, which outlives tvd (supervisor.h says what it does and
// why). tvd starts it; nobody else needs to.
//
//   tvd-run --log PATH --limit BYTES --wall SECONDS --silence SECONDS --sample-ms MS
//           --grace-ms MS [--sync] [--stdin PATH] --exe PATH -- ARGV...
//
// Its environment and working directory are the build's. It exits 0 once the status is written
// beside the log, 2 on a wrong command line.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "daemon/base/file.h"
#include "daemon/exec/host.h"
#include "daemon/exec/log_sink.h"
#include "daemon/exec/supervisor.h"

namespace {

using namespace tvd;
using namespace tvd::exec;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Options {
  std::filesystem::path log, stdin_file, exe;
  uint64_t limit = 64ull << 20;
  std::chrono::seconds wall{0}, silence{0};
  milliseconds sample{5000}, grace{30000};
  bool sync = false;
  std::vector<std::string> argv;
};

std::optional<uint64_t> digits(const char* s) {
  if (!s || !*s) return std::nullopt;
  uint64_t n = 0;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(*s - '0');
  }
  return n;
}

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--sync") {
      o.sync = true;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    const char* v = argv[++i];
    if (a == "--log") {
      o.log = v;
    } else if (a == "--stdin") {
      o.stdin_file = v;
    } else if (a == "--exe") {
      o.exe = v;
    } else {
      auto n = digits(v);
      if (!n) return std::nullopt;
      if (a == "--limit") {
        o.limit = *n;
      } else if (a == "--wall") {
        o.wall = std::chrono::seconds(*n);
      } else if (a == "--silence") {
        o.silence = std::chrono::seconds(*n);
      } else if (a == "--sample-ms") {
        o.sample = milliseconds(std::max<uint64_t>(*n, 10));
      } else if (a == "--grace-ms") {
        o.grace = milliseconds(*n);
      } else {
        return std::nullopt;
      }
    }
  }
  for (; i < argc; ++i)
    o.argv.emplace_back(argv[i]);
  if (o.log.empty() || o.exe.empty() || o.argv.empty()) return std::nullopt;
  return o;
}

// Every process of our group but us.
void signal_group_but_me(int sig) {
  const pid_t me = ::getpid();
  for (pid_t p : group_members(::getpgrp())) {
    if (p != me) ::kill(p, sig);
  }
}

uint64_t own_rss() {
  auto st = tvd::read_file("/proc/self/stat");
  if (!st) return 0;
  auto parsed = parse_proc_stat(*st);
  return parsed ? parsed->rss_pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// The status's room, taken at the start: a disk that fills during the build (its log, a
// neighbour) cannot keep the end of the run from being told. Written in place at the end, then
// renamed to status_path (a status is whole, or absent).
constexpr size_t kStatusRoom = 4096;
UniqueFd g_status_room;

void reserve_status_room(const std::filesystem::path& log) {
  const auto tmp = status_path(log).string() + ".tmp";
  g_status_room = UniqueFd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (g_status_room.get() < 0) return;
  const std::string room(kStatusRoom, '\n');
  if (::write(g_status_room.get(), room.data(), room.size()) != static_cast<ssize_t>(room.size()) ||
      ::fsync(g_status_room.get()) != 0) {
    g_status_room.reset();
  }
}

bool write_status_in_room(const std::filesystem::path& log, const std::string& text) {
  if (g_status_room.get() < 0 || text.size() > kStatusRoom) return false;
  const int fd = g_status_room.get();
  if (::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()) ||
      ::ftruncate(fd, static_cast<off_t>(text.size())) != 0 || ::fsync(fd) != 0) {
    return false;
  }
  const auto tmp = status_path(log).string() + ".tmp";
  return ::rename(tmp.c_str(), status_path(log).c_str()) == 0;
}

int finish(const Options& o, RunResult r, std::optional<LogSink>& sink, Clock::time_point started) {
  if (sink) {
    sink->finish(o.sync);
    r.output_bytes = sink->total();
    r.log_truncated = sink->truncated();
  }
  r.duration = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  if (r.error.size() > 1024) r.error.resize(1024);
  const std::string text = format_status(r);
  if (write_status_in_room(o.log, text)) return 0;
  if (auto st = write_file_atomic(status_path(o.log), text, Overwrite::kYes); !st) {
    std::fprintf(stderr, "tvd-run: %s\n", st.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = parse(argc, argv);
  if (!opts) {
    std::fprintf(stderr,
                 "usage: tvd-run --log PATH --limit BYTES --wall S --silence S --sample-ms MS "
                 "--grace-ms MS [--sync] [--stdin PATH] --exe PATH -- ARGV...\n"
                 "tvd starts it for each build; it is not meant to be run by hand.\n");
    return 2;
  }
  const Options& o = *opts;
  // tvd starts it as a session's leader; run otherwise (by hand, from a shell), it makes a session
  // of its own, so that ending what its build left in its group never reaches its caller's.
  if (::getpgrp() != ::getpid()) ::setsid();
  const auto started = Clock::now();
  RunResult r;

  // Signals come through a descriptor, so that one loop sees output, ends and signals alike.
  sigset_t mask, old;
  sigemptyset(&mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD})
    sigaddset(&mask, s);
  ::sigprocmask(SIG_BLOCK, &mask, &old);
  const int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  ::signal(SIGPIPE, SIG_IGN);

  reserve_status_room(o.log);
  std::optional<LogSink> sink;
  if (auto opened = LogSink::open(o.log, o.limit)) {
    sink.emplace(std::move(*opened));
  } else {
    r.ending = Ending::kFailedToStart;
    r.error = opened.error().message;
    return finish(o, r, sink, started);
  }
  if (auto mem = read_meminfo()) r.host_used_at_start = r.host_peak_used = mem->used();

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    r.ending = Ending::kFailedToStart;
    r.error = std::string("cannot make a pipe: ") + std::strerror(errno);
    return finish(o, r, sink, started);
  }
  std::vector<char*> child_argv;
  for (const auto& a : o.argv)
    child_argv.push_back(const_cast<char*>(a.c_str()));
  child_argv.push_back(nullptr);

  const pid_t child = ::fork();
  if (child == 0) {
    // The build: in our process group, its output on our pipe, signals as a program expects.
    int failure[2] = {0, 0};
    const int in = ::open(o.stdin_file.empty() ? "/dev/null" : o.stdin_file.c_str(), O_RDONLY);
    if (in < 0) {
      failure[0] = 1;
      failure[1] = errno;
    } else {
      ::dup2(in, 0);
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      ::signal(SIGPIPE, SIG_DFL);
      ::sigprocmask(SIG_SETMASK, &old, nullptr);
      ::execv(o.exe.c_str(), child_argv.data());
      failure[0] = 2;
      failure[1] = errno;
    }
    (void)!::write(err[1], failure, sizeof failure);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  if (child < 0) {
    r.ending = Ending::kFailedToStart;
    r.error = std::string("cannot fork: ") + std::strerror(errno);
    return finish(o, r, sink, started);
  }
  // The exec closes the error pipe; a failure writes to it first.
  int failure[2] = {0, 0};
  ssize_t got;
  do {
    got = ::read(err[0], failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  ::close(err[0]);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    ::waitpid(child, nullptr, 0);
    ::close(out[0]);
    r.ending = Ending::kFailedToStart;
    r.error =
        (failure[0] == 1 ? "cannot open " + o.stdin_file.string() : "cannot execute " + o.argv[0]) +
        ": " + std::strerror(failure[1]);
    return finish(o, r, sink, started);
  }

  constexpr auto kNever = Clock::time_point::max();
  auto last_output = started;
  auto next_sample = started + o.sample;
  auto kill_at = kNever, drain_until = kNever;
  std::optional<Ending> killed_because;
  bool terminating = false, exited = false, drained = false;
  int status = 0;
  auto terminate = [&](std::optional<Ending> why) {
    if (terminating || exited) return;
    terminating = true;
    killed_because = why;
    signal_group_but_me(SIGTERM);
    kill_at = Clock::now() + o.grace;
  };
  static char buf[65536];
  const uint64_t mine = own_rss();
  while (!(exited && drained)) {
    const auto now = Clock::now();
    if (!exited && !terminating) {
      if (o.wall.count() > 0 && now >= started + o.wall) terminate(Ending::kTimedOut);
      if (o.silence.count() > 0 && now >= last_output + o.silence) terminate(Ending::kSilent);
    }
    if (!exited && now >= kill_at) {
      signal_group_but_me(SIGKILL);
      kill_at = kNever;
    }
    if (exited && now >= drain_until) break;  // a descendant that left the group holds the pipe
    if (!exited && now >= next_sample) {
      const uint64_t group = group_rss(::getpgrp());
      r.peak_group_rss = std::max(r.peak_group_rss, group > mine ? group - mine : 0);
      if (auto mem = read_meminfo()) r.host_peak_used = std::max(r.host_peak_used, mem->used());
      next_sample = now + o.sample;
    }
    auto wake = std::min({next_sample, kill_at, drain_until});
    if (!exited && !terminating) {
      if (o.wall.count() > 0) wake = std::min(wake, started + o.wall);
      if (o.silence.count() > 0) wake = std::min(wake, last_output + o.silence);
    }
    const auto wait = std::clamp<int64_t>(
        std::chrono::duration_cast<milliseconds>(wake - now).count() + 1, 0, 60 * 1000);
    pollfd fds[2] = {{sfd, POLLIN, 0}, {drained ? -1 : out[0], POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(wait)) < 0 && errno != EINTR) break;
    if (fds[1].revents) {
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n > 0) {
        sink->append(std::string_view(buf, static_cast<size_t>(n)));
        last_output = Clock::now();
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        drained = true;
        ::close(out[0]);
      }
    }
    if (fds[0].revents) {
      signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (si.ssi_signo != SIGCHLD) {
          terminate(std::nullopt);
          continue;
        }
        int st = 0;
        pid_t p;
        while ((p = ::waitpid(-1, &st, WNOHANG)) > 0) {
          if (p != child) continue;
          exited = true;
          status = st;
          // No orphan survives: what the build left behind in its group goes with it.
          signal_group_but_me(SIGKILL);
          drain_until = Clock::now() + std::chrono::seconds(5);
        }
      }
    }
  }
  if (WIFEXITED(status)) {
    r.ending = Ending::kExited;
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.ending = Ending::kSignaled;
    r.signal = WTERMSIG(status);
  }
  if (killed_because) r.ending = *killed_because;
  return finish(o, r, sink, started);
}
