// A job's build: started on the builder the scheduler chose, under tvd-run so that it outlives a
// restart of tvd, and what its end teaches (the memory learned for the next reservation, a lost
// remote builder).
#include "daemon/flox/commands.h"
#include "daemon/service/engine.h"

namespace tvd::service {

namespace {
constexpr uint64_t kGiB = 1ull << 30;
}  // namespace

void Engine::start_build(Job& j, const sched::Start& s) {
  j.state = JobState::kBuilding;
  j.phase = JobPhase::kBuild;
  if (j.started == TimePoint{}) j.started = clock_.now();
  j.warning = s.warning;
  ++j.build_tries;
  Attempt a;
  a.number = static_cast<int>(j.attempts.size()) + 1;
  a.phase = JobPhase::kBuild;
  a.started = clock_.now();
  a.log = log_path(j, JobPhase::kBuild);
  auto spec = flox::build_run(config_.publishing.flox, j.variant.environment->checkout, j.package,
                              config_.child_env);
  // On the builder the scheduler chose (the host when no builders are configured).
  a.builder = s.builder;
  for (const auto& b : config_.builders) {
    if (b.placement.name == s.builder) {
      flox::place_build(spec, j.variant.isa->platform, b.nix_line);
    }
  }
  spec.log = a.log;
  spec.log_limit = config_.log_limit;
  spec.wall_timeout = config_.build_timeout;
  spec.silence_timeout = config_.silence_timeout;
  spec.sample_every = config_.sample_every;
  spec.outlives_daemon = true;  // a restart of tvd costs the build nothing (Engine::restore)
  j.attempts.push_back(std::move(a));
  // The store knows the build started before it does.
  if (!changed(j, EventKind::kStarted)) {
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

Attempt& Engine::run_ended(Job& j, std::optional<exec::RunResult> r) {
  j.run.reset();
  Attempt& a = j.attempts.back();
  a.ended = clock_.now();
  a.result = std::move(r);
  return a;
}

void Engine::build_done(JobId id, const exec::RunResult& r) {
  Job& j = jobs_.at(id);
  Attempt& a = run_ended(j, r);
  auto verdict = flox::classify(r, flox::Phase::kBuild);
  const BuilderRun* b = builder_run(a.builder);
  // What the host measured of a build on another machine is flox and the Nix client, not the
  // build: such a build teaches its duration, and (killed for memory) no more than its
  // reservation.
  const bool remote = b && !b->placement.local;
  // A remote builder that could not be reached or was lost: the build waits again (transient),
  // naming the builder, and nothing is placed there until a probe reaches it.
  if (remote && verdict.failure != flox::Failure::kNone) {
    if (auto line = flox::lost_builder(r.tail)) {
      verdict = {flox::Failure::kNetwork, true, "builder " + a.builder + " lost: " + *line};
      builder_lost(*b);
    }
  }
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
    const uint64_t seen = remote ? reserved : std::max(r.peak_group_rss, reserved);
    if (seen > 0) a.learned_peak = seen;
    estimator_.learn(j.key().text(), kind, sched::Estimator::Ending::kOutOfMemory, a.learned_peak,
                     sched::Duration{});
  }
  if (verdict.failure == flox::Failure::kNone) {
    std::optional<uint64_t> peak;
    if (remote) {
      // Nothing of its memory is seen from here.
    } else if (r.peak_group_rss >= kGiB) {
      peak = r.peak_group_rss;
    } else if (ran_alone && r.host_peak_used > r.host_used_at_start) {
      peak = r.host_peak_used - r.host_used_at_start;
    }
    a.learned_peak = peak;
    estimator_.learn(j.key().text(), kind, sched::Estimator::Ending::kSucceeded, peak,
                     std::chrono::duration_cast<std::chrono::seconds>(r.duration));
    // What was built stays built, even under a cancel: a retry resumes at its publish.
    j.built = true;
    still_failing_.erase(j.key());
    j.output = flox::built_output(j.variant.environment->checkout, j.package);
  }
  attempt_ended(j, {JobPhase::kBuild, verdict.failure, verdict.transient, verdict.reason});
}

}  // namespace tvd::service
