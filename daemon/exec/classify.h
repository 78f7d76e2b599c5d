// Why a run failed, for people and for the retry policy: the exit status (read natively, so a
// SIGKILL is a signal, not exit code 9) first, then what flox and Nix wrote at the end of the log.
// Transient failures (a kill, OOM, a timeout, the network, a collision) are worth retrying;
// permanent ones (the recipe, evaluation, a build error, a precondition) are not.
#pragma once

#include <string>
#include <string_view>

#include "daemon/exec/runner.h"

namespace tvd::exec {

enum class Phase { kBuild, kPublish, kGit };

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
  kUnknown,
};
const char* to_string(Failure f);

struct Verdict {
  Failure failure = Failure::kNone;
  bool transient = false;
  std::string reason;  // one line for people
};

Verdict classify(const RunResult& r, Phase phase);

// The last line of `tail` that says "error" (or the last non-empty line), trimmed.
std::string telling_line(std::string_view tail);

}  // namespace tvd::exec
