// tvctl's commands that follow the daemon over time: watch, logs -f, and pause/resume/drain (a
// drain waits until nothing runs). Each waits for the daemon through a restart of it.
#include "client/following.h"

#include <thread>

#include "client/connection.h"

namespace tvd::client {

using nlohmann::json;

volatile std::sig_atomic_t interrupted = 0;

// Sleeps `seconds` in small steps; false when interrupted (SIGINT).
bool pause_for(double seconds) {
  for (int i = 0; i < static_cast<int>(seconds * 10) && !interrupted; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return !interrupted;
}

// pause, resume, drain: whether new builds start. drain then waits until nothing runs (for an
// upgrade: what ran has ended, nothing new started).
int run_pause(const std::string& name, Global& g, const Options& o, std::ostream& out,
              std::ostream& err, bool terminal) {
  (void)o;
  (void)terminal;
  int code = 0;
  auto r = call(g, proto::PauseRequest{.mode = name}, err, code);
  if (!r) return code;
  auto v = view_of<proto::StatusView>(*r, err, code);
  if (!v) return code;
  if (name != "drain") {
    if (g.json) {
      out << r->dump(2) << '\n';
    } else if (v->paused) {
      out << "paused: no build starts until 'tvctl resume' (running builds go on; the pause is "
             "kept across restarts)\n";
    } else {
      out << "resumed: builds start again\n";
    }
    return 0;
  }
  // Until no build or publish runs.
  g.timeout = 30;
  std::signal(SIGINT, [](int) { interrupted = 1; });
  bool said = false;
  for (;;) {
    size_t running = 0;
    for (const auto& j : v->jobs) {
      const auto s = j.job_state();
      running += s == proto::JobState::kBuilding || s == proto::JobState::kPublishing;
    }
    if (running == 0) break;
    if (!said) {
      out << "draining: " << running
          << " job(s) still running; nothing new starts. Waiting for them to end…\n";
      out.flush();
      said = true;
    }
    if (!pause_for(2)) return 130;
    auto again = call(g, proto::StatusRequest{}, err, code);
    if (!again) return code;
    v = view_of<proto::StatusView>(*again, err, code);
    if (!v) return code;
  }
  out << "drained: nothing runs and nothing new starts; tvd can be stopped or upgraded (after "
         "its restart builds start again)\n";
  return 0;
}

// watch: status, redrawn until interrupted (or --count times).
int run_watch(const std::string& name, Global& g, const Options& o, std::ostream& out,
              std::ostream& err, bool terminal) {
  (void)name;
  int code = 0;
  // Redraws status until interrupted (or `count` times, for scripts), waiting as long as the
  // daemon takes.
  g.timeout = 0;
  static volatile std::sig_atomic_t stop = 0;
  std::signal(SIGINT, [](int) {
    stop = 1;
    interrupted = 1;
  });
  bool away = false;  // a restart of the daemon is waited for, and watching goes on
  for (int n = 0; !stop && (o.watch_count == 0 || n < o.watch_count); ++n) {
    auto r = call_through_restarts(g, proto::StatusRequest{}, err, code, away);
    if (!r) return code;
    auto v = view_of<proto::StatusView>(*r, err, code);
    if (!v) return code;
    if (terminal) out << "\033[H\033[2J";
    print_status(g, *v, out);
    out.flush();
    for (int i = 0; i < static_cast<int>(o.watch_interval * 10) && !stop; ++i) {
      if (o.watch_count != 0 && n + 1 == o.watch_count) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return 0;
}

// logs [-f]: a slice, or every slice until the job ends, attempt after attempt.
int run_logs(const std::string& name, Global& g, const Options& o, std::ostream& out,
             std::ostream& err, bool terminal) {
  (void)name;
  (void)terminal;
  int code = 0;
  auto path = socket_path(g);
  if (!path) return fail_with(path.error(), err, 2);
  std::optional<int64_t> offset;  // none: the last 64 KiB
  if (o.full) offset = 0;
  std::optional<int> attempt;
  if (o.attempt > 0) attempt = o.attempt;
  std::optional<int> shown_attempt;  // following goes on from one attempt's log to the next
  bool any = false;                  // a slice was read: a lost daemon is then waited for
  std::signal(SIGINT, [](int) { interrupted = 1; });
  for (;;) {
    // Following a log waits for lines as long as the build runs: no reply timeout then.
    auto conn = Connection::open(*path, std::chrono::seconds(o.follow ? 0 : g.timeout));
    const proto::LogsRequest request{
        .job = o.job, .offset = offset, .attempt = attempt, .follow = o.follow};
    auto reply = conn ? conn->call(std::string(request.kOp), proto::to_args(request))
                      : tl::unexpected(conn.error());
    bool lost = false;
    while (true) {
      if (!reply) {
        // The daemon went away while following (a restart): follow again where it was.
        if (o.follow && any) {
          lost = true;
          break;
        }
        return fail_with(reply.error(), err, 3);
      }
      if (!reply->ok) {
        return fail_with({ErrorKind::kBadInput, reply->error->message, reply->error->hint}, err,
                         proto::exit_code(reply->error->code));
      }
      auto slice = view_of<proto::LogSliceView>(reply->result, err, code);
      if (!slice) return code;
      if (g.json) {
        out << reply->result.dump() << '\n';
      } else {
        if (shown_attempt && slice->attempt && slice->attempt != shown_attempt) {
          out << "\n--- attempt " << *slice->attempt << " (" << slice->phase.value_or("")
              << ") ---\n";
        }
        out << slice->text;
      }
      if (slice->attempt) shown_attempt = slice->attempt;
      any = true;
      out.flush();
      // Where to go on from: this attempt, past what was read.
      offset = slice->offset;
      attempt = shown_attempt;
      if (!reply->more) {
        // A whole log without following: slice after slice until nothing more comes.
        if (!o.follow && o.full && !slice->text.empty()) break;
        return 0;
      }
      reply = conn->next_reply();
    }
    if (lost) {
      err << "tvctl: the daemon went away; following again when it is back\n";
      bool away = true;
      while (away) {
        if (!pause_for(2)) return 130;
        away = !Connection::open(*path, std::chrono::seconds(5));
      }
      err << "tvctl: the daemon answers again\n";
    }
  }
}

}  // namespace tvd::client
