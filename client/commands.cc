#include "client/session.h"

#include <chrono>
#include <csignal>
#include <sstream>
#include <thread>

#include "client/connection.h"
#include "daemon/base/table.h"
#include "daemon/base/units.h"

namespace tvd::client {

using nlohmann::json;

namespace {

volatile std::sig_atomic_t interrupted = 0;

// Sleeps `seconds` in small steps; false when interrupted (SIGINT).
bool pause_for(double seconds) {
  for (int i = 0; i < static_cast<int>(seconds * 10) && !interrupted; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return !interrupted;
}

// One request as `call` makes it, but a daemon that does not answer (a restart, an upgrade) is
// waited for, saying so once, for up to an hour; nullopt with `code` set otherwise.
template <class Request>
std::optional<json> call_through_restarts(const Global& g, const Request& r, std::ostream& err,
                                          int& code, bool& away) {
  const auto since = std::chrono::steady_clock::now();
  for (;;) {
    std::ostringstream said;
    auto reply = call(g, r, said, code);
    if (reply) {
      if (away) err << "tvctl: the daemon answers again\n";
      away = false;
      return reply;
    }
    if (code != 3) {
      err << said.str();
      return std::nullopt;
    }
    if (!away) {
      std::string first = said.str();
      first = first.substr(0, first.find('\n'));
      err << first << "\ntvctl: waiting for the daemon to come back (a restart loses no job)\n";
    }
    away = true;
    if (std::chrono::steady_clock::now() - since > std::chrono::hours(1)) return std::nullopt;
    if (!pause_for(2)) {
      code = 130;
      return std::nullopt;
    }
  }
}

// --wait: follows the jobs (through their batch when there is one) until each has ended, printing
// each as it ends; 1 if any failed (a cancel is not a failure), 130 when interrupted.
int wait_for_jobs(Global g, const proto::EnqueueView& v, std::ostream& out, std::ostream& err) {
  g.timeout = 30;
  std::signal(SIGINT, [](int) { interrupted = 1; });
  std::map<int64_t, std::string> ended;  // job -> its end
  std::map<std::string, int> counts;
  bool away = false;
  int code = 0;
  while (ended.size() < v.jobs.size()) {
    for (const auto& j : v.jobs) {
      if (ended.count(j.id)) continue;
      auto r = call_through_restarts(g, proto::ShowRequest{.job = j.id}, err, code, away);
      if (!r) return code;
      auto d = view_of<proto::JobDetailView>(*r, err, code);
      if (!d) return code;
      const auto state = d->job.job_state();
      if (!state || !proto::is_terminal(*state)) continue;
      ended[j.id] = d->job.state;
      ++counts[d->job.state];
      const std::string variant = d->job.environment == "default"
                                      ? d->job.package
                                      : d->job.environment + "/" + d->job.package;
      out << "job " << j.id << " " << variant << ": " << d->job.state
          << (d->job.error.empty() ? "" : " (" + printable(d->job.error) + ")") << '\n';
      out.flush();
    }
    if (ended.size() < v.jobs.size() && !pause_for(2)) return 130;
  }
  out << counts["succeeded"] << " succeeded, " << counts["failed"] << " failed, "
      << counts["cancelled"] << " cancelled" << '\n';
  return counts["failed"] > 0 ? 1 : 0;
}

}  // namespace

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

// enqueue: the jobs and what was skipped; exit 1 when a new job failed at once.
int run_enqueue(const std::string& name, Global& g, const Options& o, std::ostream& out,
                std::ostream& err, bool terminal) {
  (void)name;
  (void)terminal;
  int code = 0;
  auto r = call(g,
                proto::EnqueueRequest{.specs = o.specs,
                                      .all = o.all,
                                      .batch = o.batch,
                                      .priority = o.priority,
                                      .force = o.force,
                                      .no_publish = o.no_publish},
                err, code);
  if (!r) return code;
  if (g.json) {
    out << r->dump(2) << '\n';
    if (!o.wait) return 0;
    auto v = view_of<proto::EnqueueView>(*r, err, code);
    if (!v) return code;
    std::ostringstream progress;  // the JSON alone goes to stdout; the exit code is the result
    return wait_for_jobs(g, *v, progress, err);
  }
  auto v = view_of<proto::EnqueueView>(*r, err, code);
  if (!v) return code;
  print_jobs(g, v->jobs, {}, out);
  for (const auto& [pkg, why] : v->skipped)
    out << "skipped " << pkg << ": " << why << '\n';
  size_t created = 0, failed = 0;
  for (const auto& j : v->jobs) {
    const bool is_new = j.created.value_or(false);
    created += is_new;
    failed += is_new && j.job_state() == proto::JobState::kFailed;  // its recipe would fail
  }
  out << '\n'
      << created - failed << " queued, " << v->jobs.size() - created
      << " already queued or running, " << v->skipped.size() << " skipped";
  if (failed) out << ", " << failed << " failed at once ('tvd check' says why)";
  out << '\n';
  if (v->batch_id) {
    const bool joined = v->batch_joined.value_or(false);
    out << (joined ? "joined batch " : "batch ") << *v->batch_id
        << (joined ? " (it was still running)" : "") << ": 'tvctl show-batch " << *v->batch_id
        << "' follows it\n";
  }
  if (o.wait) {
    out.flush();
    const int waited = wait_for_jobs(g, *v, out, err);
    return failed ? 1 : waited;
  }
  return failed ? 1 : 0;
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

// status: what runs, what waits and why, what finished.
int run_status(const std::string& name, Global& g, const Options& o, std::ostream& out,
               std::ostream& err, bool terminal) {
  (void)name;
  (void)o;
  (void)terminal;
  int code = 0;
  auto r = call(g, proto::StatusRequest{}, err, code);
  if (!r) return code;
  if (g.json) {
    out << r->dump(2) << '\n';
    return 0;
  }
  auto v = view_of<proto::StatusView>(*r, err, code);
  if (!v) return code;
  print_status(g, *v, out);
  return 0;
}

// show: a job and its attempts; exit 1 when it failed.
int run_show(const std::string& name, Global& g, const Options& o, std::ostream& out,
             std::ostream& err, bool terminal) {
  (void)name;
  (void)terminal;
  int code = 0;
  auto r = call(g, proto::ShowRequest{.job = o.job}, err, code);
  if (!r) return code;
  if (g.json) {
    out << r->dump(2) << '\n';
    return 0;
  }
  auto v = view_of<proto::JobDetailView>(*r, err, code);
  if (!v) return code;
  print_jobs(g, {v->job}, {}, out);
  out << '\n';
  // Where each build ran, when builds run on more than the host.
  bool elsewhere = false;
  for (const auto& a : v->attempts)
    elsewhere = elsewhere || (a.builder && *a.builder != "local");
  std::vector<std::string> head = {"ATTEMPT", "PHASE", "OUTCOME", "STARTED"};
  if (elsewhere) head.push_back("BUILDER");
  head.insert(head.end(), {"LOG", "REASON"});
  Table t(head);
  for (const auto& a : v->attempts) {
    std::vector<std::string> row = {std::to_string(a.number), a.phase,
                                    a.outcome.value_or("running"), ago(a.started_at)};
    if (elsewhere) row.push_back(a.builder.value_or(""));
    row.insert(row.end(), {a.log, printable(a.reason)});
    t.add(row);
  }
  t.print(out);
  return v->job.job_state() == proto::JobState::kFailed ? 1 : 0;
}

// matrix and generate: one line per recipe.
int run_recipes(const std::string& name, Global& g, const Options& o, std::ostream& out,
                std::ostream& err, bool terminal) {
  (void)terminal;
  int code = 0;
  auto r = name == "matrix"
               ? call(g, proto::MatrixRequest{}, err, code)
               : call(g,
                      proto::GenerateRequest{
                          .specs = o.specs, .all = o.all, .dry_run = o.dry_run, .force = o.force},
                      err, code);
  if (!r) return code;
  if (g.json) {
    out << r->dump(2) << '\n';
    return 0;
  }
  std::vector<proto::RecipeView> list;
  if (name == "matrix") {
    auto v = view_of<proto::MatrixView>(*r, err, code);
    if (!v) return code;
    list = std::move(v->cells);
  } else {
    auto v = view_of<proto::GenerateView>(*r, err, code);
    if (!v) return code;
    list = std::move(v->recipes);
  }
  Table t(name == "matrix" ? std::vector<std::string>{"VARIANT", "RECIPE", "GPU TARGET", "NOTE"}
                           : std::vector<std::string>{"OUTCOME", "VARIANT", "GPU TARGET", "NOTE"});
  for (const auto& c : list) {
    std::string note;
    for (const auto& e : c.excluded)
      note += (note.empty() ? "excluded: " : "; ") + e;
    size_t errors = 0;
    std::string first;
    for (const auto& f : c.findings) {
      if (f.severity != "error") continue;
      if (errors++ == 0) first = f.what;
    }
    if (errors) {
      note += (note.empty() ? "" : "; ") + ("recipe would fail: " + first) +
              (errors > 1 ? " (and " + std::to_string(errors - 1) + " more errors)" : "");
    }
    const std::string target = c.gpu_target.value_or("-");
    t.add({name == "matrix" ? c.package : c.outcome.value_or(""),
           name == "matrix" ? c.state : c.package, target, note});
  }
  t.print(out);
  return 0;
}

// batches and show-batch.
int run_batches(const std::string& name, Global& g, const Options& o, std::ostream& out,
                std::ostream& err, bool terminal) {
  (void)terminal;
  int code = 0;
  auto r = name == "batches" ? call(g, proto::BatchesRequest{}, err, code)
                             : call(g, proto::ShowBatchRequest{.batch = o.batch_id}, err, code);
  if (!r) return code;
  if (g.json) {
    out << r->dump(2) << '\n';
    return 0;
  }
  auto line = [&](const proto::BatchView& b) {
    // Variants by outcome (what the night means for the matrix), then its jobs by state.
    std::string variants;
    for (const auto& [outcome, n] : b.variants_by_outcome)
      variants += (variants.empty() ? "" : ", ") + std::to_string(n) + " " + outcome;
    std::string states;
    for (const auto& [state, n] : b.states)
      states += (states.empty() ? "" : ", ") + std::to_string(n) + " " + state;
    std::string took =
        b.duration_s ? format_duration(std::chrono::seconds(*b.duration_s)) : "running";
    return std::vector<std::string>{
        std::to_string(b.id), b.name, "started " + ago(b.started_at), took, variants, states};
  };
  Table t({"BATCH", "NAME", "WHEN", "TOOK", "VARIANTS", "JOBS"});
  if (name == "batches") {
    auto v = view_of<proto::BatchesView>(*r, err, code);
    if (!v) return code;
    for (const auto& b : v->batches)
      t.add(line(b));
    t.print(out);
    return 0;
  }
  auto v = view_of<proto::BatchDetailView>(*r, err, code);
  if (!v) return code;
  t.add(line(v->batch));
  t.print(out);
  for (const auto& [variant, why] : v->skipped)
    out << "skipped " << variant << ": " << why << '\n';
  if (v->previous) {
    out << "previous: batch " << v->previous->id;
    if (v->previous->duration_s && v->batch.duration_s) {
      out << ", which took " << format_duration(std::chrono::seconds(*v->previous->duration_s));
    }
    out << '\n';
    for (const auto& variant : v->newly_failing)
      out << "newly failing: " << variant << '\n';
    for (const auto& variant : v->fixed)
      out << "fixed: " << variant << '\n';
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

// cancel and retry: the jobs as they are now.
int run_cancel_or_retry(const std::string& name, Global& g, const Options& o, std::ostream& out,
                        std::ostream& err, bool terminal) {
  (void)terminal;
  int code = 0;
  auto usage = [&](const std::string& what) {
    err << "tvctl: error: " << what << "\n  hint: tvctl " << name << " --help\n";
    return 2;
  };
  const bool by_batch = o.batch_id > 0;
  if (name == "cancel" && o.jobs.empty() == !by_batch) {
    return usage(by_batch ? "give job ids or --batch, not both" : "give job ids, or --batch ID");
  }
  if (name == "retry" && (o.job > 0) == o.failed) {
    return usage(o.failed ? "give a job id or --failed, not both" : "give a job id, or --failed");
  }
  if (name == "retry" && by_batch && !o.failed) return usage("--batch goes with --failed");
  std::optional<int64_t> batch;
  if (by_batch) batch = o.batch_id;
  auto r = name == "cancel"
               ? call(g, proto::CancelRequest{.jobs = o.jobs, .batch = batch}, err, code)
               : call(g, proto::RetryRequest{.job = o.job, .failed = o.failed, .batch = batch}, err,
                      code);
  if (!r) return code;
  if (g.json) {
    out << r->dump(2) << '\n';
    return 0;
  }
  if (name == "retry" && o.failed) {
    auto v = view_of<proto::EnqueueView>(*r, err, code);
    if (!v) return code;
    print_jobs(g, v->jobs, {}, out);
    for (const auto& [variant, why] : v->skipped)
      out << "not retried " << variant << ": " << printable(why) << '\n';
    out << '\n' << v->jobs.size() << " retried, " << v->skipped.size() << " not\n";
    return v->jobs.empty() ? 1 : 0;
  }
  if (name == "cancel") {
    auto v = view_of<proto::JobsView>(*r, err, code);
    if (!v) return code;
    print_jobs(g, v->jobs, {}, out);
  } else {
    auto v = view_of<proto::RetryView>(*r, err, code);
    if (!v) return code;
    print_jobs(g, {v->job}, {}, out);
  }
  return 0;
}

}  // namespace tvd::client
