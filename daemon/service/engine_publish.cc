// A job's publish phase: each output once (what was published is known), the upload through the
// git lane's worktree, retried as a publish, never as a rebuild.
#include "daemon/service/engine.h"

namespace tvd::service {

void Engine::start_publish(Job& j) {
  if (held_ > 0) {
    j.state = JobState::kPublishing;
    j.phase = JobPhase::kPublish;
    publish_wanted_.push_back(j.id);
    return;
  }
  // A reload turned publishing off before this publish started (after its build, or before its
  // retry or its resumption at a restart): the job ends with what it built.
  if (!config_.publish) {
    j.phase = JobPhase::kPublish;
    j.note = "built, not published: publishing was turned off (publish.enabled = false)";
    end(j, JobState::kSucceeded);
    return;
  }
  // Each output once: flox's own check is keyed on HEAD, which moves with every recipe commit.
  if (auto p = published_.find(j.key());
      !j.output.empty() && p != published_.end() && p->second == j.output) {
    j.phase = JobPhase::kPublish;
    j.published = true;
    j.note = "already published: " + j.output;
    end(j, JobState::kSucceeded);
    return;
  }
  j.state = JobState::kPublishing;
  j.phase = JobPhase::kPublish;
  ++j.publish_tries;
  Attempt a;
  a.number = static_cast<int>(j.attempts.size()) + 1;
  a.phase = JobPhase::kPublish;
  a.started = clock_.now();
  a.log = log_path(j, JobPhase::kPublish);
  auto log = a.log;
  j.attempts.push_back(std::move(a));
  const JobId id = j.id;
  // The store knows the publish started before it does; else it waits and is tried again.
  if (!changed(j, EventKind::kStarted)) {
    j.attempts.pop_back();
    --j.publish_tries;
    changed(j);
    retry_publish_at(id, clock_.now() + kRecordWait);
    return;
  }
  flox::Lane* lane = lane_of(j.variant);
  if (!lane) {
    attempt_ended(j, {JobPhase::kPublish, flox::Failure::kUnknown, false, no_lane(j.variant)});
    return;
  }
  lane->publish(
      j.package, j.publish_rev, log, [this, id](flox::LaneOutcome o) { publish_done(id, o); },
      [this, id](exec::RunId run, const std::string& rev) {
        Job& job = jobs_.at(id);
        job.run = run;
        job.publish_rev = rev;  // recorded before the upload: a retry publishes the same one
        job.attempts.back().pgid = runner_.process_group(run);
        changed(job);
      });
}

void Engine::retry_publish_at(JobId id, TimePoint when) {
  clock_.call_at(when, [this, id] {
    auto it = jobs_.find(id);  // a cancel may have ended it meanwhile
    if (it == jobs_.end()) return;
    Job& again = it->second;
    if (again.state == JobState::kPublishing && !again.cancel_requested && !again.run) {
      start_publish(again);
    }
  });
}

void Engine::publish_done(JobId id, const flox::LaneOutcome& o) {
  Job& j = jobs_.at(id);
  Attempt& a = run_ended(j, o.run);
  a.failure = o.failure;
  a.reason = o.reason;
  if (o.ok) {
    // It is in the catalog, even if a cancel came too late to stop it.
    j.published = true;
    if (!j.output.empty()) published_[j.key()] = j.output;
  }
  attempt_ended(j, ending_of(JobPhase::kPublish, o));
}

}  // namespace tvd::service
