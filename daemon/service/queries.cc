// What the service answers about its work, read from the store (the truth for anything that
// is not running) and, for running builds, from the engine: status, a job, its log, the matrix,
// batches. Nothing here changes state.
#include <algorithm>
#include <fstream>
#include <set>

#include "daemon/base/units.h"
#include "daemon/matrix/spec.h"
#include "daemon/service/host_config.h"
#include "daemon/service/persist.h"
#include "daemon/service/recipe_view.h"
#include "daemon/service/service.h"

namespace tvd::service {

using nlohmann::json;

proto::JobView job_view(const store::JobRow& j) {
  proto::JobView v;
  v.id = j.id;
  v.package = j.package;
  v.environment = j.environment;
  v.state = kJobStates.name(j.state);
  v.phase = kJobPhases.name(j.phase);
  v.origin = proto::kOrigins.name(j.origin);
  v.priority = j.priority;
  v.publish = j.publish;
  v.build_tries = j.build_tries;
  v.publish_tries = j.publish_tries;
  v.enqueued_at = j.enqueued_at;
  v.started_at = j.started_at;
  v.finished_at = j.finished_at;
  v.error = j.error;
  v.note = j.note;
  if (j.failure != flox::Failure::kNone) v.failure = flox::kFailures.name(j.failure);
  v.output = j.output;
  return v;
}

proto::StatusView Service::status() {
  proto::StatusView out;
  std::map<int64_t, const sched::Running*> running;
  auto now_running = engine_->scheduler().running();
  for (const auto& r : now_running)
    running[static_cast<int64_t>(r.id)] = &r;
  if (auto rows = store_.recent_jobs(20)) {
    // Every variant whose newest job failed stays in view until it succeeds or is cancelled,
    // after the active jobs, however many jobs finished since.
    if (auto failing = store_.failing_jobs()) {
      std::set<int64_t> shown;
      for (const auto& r : *rows)
        shown.insert(r.id);
      auto first_finished = std::find_if(
          rows->begin(), rows->end(), [](const store::JobRow& r) { return is_terminal(r.state); });
      std::vector<store::JobRow> extra;
      for (auto& f : *failing)
        if (!shown.count(f.id)) extra.push_back(std::move(f));
      rows->insert(first_finished, extra.begin(), extra.end());
    }
    // Changes that wait to be written are newer than the store's rows (recorder.h).
    for (auto& r : *rows) {
      if (const Change* c = recorder_->waiting(r.id)) r = c->job;
    }
    for (const auto& r : *rows) {
      proto::JobView j = job_view(r);
      if (auto it = running.find(r.id); it != running.end()) {
        // The expected end, from this variant's history (or its kind's, or the default).
        j.expected_s = it->second->expected.count();
        j.eta_at = unix_seconds(it->second->started + it->second->expected);
        if (const Job* job = engine_->job(static_cast<JobId>(r.id))) {
          const auto source = engine_->estimator()
                                  .estimate(it->second->variant, kind_of(job->variant))
                                  .duration_source;
          j.expected_from = source == "measured"       ? "history"
                            : source == "kind average" ? "kind"
                                                       : "default";
        }
        j.reserved = it->second->reservation;
      }
      out.jobs.push_back(std::move(j));
    }
  }
  for (const auto& w : engine_->waiting())
    out.waiting[std::to_string(w.id)] = w.reason;
  // The summary counts every job in the store, not the rows shown.
  if (auto c = store_.job_counts()) out.summary = std::move(*c);
  const auto& limits = engine_->scheduler().limits();
  const auto host = measure_host(setup_.config);
  for (const auto& d : host.disks)
    out.disks.push_back({d.path, d.free_bytes});
  out.memory = {engine_->scheduler().reserved(), limits.memory_budget, limits.max_parallel};
  out.gates = engine_->scheduler().gate_notes(host);
  // Each builder's use, when builds run beyond the host.
  const auto builders = engine_->scheduler().builders();
  if (builders.size() > 1 || (builders.size() == 1 && !builders[0].local)) {
    const auto runs = engine_->scheduler().running();
    for (const auto& b : builders) {
      unsigned busy = 0;
      for (const auto& r : runs)
        busy += r.builder == b.name;
      out.builders.push_back({b.name, b.systems, b.slots, busy,
                              engine_->scheduler().reserved(b.name), b.budget, b.reachable});
    }
  }
  if (!store_note_.empty()) out.gates.insert(out.gates.begin(), store_note_);
  out.paused = paused_;
  if (auto t = recorder_->trouble()) {
    out.gates.insert(out.gates.begin(),
                     "the store cannot be written since " + format_utc(unix_seconds(t->since)) +
                         " (" + t->error + "): changes of " + std::to_string(t->waiting) +
                         " job(s) wait, and nothing starts until they are recorded");
  }
  return out;
}

Result<proto::JobDetailView> Service::show(JobId id) {
  auto row = job_row(static_cast<int64_t>(id));
  if (!row) return tl::unexpected(row.error());
  if (!*row)
    return fail(ErrorKind::kNotFound, "no job " + std::to_string(id),
                "'tvctl status' lists the jobs");
  proto::JobDetailView out{job_view(**row), {}};
  if (auto attempts = attempt_rows(static_cast<int64_t>(id))) {
    for (const auto& a : *attempts) {
      std::optional<std::string> outcome;
      if (a.outcome) outcome = proto::kAttemptOutcomes.name(*a.outcome);
      out.attempts.push_back({a.number, std::string(kJobPhases.name(a.phase)), a.started_at,
                              a.ended_at, outcome, a.reason, a.log_path, a.exit_code, a.peak_memory,
                              a.builder});
    }
  }
  return out;
}

Result<proto::LogSliceView> Service::logs(JobId id, int64_t offset, std::optional<int> attempt) {
  auto row = job_row(static_cast<int64_t>(id));
  if (!row) return tl::unexpected(row.error());
  if (!*row)
    return fail(ErrorKind::kNotFound, "no job " + std::to_string(id),
                "'tvctl status' lists the jobs");
  auto attempts = attempt_rows(static_cast<int64_t>(id));
  if (!attempts) return tl::unexpected(attempts.error());
  const bool finished = (*row)->finished_at.has_value();
  if (attempts->empty()) {
    if (finished) return fail(ErrorKind::kNotFound, "job " + std::to_string(id) + " never ran");
    return proto::LogSliceView{};
  }
  auto it = std::prev(attempts->end());
  if (attempt) {
    it = std::find_if(attempts->begin(), attempts->end(),
                      [&](const store::AttemptRow& a) { return a.number == *attempt; });
    if (it == attempts->end()) {
      return fail(ErrorKind::kNotFound,
                  "job " + std::to_string(id) + " has no attempt " + std::to_string(*attempt),
                  "'tvctl show " + std::to_string(id) + "' lists its attempts");
    }
  }
  const auto& a = *it;
  const bool last = std::next(it) == attempts->end();
  std::error_code ec;
  int64_t size = static_cast<int64_t>(std::filesystem::file_size(a.log_path, ec));
  if (ec) size = 0;
  constexpr int64_t kTail = 64 * 1024, kChunk = 256 * 1024;
  if (offset < 0) offset = std::max<int64_t>(0, size - kTail);
  if (offset > size) offset = 0;  // the log was replaced: start it from the top
  std::string text;
  if (std::ifstream in(a.log_path, std::ios::binary); in && size > offset) {
    in.seekg(offset);
    text.resize(static_cast<size_t>(std::min(kChunk, size - offset)));
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
  }
  const int64_t next = offset + static_cast<int64_t>(text.size());
  const bool at_end = next >= size;
  proto::LogSliceView out;
  out.text = std::move(text);
  out.offset = next;
  out.done = finished && at_end && last;
  out.log = a.log_path;
  out.attempt = a.number;
  out.phase = kJobPhases.name(a.phase);
  // This attempt is over and was sent to its end: a follower goes on with the next one.
  if (!last && at_end && a.ended_at) out.next_attempt = std::next(it)->number;
  return out;
}

Result<Service::LogStep> Service::follow_logs(const LogCursor& at) {
  TRY_ASSIGN(proto::LogSliceView slice, logs(at.job, at.offset, at.attempt));
  LogStep step;
  step.done = slice.done;
  step.next = {at.job, slice.offset, slice.attempt ? slice.attempt : at.attempt};
  // Stay on an attempt to its end, then go on with the next one at once. Behind a live log, the
  // next slice is read as soon as the client took this one (the socket is the pace: as fast as
  // the client reads, as fast as the build writes); at its end, the follower waits until the
  // build writes again or the job changes (wake_on_log), or 10 s at most.
  std::error_code ec;
  const auto size = slice.log ? std::filesystem::file_size(*slice.log, ec) : 0;
  const bool behind = !ec && static_cast<int64_t>(size) > slice.offset;
  step.wait = behind ? std::chrono::milliseconds(0) : std::chrono::milliseconds(10'000);
  if (slice.next_attempt) {
    step.next.attempt = slice.next_attempt;
    step.next.offset = 0;
    step.wait = std::chrono::milliseconds(0);
  }
  step.slice = std::move(slice);
  return step;
}

std::optional<uint64_t> Service::wake_on_log(const LogCursor& at, std::function<void()> wake) {
  // What the follower has not seen yet, since its step was read (the reply was written to it in
  // between): the job ended, a new attempt, or more of the attempt's log.
  bool moved = true;
  if (const Job* j = engine_->job(at.job); j && !is_terminal(j->state)) {
    if (j->attempts.empty()) {
      moved = false;
    } else if (const Attempt& last = j->attempts.back(); at.attempt == last.number) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(last.log, ec);
      moved = !ec && static_cast<int64_t>(size) > at.offset;
    }
  }
  if (moved) return std::nullopt;
  const uint64_t ticket = next_ticket_++;
  log_waiters_.emplace(ticket, std::pair{at.job, std::move(wake)});
  return ticket;
}

void Service::wake_log_waiters(JobId job) {
  std::vector<std::function<void()>> woken;
  for (auto it = log_waiters_.begin(); it != log_waiters_.end();) {
    if (it->second.first == job) {
      woken.push_back(std::move(it->second.second));
      it = log_waiters_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& w : woken)
    w();
}

void Service::output_written(exec::RunId run) {
  // Nobody follows: nothing to look up (this runs for every chunk of every build's output).
  // Otherwise a few followers: each one's job is looked at.
  if (log_waiters_.empty()) return;
  std::vector<JobId> jobs;
  for (const auto& [ticket, waiter] : log_waiters_) {
    const Job* j = engine_->job(waiter.first);
    if (j && j->run == run) jobs.push_back(waiter.first);
  }
  for (JobId id : jobs)
    wake_log_waiters(id);
}

proto::MatrixView Service::matrix() {
  proto::MatrixView out;
  proto::MatrixView::Summary sum;
  bool any = false;
  for (const auto& e : setup_.environments) {
    auto reports = inspect_recipes(e.templates, recipe_env(e), e.cells());
    if (!reports) continue;
    any = true;
    for (const auto& r : *reports) {
      out.cells.push_back(recipe_view(r));
      sum.buildable += r.exclusions.empty();
      ++sum.cells;
    }
  }
  if (any) {
    sum.excluded = sum.cells - sum.buildable;
    out.summary = sum;
  }
  return out;
}

std::string Service::summary() const {
  // The active jobs as the engine has them, then what the store holds of the ended ones.
  std::map<JobState, int64_t> counts;
  for (const auto* j : engine_->jobs())
    counts[j->state]++;
  if (auto stored = store_.job_counts()) {
    for (const auto& [text, n] : *stored) {
      if (auto state = kJobStates.parse(text); state && is_terminal(*state)) counts[*state] = n;
    }
  }
  std::string out;
  for (JobState s : {JobState::kBuilding, JobState::kPublishing, JobState::kQueued,
                     JobState::kFailed, JobState::kSucceeded, JobState::kCancelled}) {
    if (counts[s])
      out += (out.empty() ? "" : ", ") + std::to_string(counts[s]) + " " + to_string(s);
  }
  return out.empty() ? "idle, no jobs" : out;
}

namespace {

proto::BatchView batch_view(const store::Store::BatchRow& b) {
  proto::BatchView v;
  v.id = b.id;
  v.name = b.name;
  v.started_at = b.started_at;
  v.finished_at = b.finished_at;
  if (b.finished_at) v.duration_s = *b.finished_at - b.started_at;
  v.states = b.states;
  v.skipped = static_cast<int64_t>(b.skipped.size());
  // Every variant by its outcome, when the row has its details.
  for (const auto& [variant, state] : b.variant_state)
    ++v.variants_by_outcome[state];
  for (const auto& [variant, why] : b.skipped)
    ++v.variants_by_outcome[skip_class(why)];
  return v;
}

}  // namespace

Result<proto::BatchesView> Service::batches() {
  TRY_ASSIGN(auto rows, store_.batches(50));
  proto::BatchesView out;
  for (const auto& b : rows) {
    // With its details: each variant's outcome.
    TRY_ASSIGN(auto whole, store_.batch(b.id));
    out.batches.push_back(batch_view(whole ? *whole : b));
  }
  return out;
}

Result<proto::BatchDetailView> Service::show_batch(int64_t id) {
  TRY_ASSIGN(auto b, store_.batch(id));
  if (!b) {
    return fail(ErrorKind::kNotFound, "no batch " + std::to_string(id),
                "'tvctl batches' lists them");
  }
  proto::BatchDetailView out;
  out.batch = batch_view(*b);
  out.batch.skipped = 0;
  for (const auto& [v, why] : b->skipped) {
    out.skipped[v] = why;
    out.skip_reasons[v] = skip_class(why);
  }
  out.variants = b->variant_state;
  // Against the previous batch of the same name: its duration, and what changed state.
  auto prev_id = store_.previous_batch(b->name, id);
  if (prev_id && *prev_id) {
    auto prev = store_.batch(**prev_id);
    if (prev && *prev) {
      out.previous = proto::BatchDetailView::Previous{(*prev)->id, batch_view(**prev).duration_s};
      for (const auto& [v, state] : b->variant_state) {
        auto was = (*prev)->variant_state.find(v);
        std::string before = was != (*prev)->variant_state.end() ? was->second : "";
        auto skip = std::find_if((*prev)->skipped.begin(), (*prev)->skipped.end(),
                                 [&](const auto& s) { return s.first == v; });
        if (before.empty() && skip != (*prev)->skipped.end() &&
            skip->second.rfind("still failing", 0) == 0) {
          before = "failed";
        }
        if (state == "failed" && before == "succeeded") out.newly_failing.push_back(v);
        if (state == "succeeded" && before == "failed") out.fixed.push_back(v);
      }
    }
  }
  return out;
}

}  // namespace tvd::service
