// What follows the end of an attempt: one decision for every phase (the recipe commit, the
// build, the publish) and every ending (succeeded, failed with a class, timed out, cancelled), so
// that the three phases cannot drift apart. The engine applies it in one place
// (Engine::attempt_ended); this part is pure, tested on its own (attempt_end_test.cc).
#pragma once

#include <chrono>
#include <string>

#include "daemon/flox/classify.h"
#include "daemon/flox/lane.h"
#include "proto/job.h"

namespace tvd::service {

// How one attempt ended.
struct AttemptEnd {
  proto::JobPhase phase = proto::JobPhase::kBuild;
  flox::Failure failure = flox::Failure::kNone;  // kNone: it succeeded
  bool transient = false;                        // worth trying again (classify.h)
  std::string reason;                            // for people
};

// How a git lane's transaction (a recipe commit, a publish) ended, as an attempt's end: a
// transaction that did not succeed always has a failure class (kUnknown when it gave none).
AttemptEnd ending_of(proto::JobPhase phase, const flox::LaneOutcome& o);

struct RetryPolicy {
  int max_tries = 3;                                           // per phase, the first try included
  std::chrono::milliseconds backoff{std::chrono::minutes(2)};  // doubles each try
};

// What the job does next.
struct AfterAttempt {
  enum class Step {
    kNextPhase,  // the next phase starts now (`next`)
    kRetry,      // the same phase again after `wait`
    kEnd,        // the job ends in `ends`
  };
  Step step = Step::kEnd;
  proto::JobPhase next = proto::JobPhase::kBuild;
  std::chrono::milliseconds wait{0};
  std::string waiting;  // kRetry: why it waits, for status ("network; try 2 of 3")
  proto::JobState ends = proto::JobState::kFailed;
  // kEnd in kFailed: the recipe's own failure (its build or evaluation), which would fail the
  // same way unchanged, so batches skip the variant while recipe and lock stay as they are.
  bool still_failing = false;
};

// `tries`: the tries of this phase so far, this one included (the recipe commit and the build
// share theirs); `cancel_requested`: a person cancelled the job while the attempt ran, which wins
// over however it ended; `publish`: the job publishes after its build.
AfterAttempt after_attempt(const AttemptEnd& e, int tries, bool cancel_requested, bool publish,
                           const RetryPolicy& p);

}  // namespace tvd::service
