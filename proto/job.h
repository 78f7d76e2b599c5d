// The words of a job, as the contract has them (PROTOCOL.md, DESIGN.md "The contract"): its
// states, its phases, its failure classes and the kinds of its events. They sit in proto/, below
// every layer, so that the engine, the store's rows, the views, tvctl and the pages hold the enums
// and turn them into text only through these tables.
#pragma once

#include <optional>
#include <string>

#include "daemon/base/names.h"

namespace tvd::proto {

enum class JobState { kQueued, kBuilding, kPublishing, kSucceeded, kFailed, kCancelled };
inline constexpr Names<JobState, 6> kJobStates{{{
    {JobState::kQueued, "queued"},
    {JobState::kBuilding, "building"},
    {JobState::kPublishing, "publishing"},
    {JobState::kSucceeded, "succeeded"},
    {JobState::kFailed, "failed"},
    {JobState::kCancelled, "cancelled"},
}}};
// Ended: the job will not change again unless it is retried.
constexpr bool is_terminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled;
}

enum class JobPhase { kRecipe, kBuild, kPublish };
inline constexpr Names<JobPhase, 3> kJobPhases{{{
    {JobPhase::kRecipe, "recipe"},
    {JobPhase::kBuild, "build"},
    {JobPhase::kPublish, "publish"},
}}};

// Why a job was queued: a person asked for it, or a batch (the nightly) did. The scheduler orders
// interactive jobs first.
enum class Origin { kInteractive, kBatch };
inline constexpr Names<Origin, 2> kOrigins{{{
    {Origin::kInteractive, "interactive"},
    {Origin::kBatch, "batch"},
}}};

// How an attempt ended, as the store keeps it: a cancel is an outcome of its own, never a failure;
// an interrupted attempt was cut short by a restart of tvd (it is tried again, and counts nothing).
enum class AttemptOutcome { kSucceeded, kFailed, kCancelled, kInterrupted };
inline constexpr Names<AttemptOutcome, 4> kAttemptOutcomes{{{
    {AttemptOutcome::kSucceeded, "succeeded"},
    {AttemptOutcome::kFailed, "failed"},
    {AttemptOutcome::kCancelled, "cancelled"},
    {AttemptOutcome::kInterrupted, "interrupted"},
}}};

// Why an attempt failed, for people and for the retry policy (daemon/flox/classify.h reads flox's
// and Nix's output into these). Transient ones (a kill, OOM, a timeout, the network, a collision)
// are worth retrying; permanent ones (the recipe, evaluation, a build error, a precondition) are
// not.
enum class Failure {
  kNone,
  kCancelled,
  kTimeout,
  kSilence,
  kKilled,
  kOutOfMemory,
  kNetwork,
  kCollision,
  kNotTracked,
  kNotLoggedIn,
  kPublishPrecondition,
  kEvaluation,
  kBuildError,
  kStartFailure,
  kDependency,  // a build it needs (its torch's) failed or was cancelled
  kUnknown,
};
inline constexpr Names<Failure, 16> kFailures{{{
    {Failure::kNone, "none"},
    {Failure::kCancelled, "cancelled"},
    {Failure::kTimeout, "timeout"},
    {Failure::kSilence, "silence"},
    {Failure::kKilled, "killed"},
    {Failure::kOutOfMemory, "out-of-memory"},
    {Failure::kNetwork, "network"},
    {Failure::kCollision, "collision"},
    {Failure::kNotTracked, "not-tracked"},
    {Failure::kNotLoggedIn, "not-logged-in"},
    {Failure::kPublishPrecondition, "publish-precondition"},
    {Failure::kEvaluation, "evaluation"},
    {Failure::kBuildError, "build-error"},
    {Failure::kStartFailure, "start-failure"},
    {Failure::kDependency, "dependency"},
    {Failure::kUnknown, "unknown"},
}}};

// What a job's change was, as its event records it. Each change of state, and each phase that
// starts, is one event, written in the transaction that records the change.
enum class EventKind {
  kQueued,     // a new job waits for a build
  kStarted,    // a phase started: the recipe commit, the build or the publish
  kRetrying,   // an attempt failed transiently; the phase will be tried again after a wait
  kRequeued,   // back in the queue through no failure of its own (a restart of tvd, a start the
               // store could not record)
  kRetried,    // a person retried the ended job
  kSucceeded,  // ended: built, and published when publishing is on
  kFailed,     // ended: an attempt failed for good, or the job was refused at enqueue
  kCancelled,  // ended: a person cancelled it; never recorded as a failure
};
inline constexpr Names<EventKind, 8> kEventKinds{{{
    {EventKind::kQueued, "queued"},
    {EventKind::kStarted, "started"},
    {EventKind::kRetrying, "retrying"},
    {EventKind::kRequeued, "requeued"},
    {EventKind::kRetried, "retried"},
    {EventKind::kSucceeded, "succeeded"},
    {EventKind::kFailed, "failed"},
    {EventKind::kCancelled, "cancelled"},
}}};

// Each enum above as text, through its table (pages and messages; a failure of none is "").
inline std::string to_text(JobState e) {
  return std::string(kJobStates.name(e));
}
inline std::string to_text(JobPhase e) {
  return std::string(kJobPhases.name(e));
}
inline std::string to_text(Origin e) {
  return std::string(kOrigins.name(e));
}
inline std::string to_text(AttemptOutcome e) {
  return std::string(kAttemptOutcomes.name(e));
}
inline std::string to_text(EventKind e) {
  return std::string(kEventKinds.name(e));
}
inline std::string to_text(Failure e) {
  return e == Failure::kNone ? std::string() : std::string(kFailures.name(e));
}

// One change of a job, as its event records it: the kind, the states it went from (none for a new
// job) and to, the phase it is in, and for a failure (or a retry that waits) its class and reason.
// The engine makes it; the store keeps it as it is (store::EventRow).
struct JobChange {
  EventKind kind = EventKind::kQueued;
  std::optional<JobState> from;
  JobState to = JobState::kQueued;
  JobPhase phase = JobPhase::kRecipe;
  Failure failure = Failure::kNone;
  std::string reason;
};

// "started queued>building recipe": a change in one line, for people and for the tests that
// assert a job's whole story ("-" before the first state).
inline std::string describe(const JobChange& c) {
  return std::string(kEventKinds.name(c.kind)) + " " +
         (c.from ? std::string(kJobStates.name(*c.from)) : "-") + ">" +
         std::string(kJobStates.name(c.to)) + " " + std::string(kJobPhases.name(c.phase));
}

}  // namespace tvd::proto
