#include "daemon/service/engine.h"

#include <set>

#include <system_error>

#include "daemon/base/file.h"
#include "daemon/base/hash.h"
#include "daemon/base/units.h"
#include "daemon/flox/commands.h"
#include "daemon/recipe/check.h"

namespace tvd::service {

namespace {

// What the lane needs of a recipe: its package, file and tvd's text, and whether the file on disk
// is that text.
flox::RecipeFile lane_file(const RecipeReport& r) {
  flox::RecipeFile f{r.variant.package(), r.file, r.text,
                     r.state != FileState::kDiffers || r.outdated_torch};
  for (const auto& c : r.companions)
    f.companions.emplace_back(c.file, c.text);
  if (r.outdated_torch) f.replaces = r.previous;
  return f;
}

std::string describe(const Variant& v) {
  if (!v.is_gpu())
    return v.product->display + " CPU-only build optimized for " + v.isa->description;
  return v.product->display + " for " + v.gpu->description + " + " + v.isa->description;
}

}  // namespace

Engine::Engine(EngineConfig config, RecipeSources sources, exec::Runner& runner, Lanes lanes,
               Clock& clock, Measure measure)
    : config_(std::move(config)),
      sources_(std::move(sources)),
      runner_(runner),
      clock_(clock),
      measure_(std::move(measure)),
      estimator_(config_.estimates),
      sched_(config_.limits, &estimator_),
      lanes_(std::move(lanes)) {
  sched_.set_builders(placements(config_));
}

bool Engine::changed(Job& j, std::optional<EventKind> kind) {
  const bool moved = j.told_state != j.state || j.told_phase != j.phase;
  if (!kind && moved) {
    if (is_terminal(j.state)) {
      kind = j.state == JobState::kSucceeded ? EventKind::kSucceeded
             : j.state == JobState::kFailed  ? EventKind::kFailed
                                             : EventKind::kCancelled;
    } else if (j.state == JobState::kQueued) {
      kind = j.told_state ? EventKind::kRequeued : EventKind::kQueued;
    } else {
      kind = EventKind::kStarted;
    }
  }
  std::optional<JobEvent> event;
  if (kind) {
    event = JobEvent{*kind, j.told_state, j.state, j.phase, flox::Failure::kNone, {}};
    if (*kind == EventKind::kFailed || *kind == EventKind::kRetrying) {
      event->failure = j.failure;
      event->reason = j.error;
    } else if (*kind == EventKind::kSucceeded) {
      event->reason = j.note;
    }
    j.told_state = j.state;
    j.told_phase = j.phase;
  }
  const bool recorded = !observer_ || observer_(j, event);
  if (is_terminal(j.state)) {
    // After the code that ended it is done with it; a retry in between keeps it.
    clock_.call_at(clock_.now(), [this, id = j.id] {
      auto it = jobs_.find(id);
      if (it != jobs_.end() && is_terminal(it->second.state) && !it->second.run) {
        overlapped_.erase(id);
        jobs_.erase(it);
      }
    });
  }
  return recorded;
}

void Engine::unrecorded_start(Job& j) {
  j.state = JobState::kQueued;
  overlapped_.erase(j.id);
  sched_.requeue(j.id, clock_.now() + kRecordWait, "waiting until the store can record its start");
  changed(j);
  clock_.call_at(clock_.now() + kRecordWait, [this] { pump(); });
}

RecipeEnv Engine::recipe_env(const Variant& v) const {
  auto it = sources_.find(v.environment->name);
  RecipeEnv out = it == sources_.end() ? RecipeEnv{} : it->second.env;
  out.flox_env = v.environment->checkout;  // each variant in its own environment's checkout
  return out;
}

const TemplateSet* Engine::templates_of(const Variant& v) const {
  auto it = sources_.find(v.environment->name);
  return it == sources_.end() ? nullptr : it->second.templates;
}

std::map<VariantKey, std::string> Engine::preflight_errors(
    const std::vector<Selection>& selections) const {
  std::map<const Environment*, std::vector<Selection>> chosen;  // by environment
  for (const auto& sel : selections)
    if (sel.chosen) chosen[sel.variant.environment].push_back(sel);
  std::map<VariantKey, std::string> out;
  for (const auto& [environment, some] : chosen) {
    const TemplateSet* templates = templates_of(some.front().variant);
    if (!templates) continue;  // the recipe step reports it
    auto reports = inspect_recipes(*templates, recipe_env(some.front().variant), some);
    if (!reports) continue;  // likewise
    for (const auto& r : *reports) {
      for (const auto& f : r.findings) {
        if (f.severity != Severity::kError) continue;
        out.emplace(r.variant.key(), f.to_line());
        break;
      }
    }
  }
  return out;
}

std::string Engine::fingerprint(const Job& j) const {
  const RecipeEnv env = recipe_env(j.variant);
  auto recipe = read_file(env.pkgs_dir() / (j.package + ".nix"));
  auto lock = read_file(env.flox_env / ".flox/env/manifest.lock");
  return stable_hash((recipe ? *recipe : "") + "\n--\n" + (lock ? *lock : ""));
}

std::filesystem::path Engine::log_path(const Job& j, JobPhase phase) const {
  auto dir = config_.log_dir / j.key().text();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  // Retention: keep the newest keep_logs - 1 logs of this variant, and the new one.
  std::vector<std::pair<std::filesystem::file_time_type, std::filesystem::path>> logs;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->path().extension() == ".log") logs.emplace_back(it->last_write_time(ec), it->path());
  }
  std::sort(logs.begin(), logs.end());
  for (size_t i = 0; i + static_cast<size_t>(std::max(1, config_.keep_logs)) <= logs.size(); ++i) {
    std::filesystem::remove(logs[i].second, ec);
  }
  return dir / (std::to_string(j.id) + "-" + std::to_string(j.attempts.size() + 1) + "-" +
                to_string(phase) + ".log");
}

void Engine::schedule_recheck() {
  if (recheck_armed_) return;
  recheck_armed_ = true;
  clock_.call_at(clock_.now() + config_.recheck, [this] {
    recheck_armed_ = false;
    pump();
  });
}

void Engine::pump() {
  if (held_ > 0) {
    pump_wanted_ = true;
    return;
  }
  for (JobId id : std::exchange(recipes_due_, {})) {
    auto it = jobs_.find(id);  // a cancel may have ended it meanwhile
    if (it == jobs_.end()) continue;
    Job& j = it->second;
    if (j.state == JobState::kQueued && j.phase == JobPhase::kRecipe && !j.committing &&
        !j.cancel_requested) {
      start_recipe(j);
    }
  }
  auto starts = paused_ ? std::vector<sched::Start>{} : sched_.next(clock_.now(), measure_());
  for (const auto& s : starts) {
    // Builds that share the host cannot tell their memory apart by the host's figures.
    bool shared = sched_.running().size() > 1;
    for (const auto& r : sched_.running()) {
      if (shared) overlapped_[r.id] = true;
    }
    overlapped_.emplace(s.id, shared);
    start_build(jobs_.at(s.id), s);
  }
  if (sched_.queued_count() > 0) schedule_recheck();
}

void Engine::recipe_due(JobId id) {
  recipes_due_.push_back(id);
  pump();
}

void Engine::start_recipe(Job& j) {
  j.recipe_wait.clear();
  flox::Lane* lane = lane_of(j.variant);
  if (!lane) {
    attempt_ended(j, {JobPhase::kRecipe, flox::Failure::kUnknown, false, no_lane(j.variant)});
    return;
  }
  const TemplateSet* templates = templates_of(j.variant);
  if (!templates) {
    attempt_ended(j, {JobPhase::kRecipe, flox::Failure::kUnknown, false,
                      "no templates for the environment '" + j.variant.environment->name +
                          "' (not in the config any more?)"});
    return;
  }
  auto report =
      inspect_recipes(*templates, recipe_env(j.variant), {Selection{j.variant, {}, true}});
  if (!report) {
    attempt_ended(j, {JobPhase::kRecipe, flox::Failure::kUnknown, false, report.error().message});
    return;
  }
  const JobId id = j.id;
  j.committing = true;
  lane->commit_recipe(lane_file(report->front()),
                      "Add " + describe(j.variant) + " (" + j.package + ")",
                      [this, id](flox::LaneOutcome o) { recipe_done(id, o); });
}

void Engine::recipe_done(JobId id, const flox::LaneOutcome& o) {
  Job& j = jobs_.at(id);
  j.committing = false;
  if (!o.ok) ++j.build_tries;  // a failed commit is a try of the build it was for
  attempt_ended(j, ending_of(JobPhase::kRecipe, o));
}

void Engine::attempt_ended(Job& j, const AttemptEnd& e) {
  const JobId id = j.id;
  const int tries = e.phase == JobPhase::kPublish ? j.publish_tries : j.build_tries;
  const auto next =
      after_attempt(e, tries, j.cancel_requested, j.publish, {config_.max_tries, config_.backoff});
  // Only the build runs under the scheduler's reservation: not the recipe commit before it, nor
  // the publish after it.
  const bool reserved = e.phase == JobPhase::kBuild;
  using Step = AfterAttempt::Step;
  switch (next.step) {
    case Step::kNextPhase:
      if (next.next == JobPhase::kBuild) {
        // Its recipe is committed: it waits for the scheduler (and for the build it needs). No
        // event: it is still queued.
        j.phase = JobPhase::kBuild;
        j.told_phase = j.phase;
        if (ended_with_its_need(j)) break;
        changed(j);
        sched_.enqueue(spec_of(j), id);
        break;
      }
      sched_.finished(id);
      built(j);
      start_publish(j);
      break;
    case Step::kRetry: {
      j.error = e.reason;
      j.failure = e.failure;
      const TimePoint when = clock_.now() + next.wait;
      if (e.phase == JobPhase::kPublish) {
        // A publish is retried as a publish: the build is done and stays done.
        changed(j, EventKind::kRetrying);
        retry_publish_at(id, when);
        return;
      }
      j.state = JobState::kQueued;
      if (e.phase == JobPhase::kRecipe) {
        j.recipe_wait = next.waiting;
        j.recipe_retry_at = when;
        changed(j, EventKind::kRetrying);
        clock_.call_at(when, [this, id] { recipe_due(id); });
        return;
      }
      sched_.requeue(id, when, next.waiting);
      changed(j, EventKind::kRetrying);
      clock_.call_at(when, [this] { pump(); });
      break;
    }
    case Step::kEnd:
      if (reserved) sched_.finished(id);
      j.phase = e.phase;
      if (next.ends == JobState::kSucceeded && reserved) built(j);
      if (next.ends == JobState::kSucceeded) {
        end(j, JobState::kSucceeded);
      } else if (next.ends == JobState::kCancelled) {
        j.failure = flox::Failure::kNone;  // a cancel is never recorded as a failure
        end(j, JobState::kCancelled);
      } else {
        if (next.still_failing) j.fingerprint = fingerprint(j);
        fail(j, e.phase, e.failure, e.reason);
        if (next.still_failing) still_failing_[j.key()] = {j.fingerprint, e.reason};
      }
      break;
  }
  pump();
}

void Engine::end(Job& j, JobState state) {
  j.state = state;
  j.finished = clock_.now();
  if (state == JobState::kSucceeded) j.error.clear();
  active_.erase(j.key());
  changed(j);
  if (state != JobState::kSucceeded && !j.built) end_dependents(j);
}

void Engine::fail(Job& j, JobPhase phase, flox::Failure f, std::string reason) {
  j.phase = phase;
  j.failure = f;
  j.error = std::move(reason);
  end(j, JobState::kFailed);
}

void Engine::reconfigure(const EngineConfig& c) {
  auto log_dir = config_.log_dir;
  config_ = c;
  config_.log_dir = log_dir;
  sched_.set_limits(c.limits);
  sched_.set_builders(placements(c));
  estimator_.set_defaults(c.estimates);
  for (auto& [name, lane] : lanes_)
    lane->set_publishing(c.publishing);
  pump();
}

std::string Engine::no_lane(const Variant& v) {
  return "no git lane serves environment '" + v.environment->name +
         "' (a bug in tvd: please report it)";
}

flox::Lane* Engine::lane_of(const Variant& v) const {
  auto it = lanes_.find(v.environment->name);
  return it == lanes_.end() ? nullptr : it->second;
}

void Engine::commit_recipes(const std::vector<RecipeReport>& recipes,
                            std::function<void(const std::string&)> on_error) {
  for (const auto& r : recipes) {
    flox::Lane* lane = lane_of(r.variant);
    if (!lane) {
      if (on_error) on_error(r.variant.key().text() + ": " + no_lane(r.variant));
      continue;
    }
    lane->commit_recipe(lane_file(r),
                        "Add " + describe(r.variant) + " (" + r.variant.package() + ")",
                        [on_error, name = r.variant.key().text()](flox::LaneOutcome o) {
                          if (!o.ok && on_error) on_error(name + ": " + o.reason);
                        });
  }
}

void Engine::recover_recipes(std::vector<RecipeReport> ours,
                             const std::function<void(std::vector<std::string>)>& done) {
  std::map<std::string, std::vector<flox::RecipeFile>> by_lane;
  for (const auto& r : ours)
    by_lane[r.variant.environment->name].push_back(lane_file(r));
  for (auto& [name, lane] : lanes_)
    lane->recover(std::move(by_lane[name]), done);
}

const Job* Engine::job(JobId id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

std::vector<const Job*> Engine::jobs() const {
  std::vector<const Job*> out;
  for (const auto& [id, j] : jobs_)
    out.push_back(&j);
  return out;
}

void Engine::set_paused(std::optional<std::string> why) {
  const bool resumed = paused_ && !why;
  paused_ = std::move(why);
  if (resumed) pump();
}

std::vector<sched::Waiting> Engine::waiting() const {
  auto out = sched_.waiting(clock_.now(), measure_());
  if (paused_) {
    // Every job that would start now waits for the pause, and says so.
    std::set<JobId> listed;
    for (auto& w : out) {
      w.reason = *paused_;
      listed.insert(w.id);
    }
    for (const auto& [id, j] : jobs_) {
      if (j.state == JobState::kQueued && j.phase == JobPhase::kBuild && !listed.count(id))
        out.push_back({id, j.key().text(), *paused_});
    }
  }
  // Jobs before the scheduler's queue: their recipe commits.
  for (const auto& [id, j] : jobs_) {
    if (j.state != JobState::kQueued || j.phase != JobPhase::kRecipe) continue;
    std::string why;
    if (j.committing) {
      const flox::Lane* lane = lane_of(j.variant);
      why = lane ? lane->commit_activity(j.package) : "committing its recipe";
    } else if (!j.recipe_wait.empty()) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(
          std::max(j.recipe_retry_at - clock_.now(), TimePoint::duration::zero()));
      why = "waiting to retry its recipe commit in " + format_duration(left) + " (" +
            j.recipe_wait + ")";
    } else {
      why = "its recipe commit starts next";
    }
    out.push_back({id, j.key().text(), why});
  }
  return out;
}

bool Engine::idle() const {
  return active_.empty();
}

}  // namespace tvd::service
