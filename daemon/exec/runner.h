// The runner interface: the only way tvd starts processes (flox build, flox publish, git). The
// scheduler's driver calls it; the real implementation (process_runner.h) is the only code that
// knows about process groups and pipes, and tests may substitute their own.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tvd::exec {

struct RunSpec {
  // argv[0] is a path, or a name looked up in the PATH of `env`. Never a shell.
  std::vector<std::string> argv;
  std::filesystem::path cwd;
  // The child's whole environment: it gets this and nothing else.
  std::map<std::string, std::string> env;
  // stdout and stderr, interleaved as they come, go to this file.
  std::filesystem::path log;
  // The child's stdin: this file, or /dev/null when empty.
  std::filesystem::path stdin_file;
  // Past this size the log keeps its first and last halves and says what was left out.
  uint64_t log_limit = 64ull << 20;
  bool sync_log = true;                          // fsync the log when the run ends
  std::chrono::seconds wall_timeout{0};          // 0: none
  std::chrono::seconds silence_timeout{0};       // no output for this long: 0: none
  std::chrono::milliseconds sample_every{5000};  // how often memory is sampled
  // Run under the supervisor (supervisor.h) when the runner has one: the run outlives the runner
  // (and tvd), which never kills it on its way out; a later runner takes it back with adopt().
  // Its timeouts and memory samples are the supervisor's, so they go on while tvd is away.
  bool outlives_daemon = false;
};

enum class Ending {
  kExited,         // exit_code is set
  kSignaled,       // killed by `signal`, not by us
  kTimedOut,       // the wall-clock limit ran out; we killed it
  kSilent,         // no output for silence_timeout; we killed it
  kCancelled,      // cancel(); we killed it
  kFailedToStart,  // `error` says why
};
const char* to_string(Ending e);

struct RunResult {
  Ending ending = Ending::kFailedToStart;
  int exit_code = -1;
  int signal = 0;
  std::chrono::milliseconds duration{};
  pid_t pid = 0;
  pid_t pgid = 0;
  // Memory: the largest sum of RSS over the process group seen at a sample, and the host's
  // memory in use (MemTotal - MemAvailable) when the run started and at its sampled peak.
  uint64_t peak_group_rss = 0;
  uint64_t host_used_at_start = 0;
  uint64_t host_peak_used = 0;
  uint64_t output_bytes = 0;  // everything the child wrote
  bool log_truncated = false;
  std::string tail;   // the last 64 KiB of output, to read the failure from
  std::string error;  // kFailedToStart: why

  bool succeeded() const { return ending == Ending::kExited && exit_code == 0; }
};

using RunId = uint64_t;

class Runner {
 public:
  virtual ~Runner() = default;
  // Starts the run; `done` is called exactly once, later, on the runner's thread.
  virtual RunId start(RunSpec spec, std::function<void(const RunResult&)> done) = 0;
  // SIGTERM to the whole process group, SIGKILL after the grace period. No-op when done.
  virtual void cancel(RunId id) = 0;
  // The process group of a live run (for recovery after a crash).
  virtual std::optional<pid_t> process_group(RunId id) const = 0;
  // Takes back a run with outlives_daemon that an earlier runner (an earlier tvd) started: its
  // process group `pgid` (the supervisor's) and its log. `done` as for start(): when the run
  // ends, or at once when it ended meanwhile (from the status the supervisor left; with none,
  // the run was lost: kSignaled). nullopt: this runner cannot take runs back.
  virtual std::optional<RunId> adopt(pid_t pgid, const std::filesystem::path& log,
                                     std::function<void(const RunResult&)> done) {
    (void)pgid, (void)log, (void)done;
    return std::nullopt;
  }
  // Whether runs with outlives_daemon do outlive this runner.
  virtual bool supervises() const { return false; }
  // Called with the run each time output of it was written to its log (one observer; an empty
  // function removes it). A runner without live output never calls it.
  virtual void set_output_observer(std::function<void(RunId)> observer) { (void)observer; }
};

}  // namespace tvd::exec
