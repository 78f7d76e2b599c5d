#include "daemon/service/service.h"

#include <signal.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <set>
#include <tuple>

#include <fstream>
#include <iostream>

#include "daemon/base/log.h"

#include "daemon/base/units.h"
#include "daemon/exec/host.h"
#include "daemon/flox/classify.h"
#include "daemon/matrix/spec.h"
#include "daemon/service/host_config.h"
#include "daemon/service/persist.h"
#include "daemon/service/recipe_view.h"

namespace tvd::service {

using nlohmann::json;

namespace {

// The last attempt of `j` that had ended when it was read from the store (0: none).
int last_ended(const Job& j) {
  int n = 0;
  for (const auto& a : j.attempts)
    if (a.ended != TimePoint{} || a.interrupted) n = std::max(n, a.number);
  return n;
}

// The estimator's rule (Estimator::learn) on an attempt as the store has it: its peak is what the
// engine attributed to it when it ended.
void learn(sched::Estimator& estimator, const store::Store::EndedAttempt& e) {
  using Ending = sched::Estimator::Ending;
  const auto kind = sched::kBuildKinds.parse(e.kind).value_or(sched::BuildKind::kGpu);
  const Ending ending = e.outcome == proto::AttemptOutcome::kSucceeded ? Ending::kSucceeded
                        : e.failure == flox::Failure::kOutOfMemory     ? Ending::kOutOfMemory
                                                                       : Ending::kOther;
  std::optional<uint64_t> peak;
  if (e.peak_memory && *e.peak_memory > 0) peak = static_cast<uint64_t>(*e.peak_memory);
  estimator.learn(e.variant.text(), kind, ending, peak,
                  std::chrono::seconds(std::max<int64_t>(0, e.seconds)));
}

// What the estimator learned of `variant`, as the store keeps it.
store::Store::LearnedRow learned_row(const VariantKey& variant,
                                     const sched::Estimator::Learned& l) {
  return {variant, std::string(sched::kBuildKinds.name(l.kind)), l.peak, l.duration, l.spread};
}

}  // namespace

Result<std::unique_ptr<Service>> Service::start(Setup setup, Parts parts, char** environ_vars) {
  TRY_ASSIGN(auto store, store::Store::open(setup.config.state_dir / "tvd.db"));
  auto now = std::chrono::system_clock::now();
  TRY(store.sync_variants(all_variant_rows(setup), unix_seconds(now)));
  std::unique_ptr<Service> s(new Service(std::move(setup), std::move(store)));
  s->stored_are(s->setup_);
  s->environ_ = environ_vars;
  s->runner_ = std::move(parts.runner);
  s->clock_ = std::move(parts.clock);
  const Config& c = s->setup_.config;
  auto config = engine_config(s->setup_, environ_vars);
  // A git lane per environment, each publishing to its environment's organisation.
  Lanes lanes;
  for (const auto& e : s->setup_.environments) {
    EngineConfig mine = config;
    mine.publishing.org = e.org;
    s->lanes_.push_back(parts.make_lane(*s->runner_, mine, e.environment()));
    lanes.emplace(e.name(), s->lanes_.back().get());
  }
  s->engine_ = std::make_unique<Engine>(std::move(config), s->recipe_sources(), *s->runner_,
                                        std::move(lanes), *s->clock_,
                                        [cfg = c] { return measure_host(cfg); });
  s->recorder_ = std::make_unique<Recorder>(s->store_, *s->clock_);
  s->engine_->on_change([svc = s.get()](const Job& j, const std::optional<JobEvent>& e) {
    const bool recorded = svc->persist(j, e);
    svc->wake_log_waiters(j.id);
    return recorded;
  });
  s->runner_->set_output_observer([svc = s.get()](exec::RunId run) { svc->output_written(run); });
  // What each variant already published in this org, so that an unchanged output is not
  // published again (flox's own check is keyed on HEAD, which tvd's commits move).
  TRY_ASSIGN(auto published, s->published_outputs());
  s->engine_->set_published(std::move(published));
  // Permanent failures stay "still failing" for batches across restarts.
  TRY_ASSIGN(auto failing, s->store_.still_failing());
  s->engine_->set_still_failing(std::move(failing));

  // Recovery (recovery.cc): builds that ran on are taken back, the rest was interrupted.
  TRY_ASSIGN(auto restored, s->recover_jobs(now));
  // What the history taught: /metrics' counts of every ended attempt (the restored jobs' ended
  // attempts among them) and each variant's learned memory and duration, so reservations and
  // ETAs survive a restart. Kept by the store as attempts end; a store from before that is
  // replayed once, oldest first, as the engine learned when they ran.
  TRY(s->load_learned());
  for (const auto& j : restored)
    s->counted_upto_[j.id] = last_ended(j);
  if (!restored.empty()) {
    log::info("recovered " + std::to_string(restored.size()) +
              " job(s) left active by the last run");
  }
  // Finish recipe transactions the crash cut short before anything else uses the git lane: a
  // staged or untracked recipe of tvd's own would block every publish.
  {
    std::vector<RecipeReport> ours;
    for (const auto& e : s->setup_.environments) {
      std::vector<Selection> cells;
      for (const auto& v : e.matrix.cells())
        cells.push_back({v, {}, true});
      if (auto reports = inspect_recipes(e.templates, recipe_env(e), cells)) {
        for (auto& r : *reports) {
          if (r.state == FileState::kCurrent) ours.push_back(std::move(r));
        }
      }
    }
    s->engine_->recover_recipes(std::move(ours), [](std::vector<std::string> committed) {
      for (const auto& p : committed) {
        log::warning("recovered the interrupted commit of " + p);
      }
    });
  }
  // A pause outlives a restart (a drain does not: it was for the restart).
  if (auto kept = s->store_.meta("paused"); kept && *kept) {
    auto j = nlohmann::json::parse(**kept, nullptr, false);
    if (j.is_object()) {
      s->paused_ = proto::StatusView::Paused{"pause", j.value("since", int64_t{0}),
                                             j.value("by", std::string())};
      log::warning("paused since " + format_utc(s->paused_->since) + " by " + s->paused_->by +
                   ": no build starts until tvctl resume");
    }
  }
  s->apply_pause();
  s->engine_->restore(std::move(restored));
  // From now on the daemon's thread never waits out another process's lock (recorder.h).
  s->store_.set_busy_timeout(Recorder::kBusyWait);
  return s;
}

Status Service::load_learned() {
  TRY_ASSIGN(bool kept, store_.history_learned());
  if (!kept) {
    std::map<std::tuple<JobPhase, proto::AttemptOutcome, flox::Failure, int>,
             store::Store::AttemptCount>
        sums;
    TRY(store_.each_ended_attempt([&](const store::Store::EndedAttempt& e) {
      const Tally t = AttemptStats::tally(e.phase, e.outcome, e.failure, e.seconds);
      auto& row = sums[{t.phase, t.outcome, t.failure, t.bucket}];
      row = {t.phase, t.outcome, t.failure, t.bucket, row.n + 1, row.seconds + t.seconds};
      if (e.phase == JobPhase::kBuild) learn(engine_->estimator(), e);
    }));
    std::vector<store::Store::AttemptCount> counts;
    for (auto& [key, row] : sums)
      counts.push_back(std::move(row));
    std::vector<store::Store::LearnedRow> rows;
    for (const auto& [variant, l] : engine_->estimator().all_learned()) {
      rows.push_back(learned_row(VariantKey::from_text(variant), l));
    }
    auto kept_now = store_.atomically([&]() -> Status {
      TRY(store_.add_attempt_counts(counts));
      TRY(store_.save_learned(rows));
      return store_.mark_history_learned();
    });
    if (!kept_now) return kept_now;
    log::info("learned from the store's history once: " + std::to_string(rows.size()) +
              " variant(s); from now on it is kept as attempts end");
  }
  TRY_ASSIGN(auto counts, store_.attempt_counts());
  for (const auto& c : counts) {
    stats_.add({c.phase, c.outcome, c.failure, c.bucket, static_cast<uint64_t>(c.n), c.seconds});
  }
  TRY_ASSIGN(auto learned, store_.learned());
  for (const auto& l : learned) {
    engine_->estimator().restore(l.variant.text(),
                                 {sched::kBuildKinds.parse(l.kind).value_or(sched::BuildKind::kGpu),
                                  l.peak, l.duration, l.spread});
  }
  return {};
}

Service::~Service() = default;

bool Service::persist(const Job& j, const std::optional<JobEvent>& event) {
  if (stopping_) return true;  // a shutdown's kills are interruptions, not outcomes
  Change c;
  if (stored_variants_.insert(j.key()).second) {
    c.variant = variant_row(matrix_for(j.key().environment), j.variant);
  }
  c.job = to_row(j, org_of(j.key().environment));
  c.attempts = to_rows(j);
  if (event) {
    store::EventRow e;
    e.at = unix_seconds(std::chrono::system_clock::now());
    e.job_id = j.id;
    e.variant = j.key();
    e.change = *event;
    c.events.push_back(std::move(e));
  }
  count_attempts(j, c);
  const bool recorded = recorder_->record(std::move(c));
  if (change_hook_) change_hook_();
  // What is kept of an active job in memory goes with it; a retry reads the store again.
  if (is_terminal(j.state)) {
    counted_upto_.erase(j.id);
  }
  return recorded;
}

// Each ended attempt is counted once: the start reads the counts the store keeps, and after
// that an attempt counts when it ends, in memory and in the store (the change carries it, in
// the same transaction as the attempt). A job keeps its mark after it finishes, so a retry
// (which shows the old attempts again) never counts them twice.
void Service::count_attempts(const Job& j, Change& c) {
  int& upto = counted_upto_[j.id];
  bool built = false;
  for (const auto& a : c.attempts) {
    if (a.ended_at && a.outcome && a.number > upto) {
      const Tally t =
          AttemptStats::tally(a.phase, *a.outcome, a.failure, *a.ended_at - a.started_at);
      stats_.add(t);
      c.counts.push_back(
          {t.phase, t.outcome, t.failure, t.bucket, static_cast<int64_t>(t.n), t.seconds});
      built = built || a.phase == JobPhase::kBuild;
      upto = a.number;
    }
  }
  // What the engine learned from a build that ended (Estimator::learn ran before this change).
  if (built) {
    if (auto l = engine_->estimator().learned(j.key().text())) {
      c.learned = learned_row(j.key(), *l);
    }
  }
}

Result<proto::EnqueueView> Service::enqueue(const EnqueueRequest& r) {
  if (r.all == !r.specs.empty()) {
    return fail(ErrorKind::kBadInput, "name the variants to enqueue, or all (not both)",
                "tvctl enqueue sm89-avx512vnni   or   tvctl enqueue --all");
  }
  auto sel =
      resolve_specs(setup_.matrices(), r.all ? std::vector<std::string>{"all"} : r.specs, r.force);
  if (!sel) return tl::unexpected(nothing_done(sel.error(), "Nothing was queued."));
  EnqueueOptions o;
  o.origin = r.batch.empty() ? sched::Origin::kInteractive : sched::Origin::kBatch;
  o.priority = r.priority;
  o.publish = !r.no_publish;
  o.force = r.force;
  o.batch = r.batch;
  // One transaction: the batch, its skips and every new job are recorded, or nothing is queued.
  std::vector<Enqueued> done;
  bool joined = false;
  engine_->hold();
  auto st = recorder_->command([&]() -> Status {
    const auto now = unix_seconds(std::chrono::system_clock::now());
    joined = false;
    if (!r.batch.empty()) {
      // One record per run of a batch: an enqueue of it while it runs joins it (50 timers that
      // fire at once make one nightly, not 50).
      TRY_ASSIGN(o.batch_id, store_.open_batch(r.batch));
      joined = o.batch_id.has_value();
      if (!joined) {
        TRY_ASSIGN(o.batch_id, store_.create_batch(r.batch, now));
      }
    }
    done = engine_->enqueue(*sel, o);
    if (!o.batch_id) return {};
    for (const auto& e : done) {
      const Job* active = e.job ? engine_->job(*e.job) : nullptr;
      if (!e.job) {
        TRY(store_.add_batch_skip(*o.batch_id, e.variant, e.skipped));
      } else if (!e.created && active && active->batch_id == o.batch_id) {
        continue;  // already in this batch
      } else if (!e.created) {
        TRY(store_.add_batch_skip(*o.batch_id, e.variant,
                                  "already queued or running as job " + std::to_string(*e.job)));
      }
    }
    return store_.finish_batch_if_done(*o.batch_id, now).map([](bool) {});
  });
  if (!st) {
    std::vector<JobId> made;
    for (const auto& e : done)
      if (e.job && e.created) made.push_back(*e.job);
    engine_->withdraw(made);
  }
  engine_->release();
  if (!st) return tl::unexpected(nothing_done(st.error(), "Nothing was queued."));
  // Asked by hand for variants no builder can build, and nothing else: a refusal, not a quiet
  // skip (a glob that also matched buildable ones queues those and lists the rest as skipped).
  if (r.batch.empty() && !r.force) {
    bool queued = false;
    std::string why;
    for (const auto& e : done) {
      queued = queued || e.job.has_value();
      if (!e.job && e.skipped.rfind(kNoBuilder, 0) == 0 && why.empty()) {
        why = e.variant.text() + ": " + e.skipped.substr(kNoBuilder.size());
      }
    }
    if (!queued && !why.empty()) {
      return fail(ErrorKind::kBadInput, why + ". Nothing was queued.",
                  "--force queues it anyway: it waits until a builder of its platform is "
                  "configured");
    }
  }
  proto::EnqueueView out;
  out.batch_id = o.batch_id;
  if (o.batch_id) out.batch_joined = joined;
  for (const auto& e : done) {
    if (!e.job) {
      out.skipped[e.variant.text()] = e.skipped;
      continue;
    }
    auto row = job_row(static_cast<int64_t>(*e.job));
    if (row && *row) {
      proto::JobView j = job_view(**row);
      j.created = e.created;
      out.jobs.push_back(std::move(j));
    }
  }
  return out;
}

Result<proto::JobsView> Service::cancel(const std::vector<JobId>& ids) {
  // One command: every job is checked before any is cancelled, so "cancel 3 999" cancels
  // nothing and says why.
  for (JobId id : ids) {
    const Job* j = engine_->job(id);
    if (j && !is_terminal(j->state)) continue;
    auto row = job_row(static_cast<int64_t>(id));
    if (!row) return tl::unexpected(row.error());
    if (!*row) {
      return fail(ErrorKind::kNotFound, "no job " + std::to_string(id) + "; nothing was cancelled",
                  "'tvctl status' lists the jobs");
    }
    return fail(ErrorKind::kConflict,
                "job " + std::to_string(id) + " (" + (*row)->package + ") already " +
                    std::string(kJobStates.name((*row)->state)) + "; nothing was cancelled");
  }
  proto::JobsView out;
  for (JobId id : ids) {
    if (auto st = engine_->cancel(id); !st) return tl::unexpected(st.error());
  }
  for (JobId id : ids) {
    if (auto row = job_row(static_cast<int64_t>(id)); row && *row)
      out.jobs.push_back(job_view(**row));
  }
  return out;
}

Result<proto::RetryView> Service::retry(JobId id) {
  // The store is the truth about an ended job, whether it ended now or before a restart.
  TRY_ASSIGN(auto row, job_row(static_cast<int64_t>(id)));
  if (!row) {
    return fail(ErrorKind::kNotFound, "no job " + std::to_string(id),
                "'tvctl status' lists the jobs");
  }
  TRY_ASSIGN(auto attempts, attempt_rows(static_cast<int64_t>(id)));
  TRY_ASSIGN(Job job, from_rows(*row, attempts, matrix_for(row->environment)));
  // One transaction: the job is queued again (or its publish is) only if the store records it.
  const bool was_active = engine_->job(id) && !is_terminal(engine_->job(id)->state);
  const bool counted = counted_upto_.count(id) > 0;
  counted_upto_.emplace(id, last_ended(job));  // its attempts so far are counted already
  JobId again = 0;
  engine_->hold();
  auto st = recorder_->command([&]() -> Status {
    TRY_ASSIGN(again, engine_->retry(std::move(job)));
    return {};
  });
  if (!st && !was_active) engine_->withdraw({id});
  engine_->release();
  if (!st) {
    if (!counted) counted_upto_.erase(id);
    return tl::unexpected(nothing_done(st.error(), "Nothing was retried."));
  }
  TRY_ASSIGN(auto now, job_row(static_cast<int64_t>(again)));
  if (!now) return fail(ErrorKind::kInternal, "job " + std::to_string(again) + " vanished");
  return proto::RetryView{job_view(*now)};
}

Result<proto::GenerateView> Service::generate(const std::vector<std::string>& specs, bool all,
                                              bool dry_run, bool force) {
  if (all == !specs.empty()) {
    return fail(ErrorKind::kBadInput, "name the variants to generate, or all (not both)");
  }
  auto sel = resolve_specs(setup_.matrices(), all ? std::vector<std::string>{"all"} : specs, force);
  if (!sel) return tl::unexpected(nothing_done(sel.error(), "Nothing was written."));
  std::vector<RecipeReport> reports;
  for (const auto& e : setup_.environments) {
    std::vector<Selection> mine;
    for (const auto& s : *sel)
      if (s.variant.environment == &e.environment()) mine.push_back(s);
    if (mine.empty()) continue;
    auto some = inspect_recipes(e.templates, recipe_env(e), mine);
    if (!some) return tl::unexpected(some.error());
    for (auto& r : *some)
      reports.push_back(std::move(r));
  }
  proto::GenerateView out;
  out.dry_run = dry_run;
  std::vector<RecipeReport> to_commit;
  for (auto& r : reports) {
    proto::RecipeView v = recipe_view(r);
    if (!r.chosen)
      v.outcome = "excluded";
    else if (r.state == FileState::kCurrent)
      v.outcome = "unchanged";
    else if (r.state == FileState::kDiffers)
      v.outcome = "kept";
    else
      v.outcome = dry_run ? "would write" : "committing";
    if (r.outdated_torch) v.outcome = dry_run ? "would write" : "committing";
    if (!dry_run && r.chosen && (r.state == FileState::kMissing || r.outdated_torch)) {
      to_commit.push_back(r);
    }
    out.recipes.push_back(std::move(v));
  }
  engine_->commit_recipes(to_commit,
                          [](const std::string& what) { log::error("generate: " + what); });
  return out;
}

void Service::check_store() {
  using FileState = store::Store::FileState;
  const std::string file = store_.file().string();
  switch (store_.file_state()) {
    case FileState::kSame:
      store_note_.clear();
      return;
    case FileState::kDeleted:
      if (auto st = store_.write_back(); !st) {
        store_note_ = "the store's file " + file +
                      " was deleted while tvd ran, and writing it "
                      "back failed: " +
                      st.error().message + " (" + st.error().hint + ")";
        log::error(store_note_);
        return;
      }
      store_note_.clear();
      log::error("the store's file " + file +
                 " was deleted while tvd ran: tvd wrote back "
                 "everything it held (every job, attempt and event), and goes on writing there; "
                 "find what deleted it");
      return;
    case FileState::kReplaced:
      if (store_note_.empty()) {
        store_note_ = "the store's file " + file +
                      " was replaced by another file while tvd "
                      "ran: tvd still writes the one it opened, which is lost when it stops. "
                      "Move the new file away (tvd then writes its own back), or restart tvd to "
                      "use the new one";
        log::error(store_note_);
      }
      return;
  }
}

void Service::shutdown() {
  // What could not be written yet gets a last chance, before the kills' changes.
  recorder_->flush(std::chrono::seconds(5));
  stopping_ = true;
  // Builds under the supervisor run on, to be taken back by the next start; the rest (publishes,
  // builds of a runner without one) stop, as interrupted tries.
  std::set<int64_t> running_on;
  for (const auto* j : engine_->jobs()) {
    if (!j->run) continue;
    if (runner_->supervises() && j->phase == JobPhase::kBuild) {
      running_on.insert(static_cast<int64_t>(j->id));
    } else if (auto pg = runner_->process_group(*j->run)) {
      ::kill(-*pg, SIGTERM);
    }
  }
  if (!running_on.empty()) {
    log::info(std::to_string(running_on.size()) +
              " build(s) run on; the next start of tvd takes them back");
  }
  (void)store_.interrupt_running_attempts(unix_seconds(std::chrono::system_clock::now()),
                                          running_on);
}

}  // namespace tvd::service
