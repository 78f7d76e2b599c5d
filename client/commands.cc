#include "client/session.h"

#include <chrono>
#include <csignal>
#include <sstream>
#include <thread>

#include "client/connection.h"
#include "client/following.h"
#include "daemon/base/table.h"
#include "daemon/base/units.h"

namespace tvd::client {

using nlohmann::json;

namespace {

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
