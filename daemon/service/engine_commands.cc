// The engine's commands: what enqueue, cancel, retry and recovery do to the active jobs, and a
// command's hold on starts until its transaction is recorded (engine.h).
#include "daemon/service/engine.h"

#include <set>

namespace tvd::service {

void Engine::release() {
  if (held_ == 0 || --held_ > 0) return;
  auto publishes = std::move(publish_wanted_);
  publish_wanted_.clear();
  for (JobId id : publishes) {
    auto it = jobs_.find(id);
    if (it != jobs_.end() && it->second.state == JobState::kPublishing &&
        !it->second.cancel_requested && !it->second.run) {
      start_publish(it->second);
    }
  }
  if (std::exchange(pump_wanted_, false)) pump();
}

void Engine::withdraw(const std::vector<JobId>& ids) {
  for (JobId id : ids) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    (void)sched_.cancel(id);
    if (auto a = active_.find(it->second.key()); a != active_.end() && a->second == id) {
      active_.erase(a);
    }
    overlapped_.erase(id);
    jobs_.erase(it);
  }
}

std::vector<Enqueued> Engine::enqueue(const std::vector<Selection>& asked,
                                      const EnqueueOptions& o) {
  // A paired variant needs its torch environment's build of the same cell: enqueued first when
  // it is neither active nor built from its current recipe (in this run of the daemon).
  std::vector<Selection> selections;
  std::set<VariantKey> listed;
  for (const auto& sel : asked)
    listed.insert(sel.variant.key());
  for (const auto& sel : asked) {
    if (auto need = sel.chosen ? needs(sel.variant) : std::nullopt) {
      const VariantKey key = need->key();
      auto b = built_recipe_.find(key);
      if (!listed.count(key) && !active_.count(key) &&
          (b == built_recipe_.end() || b->second != recipe_hash(*need))) {
        const auto& torch = *sources_.at(sel.variant.environment->name).env.torch;
        auto ex = torch.matrix->exclusions(*need);
        selections.push_back({*need, ex, ex.empty()});
        listed.insert(key);
      }
    }
    selections.push_back(sel);
  }
  std::vector<Enqueued> out;
  const auto broken = o.force ? std::map<VariantKey, std::string>{} : preflight_errors(selections);
  for (const auto& sel : selections) {
    Enqueued e;
    e.variant = sel.variant.key();
    next_id_ = std::max(next_id_, first_id_);
    if (!sel.chosen) {
      std::string why;
      for (const auto& x : sel.exclusions)
        why += (why.empty() ? "" : "; ") + x;
      e.skipped = "excluded: " + why;
      out.push_back(std::move(e));
      continue;
    }
    if (auto it = active_.find(e.variant); it != active_.end()) {
      e.job = it->second;
      out.push_back(std::move(e));
      continue;
    }
    // No builder builds its platform: it is not queued to fail (--force queues it to wait).
    if (auto why = o.force ? std::nullopt : no_builder(sel.variant)) {
      e.skipped = std::string(kNoBuilder) + *why;
      out.push_back(std::move(e));
      continue;
    }
    Job j;
    j.id = next_id_++;
    j.variant = sel.variant;
    j.package = e.variant.package;
    j.origin = o.origin;
    j.priority = o.priority;
    j.publish = o.publish && config_.publish;
    j.batch = o.batch;
    j.batch_id = o.batch_id;
    j.enqueued = clock_.now();
    if (o.origin == sched::Origin::kBatch && !o.force) {
      auto f = still_failing_.find(j.key());
      if (f != still_failing_.end() && f->second.first == fingerprint(j)) {
        e.skipped = "still failing: " + f->second.second +
                    " (recipe and lock unchanged; --force rebuilds it)";
        out.push_back(std::move(e));
        continue;
      }
    }
    // A recipe that would fail in flox build fails its job now, with the finding as the reason,
    // rather than hours from now; --force builds it anyway.
    if (auto finding = broken.find(j.key()); finding != broken.end()) {
      e.job = j.id;
      e.created = true;
      auto& failed = jobs_[j.id] = std::move(j);
      fail(failed, JobPhase::kRecipe, flox::Failure::kEvaluation,
           finding->second + " (tvd check lists every finding; --force builds it anyway)");
      out.push_back(std::move(e));
      continue;
    }
    active_[j.key()] = j.id;
    e.job = j.id;
    e.created = true;
    recipes_due_.push_back(j.id);  // its recipe first; then it waits for the scheduler
    auto& stored = jobs_[j.id] = std::move(j);
    changed(stored);
    out.push_back(std::move(e));
  }
  pump();
  return out;
}

Status Engine::cancel(JobId id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return tvd::fail(ErrorKind::kNotFound, "no job " + std::to_string(id),
                     "'tvctl status' lists the jobs");
  }
  Job& j = it->second;
  if (is_terminal(j.state)) {
    return tvd::fail(ErrorKind::kConflict, "job " + std::to_string(id) + " (" + j.key().text() +
                                               ") already " + to_string(j.state));
  }
  j.cancel_requested = true;
  flox::Lane* lane = lane_of(j.variant);
  if (j.committing) {
    if (lane) lane->cancel_commit(j.package);  // recipe_done finishes it
  } else if (sched_.cancel(id) || (j.state == JobState::kQueued && j.phase == JobPhase::kRecipe) ||
             (j.state == JobState::kPublishing && !j.run && !(lane && lane->busy()))) {
    end(j, JobState::kCancelled);
  } else if (j.run) {
    runner_.cancel(*j.run);  // build_done or publish_done finishes it
  }
  pump();
  return {};
}

Result<JobId> Engine::retry(Job ended) {
  const JobId id = ended.id;
  if (auto other = active_.find(ended.key()); other != active_.end() && other->second != id) {
    return other->second;
  }
  // The engine's copy if it is still here (it ended a moment ago, or is active); else the store's.
  auto here = jobs_.find(id);
  const Job& seen = here != jobs_.end() ? here->second : ended;
  if (seen.state != JobState::kFailed && seen.state != JobState::kCancelled) {
    return tvd::fail(ErrorKind::kConflict, "job " + std::to_string(id) + " (" + seen.key().text() +
                                               ") is " + to_string(seen.state) +
                                               ": only failed or cancelled jobs are retried");
  }
  // A build needs a recipe that would not fail in flox build (the same check as at enqueue).
  if (!(seen.built && seen.publish)) {
    auto broken = preflight_errors({Selection{seen.variant, {}, true}});
    if (auto f = broken.find(seen.key()); f != broken.end()) {
      return tvd::fail(ErrorKind::kConflict,
                       "job " + std::to_string(id) + " (" + seen.key().text() +
                           ") would fail again: " + f->second,
                       "fix the recipe ('tvd check' lists every finding), or 'tvctl enqueue "
                       "--force' to build it anyway");
    }
  }
  if (here == jobs_.end()) {
    ended.run.reset();
    here = jobs_.emplace(id, std::move(ended)).first;
  }
  Job& j = here->second;
  j.told_state = j.state;  // the store's, when it came from there
  j.told_phase = j.phase;
  next_id_ = std::max(next_id_, j.id + 1);
  j.cancel_requested = false;
  j.build_tries = 0;
  j.publish_tries = 0;
  j.error.clear();
  j.failure = flox::Failure::kNone;
  j.finished = {};
  j.fingerprint.clear();
  still_failing_.erase(j.key());
  active_[j.key()] = id;
  if (j.built && j.publish) {
    j.state = JobState::kPublishing;
    j.phase = JobPhase::kPublish;
    changed(j, EventKind::kRetried);
    start_publish(j);
    return id;
  }
  j.state = JobState::kQueued;
  j.phase = JobPhase::kRecipe;
  needed_failed_.erase(j.key());
  changed(j, EventKind::kRetried);
  recipe_due(id);
  // The jobs its failure ended (they needed its build) wait for it again.
  auto dependents = ended_dependents_.extract(id);
  if (!dependents.empty()) {
    for (auto& d : dependents.mapped())
      (void)retry(std::move(d));
  }
  return id;
}

void Engine::restore(std::vector<Job> jobs) {
  // Every job is in place before any waits for the scheduler: a job that needs another's build
  // (its torch's) finds that job, and whether it is built, whatever the order.
  std::vector<JobId> ids;
  for (auto& j : jobs) {
    next_id_ = std::max(next_id_, j.id + 1);
    j.run.reset();
    j.cancel_requested = false;
    j.told_state = j.state;  // the store's
    j.told_phase = j.phase;
    // A try that a crash of tvd interrupted is not the build's fault: it does not count.
    j.build_tries = j.publish_tries = 0;
    for (const auto& a : j.attempts) {
      if (a.interrupted) continue;
      ++(a.phase == JobPhase::kPublish ? j.publish_tries : j.build_tries);
    }
    active_[j.key()] = j.id;
    ids.push_back(j.id);
    jobs_[j.id] = std::move(j);
  }
  for (JobId id : ids) {
    Job& stored = jobs_.at(id);
    if (adopt_build(stored)) continue;
    if (stored.built && stored.publish) {
      start_publish(stored);
      continue;
    }
    // One whose recipe was committed waits for the scheduler again; the others commit it first.
    if (stored.state == JobState::kQueued && stored.phase == JobPhase::kBuild) {
      sched_.enqueue(spec_of(stored), stored.id);
      continue;
    }
    stored.state = JobState::kQueued;
    stored.phase = JobPhase::kRecipe;
    recipes_due_.push_back(stored.id);
    changed(stored);
  }
  pump();
}

bool Engine::adopt_build(Job& j) {
  if (j.attempts.empty()) return false;
  Attempt& a = j.attempts.back();
  if (a.phase != JobPhase::kBuild || a.ended != TimePoint{} || a.interrupted || !a.pgid) {
    return false;
  }
  const JobId id = j.id;
  auto run =
      runner_.adopt(*a.pgid, a.log, [this, id](const exec::RunResult& r) { build_done(id, r); });
  if (!run) {
    // Not to be taken back: it was a try tvd interrupted, and it does not count.
    a.interrupted = true;
    a.ended = clock_.now();
    a.reason = "interrupted: tvd stopped while it ran";
    a.pgid.reset();
    --j.build_tries;
    changed(j);
    return false;
  }
  j.run = run;
  j.state = JobState::kBuilding;
  j.phase = JobPhase::kBuild;
  j.told_state = j.state;  // as the store has it: nothing changed
  j.told_phase = j.phase;
  const auto placed = sched_.adopt(spec_of(j), id, a.builder, a.started);
  if (a.builder.empty()) a.builder = placed.builder;
  // What the host saw of its memory while tvd was away is unknown: it does not count as alone.
  overlapped_[id] = true;
  return true;
}

bool Engine::rebind(const std::vector<const Matrix*>& environments) {
  bool all = true;
  for (auto& [id, j] : jobs_) {
    const Matrix* m = nullptr;
    for (const Matrix* candidate : environments)
      if (candidate->environment().name == j.key().environment) m = candidate;
    if (!m) {
      all = false;
      continue;
    }
    auto sel = resolve_specs(*m, {j.package}, /*force=*/true);
    if (sel && sel->size() == 1 && sel->front().variant.key() == j.key()) {
      j.variant = sel->front().variant;
    } else {
      all = false;
    }
  }
  return all;
}

}  // namespace tvd::service
