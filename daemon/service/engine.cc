#include "daemon/service/engine.h"

#include <system_error>

#include "daemon/base/file.h"
#include "daemon/base/hash.h"
#include "daemon/flox/commands.h"
#include "daemon/recipe/check.h"

namespace tvd::service {

namespace {

constexpr uint64_t kGiB = 1ull << 30;

std::string describe(const Variant& v) {
  if (!v.is_gpu())
    return v.product->display + " CPU-only build optimized for " + v.isa->description;
  return v.product->display + " for " + v.gpu->description + " + " + v.isa->description;
}

}  // namespace

Engine::Engine(EngineConfig config, const TemplateSet& templates, exec::Runner& runner, Lanes lanes,
               Clock& clock, Measure measure)
    : config_(std::move(config)),
      templates_(templates),
      runner_(runner),
      clock_(clock),
      measure_(std::move(measure)),
      estimator_(config_.estimates),
      sched_(config_.limits, &estimator_),
      lanes_(std::move(lanes)) {}

bool Engine::changed(Job& j) {
  const bool recorded = !observer_ || observer_(j);
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
  j.phase = JobPhase::kRecipe;
  overlapped_.erase(j.id);
  sched_.requeue(j.id, clock_.now() + kRecordWait, "waiting until the store can record its start");
  changed(j);
  clock_.call_at(clock_.now() + kRecordWait, [this] { pump(); });
}

RecipeEnv Engine::recipe_env(const Variant& v) const {
  return RecipeEnv{v.environment->checkout, config_.pytorch_env};
}

std::map<VariantKey, std::string> Engine::preflight_errors(
    const std::vector<Selection>& selections) const {
  std::map<const Environment*, std::vector<Selection>> chosen;  // by environment
  for (const auto& sel : selections)
    if (sel.chosen) chosen[sel.variant.environment].push_back(sel);
  std::map<VariantKey, std::string> out;
  for (const auto& [environment, some] : chosen) {
    auto reports = inspect_recipes(templates_, recipe_env(some.front().variant), some);
    if (!reports) continue;  // the recipe step reports it
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

std::chrono::milliseconds Engine::backoff(int tries) const {
  return config_.backoff * (1 << std::min(tries - 1, 10));
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
  auto starts = sched_.next(clock_.now(), measure_());
  for (const auto& s : starts) {
    // Builds that share the host cannot tell their memory apart by the host's figures.
    bool shared = sched_.running().size() > 1;
    for (const auto& r : sched_.running()) {
      if (shared) overlapped_[r.id] = true;
    }
    overlapped_.emplace(s.id, shared);
    start_recipe(jobs_.at(s.id), s);
  }
  if (sched_.queued_count() > 0) schedule_recheck();
}

void Engine::start_recipe(Job& j, const sched::Start& s) {
  j.state = JobState::kBuilding;
  j.phase = JobPhase::kRecipe;
  if (j.started == TimePoint{}) j.started = clock_.now();
  j.warning = s.warning;
  if (!changed(j)) {
    unrecorded_start(j);
    return;
  }
  auto report =
      inspect_recipes(templates_, recipe_env(j.variant), {Selection{j.variant, {}, true}});
  if (!report) {
    sched_.finished(j.id);
    fail(j, JobPhase::kRecipe, flox::Failure::kUnknown, report.error().message);
    return;
  }
  flox::Lane* lane = lane_of(j.variant);
  if (!lane) {
    sched_.finished(j.id);
    fail(j, JobPhase::kRecipe, flox::Failure::kUnknown, no_lane(j.variant));
    return;
  }
  const JobId id = j.id;
  lane->commit_recipe(report->front(), "Add " + describe(j.variant) + " (" + j.package + ")",
                      [this, id](flox::LaneOutcome o) {
                        Job& job = jobs_.at(id);
                        if (job.cancel_requested) {
                          sched_.finished(id);
                          fail(job, JobPhase::kRecipe, flox::Failure::kCancelled, "cancelled");
                          job.state = JobState::kCancelled;
                          changed(job);
                          pump();
                          return;
                        }
                        if (o.ok) {
                          start_build(job);
                          return;
                        }
                        ++job.build_tries;
                        if (o.transient && job.build_tries < config_.max_tries) {
                          job.error = o.reason;
                          job.state = JobState::kQueued;
                          auto wait = backoff(job.build_tries);
                          sched_.requeue(id, clock_.now() + wait,
                                         "recipe: " + o.reason + "; try " +
                                             std::to_string(job.build_tries + 1) + " of " +
                                             std::to_string(config_.max_tries));
                          changed(job);
                          clock_.call_at(clock_.now() + wait, [this] { pump(); });
                        } else {
                          sched_.finished(id);
                          fail(job, JobPhase::kRecipe, o.failure, o.reason);
                        }
                        pump();
                      });
}

void Engine::start_build(Job& j) {
  j.phase = JobPhase::kBuild;
  ++j.build_tries;
  Attempt a;
  a.number = static_cast<int>(j.attempts.size()) + 1;
  a.phase = JobPhase::kBuild;
  a.started = clock_.now();
  a.log = log_path(j, JobPhase::kBuild);
  auto spec =
      flox::build_run(config_.flox, j.variant.environment->checkout, j.package, config_.child_env);
  spec.log = a.log;
  spec.log_limit = config_.log_limit;
  spec.wall_timeout = config_.build_timeout;
  spec.silence_timeout = config_.silence_timeout;
  spec.sample_every = config_.sample_every;
  j.attempts.push_back(std::move(a));
  // The store knows the build started before it does.
  if (!changed(j)) {
    j.attempts.pop_back();
    --j.build_tries;
    unrecorded_start(j);
    return;
  }
  const JobId id = j.id;
  j.run =
      runner_.start(std::move(spec), [this, id](const exec::RunResult& r) { build_done(id, r); });
  j.attempts.back().pgid = runner_.process_group(*j.run);
  changed(j);
}

void Engine::build_done(JobId id, const exec::RunResult& r) {
  Job& j = jobs_.at(id);
  j.run.reset();
  Attempt& a = j.attempts.back();
  a.ended = clock_.now();
  a.result = r;
  const auto verdict = flox::classify(r, flox::Phase::kBuild);
  a.failure = verdict.failure;
  a.reason = verdict.reason;
  const bool ran_alone = !overlapped_[id];
  overlapped_.erase(id);
  const auto kind = kind_of(j.variant);
  uint64_t reserved = 0;
  for (const auto& run : sched_.running()) {
    if (run.id == id) reserved = run.reservation;
  }

  if (verdict.failure == flox::Failure::kOutOfMemory) {
    // It needed more than it had: what it was seen using, or at least what it had reserved. The
    // store keeps the figure, so a restart learns the same.
    const uint64_t seen = std::max(r.peak_group_rss, reserved);
    if (seen > 0) a.learned_peak = seen;
    estimator_.learn(j.key().text(), kind, sched::Estimator::Ending::kOutOfMemory, a.learned_peak,
                     sched::Duration{});
  }
  if (verdict.failure == flox::Failure::kNone) {
    std::optional<uint64_t> peak;
    if (r.peak_group_rss >= kGiB) {
      peak = r.peak_group_rss;
    } else if (ran_alone && r.host_peak_used > r.host_used_at_start) {
      peak = r.host_peak_used - r.host_used_at_start;
    }
    a.learned_peak = peak;
    estimator_.learn(j.key().text(), kind, sched::Estimator::Ending::kSucceeded, peak,
                     std::chrono::duration_cast<std::chrono::seconds>(r.duration));
    sched_.finished(id);
    j.built = true;
    still_failing_.erase(j.key());
    j.output = flox::built_output(j.variant.environment->checkout, j.package);
    if (j.publish) {
      start_publish(j);
    } else {
      end(j, JobState::kSucceeded);
    }
  } else if (verdict.failure == flox::Failure::kCancelled || j.cancel_requested) {
    sched_.finished(id);
    end(j, JobState::kCancelled);
  } else if (verdict.transient && j.build_tries < config_.max_tries) {
    j.error = verdict.reason;
    j.failure = verdict.failure;
    j.state = JobState::kQueued;
    auto wait = backoff(j.build_tries);
    sched_.requeue(id, clock_.now() + wait,
                   std::string(flox::to_string(verdict.failure)) + "; try " +
                       std::to_string(j.build_tries + 1) + " of " +
                       std::to_string(config_.max_tries));
    changed(j);
    clock_.call_at(clock_.now() + wait, [this] { pump(); });
  } else {
    sched_.finished(id);
    // Only the recipe's own failures make a variant "still failing" for batches: rebuilding it
    // unchanged would fail the same way. A host that could not start the build (a full disk, no
    // flox) is not the recipe's fault, and the next batch tries again.
    const bool the_recipes = verdict.failure == flox::Failure::kBuildError ||
                             verdict.failure == flox::Failure::kEvaluation;
    if (the_recipes) j.fingerprint = fingerprint(j);
    fail(j, JobPhase::kBuild, verdict.failure, verdict.reason);
    if (the_recipes) still_failing_[j.key()] = {j.fingerprint, verdict.reason};
  }
  pump();
}

void Engine::end(Job& j, JobState state) {
  j.state = state;
  j.finished = clock_.now();
  if (state == JobState::kSucceeded) j.error.clear();
  active_.erase(j.key());
  changed(j);
}

void Engine::fail(Job& j, JobPhase phase, flox::Failure f, std::string reason) {
  j.phase = phase;
  j.failure = f;
  j.error = std::move(reason);
  end(j, JobState::kFailed);
}

void Engine::reconfigure(const EngineConfig& c) {
  auto pytorch_env = config_.pytorch_env;
  auto log_dir = config_.log_dir;
  config_ = c;
  config_.pytorch_env = pytorch_env;
  config_.log_dir = log_dir;
  sched_.set_limits(c.limits);
  estimator_.set_defaults(c.estimates);
  for (auto& [name, lane] : lanes_)
    lane->set_publishing(publish_settings(c));
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
    lane->commit_recipe(r, "Add " + describe(r.variant) + " (" + r.variant.package() + ")",
                        [on_error, name = r.variant.key().text()](flox::LaneOutcome o) {
                          if (!o.ok && on_error) on_error(name + ": " + o.reason);
                        });
  }
}

void Engine::recover_recipes(std::vector<RecipeReport> ours,
                             const std::function<void(std::vector<std::string>)>& done) {
  std::map<std::string, std::vector<RecipeReport>> by_lane;
  for (auto& r : ours)
    by_lane[r.variant.environment->name].push_back(std::move(r));
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

std::vector<sched::Waiting> Engine::waiting() const {
  return sched_.waiting(clock_.now(), measure_());
}

bool Engine::idle() const {
  return active_.empty();
}

}  // namespace tvd::service
