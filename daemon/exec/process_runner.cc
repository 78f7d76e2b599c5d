#include "daemon/exec/process_runner.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect_pipe.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/start_dir.hpp>
#include <boost/process/v2/stdio.hpp>
#include <cstring>
#include <map>
#include <set>

#include "daemon/exec/child_setup.h"
#include "daemon/exec/host.h"
#include "daemon/exec/log_sink.h"
#include "daemon/exec/supervisor.h"

namespace tvd::exec {

const char* to_string(Ending e) {
  switch (e) {
    case Ending::kExited:
      return "exited";
    case Ending::kSignaled:
      return "killed by a signal";
    case Ending::kTimedOut:
      return "timed out";
    case Ending::kSilent:
      return "silent too long";
    case Ending::kCancelled:
      return "cancelled";
    case Ending::kFailedToStart:
      return "failed to start";
  }
  return "?";
}

namespace {

namespace asio = boost::asio;
namespace bp = boost::process::v2;
using Clock = std::chrono::steady_clock;

class ProcessRunner;

struct Run : std::enable_shared_from_this<Run> {
  Run(asio::io_context& io, RunId run_id, RunSpec run_spec, std::optional<LogSink> log,
      std::function<void(const RunResult&)> on_done)
      : id(run_id),
        spec(std::move(run_spec)),
        sink(std::move(log)),
        done(std::move(on_done)),
        pipe(io),
        wall(io),
        silence(io),
        sampler(io),
        grace(io) {}

  RunId id;
  RunSpec spec;
  std::optional<LogSink> sink;  // none under the supervisor: it writes the log
  std::function<void(const RunResult&)> done;
  asio::readable_pipe pipe;
  std::unique_ptr<bp::process> proc;
  asio::steady_timer wall, silence, sampler, grace;
  Clock::time_point started;
  RunResult result;
  std::optional<Ending> killed_because;  // set when we kill it
  bool exited = false, drained = false, reported = false;
  // Under the supervisor: its log is followed (an inotify watch), and a run taken back from an
  // earlier runner is waited for through a pidfd (it is not our child).
  bool supervised = false;
  int watch = -1;
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  char buf[65536];
};

class ProcessRunner final : public Runner {
 public:
  ProcessRunner(asio::io_context& io, ProcessRunnerOptions o) : io_(io), options_(o) {}

  ~ProcessRunner() override {
    // Nothing may outlive the runner, but what runs under the supervisor: kill the rest at once.
    for (auto& [id, run] : runs_) {
      if (run->supervised) {
        if (run->proc) run->proc->detach();
        continue;
      }
      if (run->result.pgid > 0) ::kill(-run->result.pgid, SIGKILL);
    }
    if (inotify_ >= 0) ::close(inotify_);
  }

  bool supervises() const override { return !options_.supervisor.empty(); }

  std::optional<RunId> adopt(pid_t pgid, const std::filesystem::path& log,
                             std::function<void(const RunResult&)> done) override {
    RunId id = next_id_++;
    RunSpec spec;
    spec.log = log;
    auto run = std::make_shared<Run>(io_, id, std::move(spec), std::nullopt, std::move(done));
    run->supervised = true;
    run->result.pid = run->result.pgid = pgid;
    run->started = Clock::now();
    runs_[id] = run;
    watch(run);
    // With a status the run has ended (its number may be another process's by now).
    std::error_code ec;
    const int fd = std::filesystem::exists(status_path(log), ec)
                       ? -1
                       : static_cast<int>(::syscall(SYS_pidfd_open, pgid, 0));
    if (fd < 0) {
      // Gone: its status says how it ended, if it wrote one.
      asio::post(io_, [this, run, alive = std::weak_ptr<int>(alive_)] {
        if (!alive.expired()) supervisor_ended(run, std::nullopt);
      });
    } else {
      run->pidfd = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
      run->pidfd->async_wait(
          asio::posix::stream_descriptor::wait_read,
          [this, run, alive = std::weak_ptr<int>(alive_)](boost::system::error_code) {
            if (!alive.expired()) supervisor_ended(run, std::nullopt);
          });
    }
    return id;
  }

  RunId start(RunSpec spec, std::function<void(const RunResult&)> done) override {
    RunId id = next_id_++;
    auto fail_now = [&](std::string why) { return failed_to_start(id, done, std::move(why)); };
    if (spec.argv.empty()) return fail_now("nothing to run");

    bp::filesystem::path exe = spec.argv[0];
    if (spec.argv[0].find('/') == std::string::npos) {
      // Looked up in the PATH the child will have, not the daemon's.
      std::vector<bp::environment::key_value_pair> child_env;
      for (const auto& [k, v] : spec.env)
        child_env.emplace_back(k + "=" + v);
      exe = bp::environment::find_executable(spec.argv[0], child_env);
      if (exe.empty()) {
        auto path = spec.env.count("PATH") ? spec.env.at("PATH") : std::string("(no PATH)");
        return fail_now("cannot find '" + spec.argv[0] + "' in PATH (" + path + ")");
      }
    } else if (::access(exe.c_str(), X_OK) != 0) {
      return fail_now("'" + spec.argv[0] + "' is not an executable file");
    }

    if (spec.outlives_daemon && !options_.supervisor.empty()) {
      return start_supervised(id, exe, std::move(spec), std::move(done));
    }
    auto sink = LogSink::open(spec.log, spec.log_limit);
    if (!sink) return fail_now(sink.error().message);

    auto run = std::make_shared<Run>(io_, id, std::move(spec), std::move(*sink), std::move(done));
    asio::writable_pipe write_end(io_);
    boost::system::error_code ec;
    asio::connect_pipe(run->pipe, write_end, ec);
    // From here `done` is the run's: a failure takes it back, so that it is called exactly once.
    if (ec) {
      done = std::move(run->done);
      return fail_now("cannot make a pipe: " + ec.message());
    }

    std::vector<std::string> env;
    for (const auto& [k, v] : run->spec.env)
      env.push_back(k + "=" + v);
    std::vector<std::string> args(run->spec.argv.begin() + 1, run->spec.argv.end());
    if (auto mem = read_meminfo()) run->result.host_used_at_start = mem->used();
    run->result.host_peak_used = run->result.host_used_at_start;
    run->started = Clock::now();
    try {
      run->proc = std::make_unique<bp::process>(
          io_.get_executor(), exe, args,
          run->spec.stdin_file.empty()
              ? bp::process_stdio{nullptr, write_end, write_end}
              : bp::process_stdio{bp::filesystem::path(run->spec.stdin_file.string()), write_end,
                                  write_end},
          bp::process_environment(env), bp::process_start_dir(run->spec.cwd.string()),
          ChildSetup<ChildGroup::kSession>{});
    } catch (const std::exception& e) {
      // execve failed in the child (a script whose interpreter is missing, say).
      done = std::move(run->done);
      return fail_now("cannot execute " + run->spec.argv[0] + ": " + e.what());
    }
    write_end.close();  // the child holds the only write end now: EOF when it (and its group) ends
    run->result.pid = run->proc->id();
    run->result.pgid = run->proc->id();
    runs_[id] = run;

    read(run);
    run->proc->async_wait([this, run](boost::system::error_code, int) {
      on_exit(run, run->proc->native_exit_code());
    });
    if (run->spec.wall_timeout.count() > 0) {
      run->wall.expires_after(run->spec.wall_timeout);
      run->wall.async_wait([this, run](boost::system::error_code e) {
        if (!e) kill(run, Ending::kTimedOut);
      });
    }
    arm_silence(run);
    sample(run, /*now=*/false);
    return id;
  }

  // `done` is told, later, that run `id` could not start, and why.
  RunId failed_to_start(RunId id, std::function<void(const RunResult&)>& done, std::string why) {
    RunResult r;
    r.ending = Ending::kFailedToStart;
    r.error = std::move(why);
    asio::post(io_, [done = std::move(done), r] { done(r); });
    return id;
  }

  RunId start_supervised(RunId id, const bp::filesystem::path& exe, RunSpec spec,
                         std::function<void(const RunResult&)> done) {
    auto fail_now = [&](std::string why) { return failed_to_start(id, done, std::move(why)); };
    // The log exists before the supervisor does, so that the watch sees every write, and no
    // status of an earlier run of the same name is taken for this one's.
    {
      UniqueFd fd(::open(spec.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
      if (fd.get() < 0) {
        return fail_now("cannot create the log " + spec.log.string() + ": " + std::strerror(errno) +
                        " (check that the state directory exists and is writable by tvd)");
      }
    }
    std::error_code gone;
    std::filesystem::remove(status_path(spec.log), gone);
    auto argv = supervisor_argv(options_.supervisor, exe.string(), spec, options_.grace);
    std::vector<std::string> env;
    for (const auto& [k, v] : spec.env)
      env.push_back(k + "=" + v);
    auto run = std::make_shared<Run>(io_, id, std::move(spec), std::nullopt, std::move(done));
    run->supervised = true;
    run->started = Clock::now();
    try {
      run->proc = std::make_unique<bp::process>(
          io_.get_executor(), bp::filesystem::path(argv[0]),
          std::vector<std::string>(argv.begin() + 1, argv.end()),
          bp::process_stdio{nullptr, nullptr, STDERR_FILENO}, bp::process_environment(env),
          bp::process_start_dir(run->spec.cwd.string()), ChildSetup<ChildGroup::kSession>{});
    } catch (const std::exception& e) {
      done = std::move(run->done);
      return fail_now("cannot execute the supervisor " + argv[0] + ": " + e.what());
    }
    run->result.pid = run->result.pgid = run->proc->id();
    runs_[id] = run;
    watch(run);
    run->proc->async_wait(
        [this, run, alive = std::weak_ptr<int>(alive_)](boost::system::error_code, int) {
          // A runner that went left the run to run on: nothing to report, to no one.
          if (!alive.expired()) supervisor_ended(run, run->proc->native_exit_code());
        });
    return id;
  }

  void cancel(RunId id) override {
    auto it = runs_.find(id);
    if (it != runs_.end()) kill(it->second, Ending::kCancelled);
  }

  void set_output_observer(std::function<void(RunId)> observer) override {
    output_observer_ = std::move(observer);
  }

  std::optional<pid_t> process_group(RunId id) const override {
    auto it = runs_.find(id);
    if (it == runs_.end()) return std::nullopt;
    return it->second->result.pgid;
  }

 private:
  void read(const std::shared_ptr<Run>& run) {
    run->pipe.async_read_some(asio::buffer(run->buf),
                              [this, run](boost::system::error_code ec, size_t n) {
                                if (n > 0) {
                                  run->sink->append(std::string_view(run->buf, n));
                                  arm_silence(run);
                                  if (output_observer_) output_observer_(run->id);
                                }
                                if (ec) {
                                  run->drained = true;
                                  maybe_finish(run);
                                  return;
                                }
                                read(run);
                              });
  }

  void arm_silence(const std::shared_ptr<Run>& run) {
    if (run->spec.silence_timeout.count() <= 0 || run->exited) return;
    run->silence.expires_after(run->spec.silence_timeout);
    run->silence.async_wait([this, run](boost::system::error_code e) {
      if (!e) kill(run, Ending::kSilent);
    });
  }

  // The first sample one period after the start: a start costs nothing but the spawn, and the
  // short runs (git, most publishes) are never sampled.
  void sample(const std::shared_ptr<Run>& run, bool now = true) {
    if (run->exited) return;
    if (now) {
      run->result.peak_group_rss =
          std::max(run->result.peak_group_rss, group_rss(run->result.pgid));
      if (auto mem = read_meminfo()) {
        run->result.host_peak_used = std::max(run->result.host_peak_used, mem->used());
      }
    }
    run->sampler.expires_after(run->spec.sample_every);
    run->sampler.async_wait([this, run](boost::system::error_code e) {
      if (!e) sample(run);
    });
  }

  // SIGTERM to the group now, SIGKILL after the grace period (the supervisor's own, then ours).
  void kill(const std::shared_ptr<Run>& run, Ending why) {
    if (run->exited || run->killed_because) return;
    run->killed_because = why;
    // The supervisor passes it to the rest of its group, once.
    ::kill(run->supervised ? run->result.pid : -run->result.pgid, SIGTERM);
    run->grace.expires_after(run->supervised ? options_.grace + std::chrono::seconds(5)
                                             : options_.grace);
    run->grace.async_wait([run](boost::system::error_code e) {
      if (!e) ::kill(-run->result.pgid, SIGKILL);
    });
  }

  void on_exit(const std::shared_ptr<Run>& run, int status) {
    run->exited = true;
    if (WIFEXITED(status)) {
      run->result.ending = Ending::kExited;
      run->result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      run->result.ending = Ending::kSignaled;
      run->result.signal = WTERMSIG(status);
    }
    if (run->killed_because) run->result.ending = *run->killed_because;
    // No orphan survives: whatever the leader left behind in its group goes with it, and its
    // end closes the pipe.
    ::kill(-run->result.pgid, SIGKILL);
    run->wall.cancel();
    run->silence.cancel();
    run->sampler.cancel();
    // A descendant that left the group (setsid) could hold the pipe open for ever: give the
    // output a few seconds to drain, then stop reading.
    run->grace.expires_after(std::chrono::seconds(5));
    run->grace.async_wait([run](boost::system::error_code e) {
      if (!e) run->pipe.close();
    });
    maybe_finish(run);
  }

  void maybe_finish(const std::shared_ptr<Run>& run) {
    if (!run->exited || !run->drained || run->reported) return;
    run->reported = true;
    run->grace.cancel();
    run->sink->finish(run->spec.sync_log);
    run->result.duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - run->started);
    run->result.output_bytes = run->sink->total();
    run->result.log_truncated = run->sink->truncated();
    run->result.tail = run->sink->last_output();
    runs_.erase(run->id);
    auto done = std::move(run->done);
    done(run->result);
  }

  // The supervisor ended (`native`: its wait status, when it was our child): the run's result is
  // the status it left beside the log; none means it was killed before it could write one.
  void supervisor_ended(const std::shared_ptr<Run>& run, std::optional<int> native) {
    if (run->reported) return;
    run->reported = run->exited = true;
    run->grace.cancel();
    unwatch(*run);
    RunResult r;
    auto text = read_file(status_path(run->spec.log));
    if (auto parsed = text ? parse_status(*text) : std::nullopt) {
      r = std::move(*parsed);
    } else {
      r.ending = Ending::kSignaled;
      r.signal = native && WIFSIGNALED(*native) ? WTERMSIG(*native) : SIGKILL;
      r.error = "its supervisor (tvd-run) ended without saying how the run ended";
      r.duration =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - run->started);
      // What may be left of its group goes with it.
      ::kill(-run->result.pgid, SIGKILL);
    }
    if (run->killed_because) r.ending = *run->killed_because;
    r.pid = run->result.pid;
    r.pgid = run->result.pgid;
    r.tail = read_file_tail(run->spec.log, LogSink::kTailForReasons);
    runs_.erase(run->id);
    auto done = std::move(run->done);
    done(r);
  }

  // The log's growth, seen through one inotify descriptor for every supervised run.
  void watch(const std::shared_ptr<Run>& run) {
    if (inotify_ < 0) {
      inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
      if (inotify_ < 0) return;  // no live output; the end is still seen
      inotify_events_ = std::make_unique<asio::posix::stream_descriptor>(io_, ::dup(inotify_));
      read_inotify();
    }
    run->watch = ::inotify_add_watch(inotify_, run->spec.log.c_str(), IN_MODIFY);
    if (run->watch >= 0) watched_[run->watch] = run->id;
  }

  void unwatch(Run& run) {
    if (run.watch < 0) return;
    ::inotify_rm_watch(inotify_, run.watch);
    watched_.erase(run.watch);
    run.watch = -1;
  }

  void read_inotify() {
    inotify_events_->async_read_some(
        asio::buffer(inotify_buf_),
        [this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec, size_t n) {
          if (ec || alive.expired()) return;
          std::set<RunId> written;
          for (size_t at = 0; at + sizeof(inotify_event) <= n;) {
            inotify_event ev;
            std::memcpy(&ev, inotify_buf_ + at, sizeof ev);
            if (auto it = watched_.find(ev.wd); it != watched_.end()) written.insert(it->second);
            at += sizeof(inotify_event) + ev.len;
          }
          for (RunId id : written) {
            if (output_observer_ && runs_.count(id)) output_observer_(id);
          }
          read_inotify();
        });
  }

  asio::io_context& io_;
  ProcessRunnerOptions options_;
  // Handlers of supervised runs may outlive the runner (the runs do): they check it is alive.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  int inotify_ = -1;
  std::unique_ptr<asio::posix::stream_descriptor> inotify_events_;
  std::map<int, RunId> watched_;
  alignas(inotify_event) char inotify_buf_[4096];
  std::function<void(RunId)> output_observer_;
  std::map<RunId, std::shared_ptr<Run>> runs_;
  RunId next_id_ = 1;
};

}  // namespace

std::unique_ptr<Runner> make_process_runner(asio::io_context& io, ProcessRunnerOptions options) {
  return std::make_unique<ProcessRunner>(io, options);
}

}  // namespace tvd::exec
