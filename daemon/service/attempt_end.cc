#include "daemon/service/attempt_end.h"

#include <algorithm>

namespace tvd::service {

using proto::JobPhase;
using proto::JobState;
using Step = AfterAttempt::Step;

AttemptEnd ending_of(JobPhase phase, const flox::LaneOutcome& o) {
  if (o.ok) return {phase, flox::Failure::kNone, false, o.reason};
  return {phase, o.failure == flox::Failure::kNone ? flox::Failure::kUnknown : o.failure,
          o.transient, o.reason};
}

AfterAttempt after_attempt(const AttemptEnd& e, int tries, bool cancel_requested, bool publish,
                           const RetryPolicy& p) {
  AfterAttempt a;
  if (cancel_requested || e.failure == flox::Failure::kCancelled) {
    a.ends = JobState::kCancelled;
    return a;
  }
  if (e.failure == flox::Failure::kNone) {
    switch (e.phase) {
      case JobPhase::kRecipe:
        a.step = Step::kNextPhase;
        a.next = JobPhase::kBuild;
        return a;
      case JobPhase::kBuild:
        if (publish) {
          a.step = Step::kNextPhase;
          a.next = JobPhase::kPublish;
          return a;
        }
        a.ends = JobState::kSucceeded;
        return a;
      case JobPhase::kPublish:
        a.ends = JobState::kSucceeded;
        return a;
    }
  }
  if (e.transient && tries < p.max_tries) {
    a.step = Step::kRetry;
    a.wait = p.backoff * (1 << std::clamp(tries - 1, 0, 10));
    const std::string what = e.phase == JobPhase::kRecipe ? "recipe: " + e.reason
                                                          : std::string(flox::to_string(e.failure));
    a.waiting = what + "; try " + std::to_string(tries + 1) + " of " + std::to_string(p.max_tries);
    return a;
  }
  a.ends = JobState::kFailed;
  // Only the recipe's own failures: a host that could not start the build (a full disk, no flox)
  // is not the recipe's fault, and the next batch tries again.
  a.still_failing = e.phase == JobPhase::kBuild && (e.failure == flox::Failure::kBuildError ||
                                                    e.failure == flox::Failure::kEvaluation);
  return a;
}

}  // namespace tvd::service
