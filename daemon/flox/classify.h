// Why a run failed, for people and for the retry policy: the exit status (read natively, so a
// SIGKILL is a signal, not exit code 9) first, then what flox and Nix wrote at the end of the log.
// Transient failures (a kill, OOM, a timeout, the network, a collision) are worth retrying;
// permanent ones (the recipe, evaluation, a build error, a precondition) are not.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "daemon/base/names.h"
#include "daemon/exec/runner.h"
#include "proto/job.h"

namespace tvd::flox {

enum class Phase { kBuild, kPublish, kGit };

// The failure classes are the contract's words (proto/job.h), read and written through kFailures.
using proto::Failure;
using proto::kFailures;
const char* to_string(Failure f);

struct Verdict {
  Failure failure = Failure::kNone;
  bool transient = false;
  std::string reason;  // one line for people
};

Verdict classify(const exec::RunResult& r, Phase phase);

// What a flox run's output says, read as flox 1.14 and Nix write it (DESIGN.md): flox's closing
// "✘ ERROR: ..." line, Nix's reason for the first derivation that failed itself ("torch-2.8.0:
// builder failed with exit code 2"), the first compiler error in the build log, an evaluation
// error with its location, a network line. Flox's "! ..." warnings (such as "You are not logged in
// to FloxHub", printed by every command without credentials) are dropped.
struct FloxOutput {
  std::string flox_error;      // after "✘ ERROR: "
  std::string nix_reason;      // "NAME: builder failed with exit code 2"
  std::string compiler_error;  // "torch/csrc/Module.cpp:42:7: error: ..."
  std::string eval_error;      // "attribute 'x' missing at FILE:LINE:COL"
  std::string network_line;
  std::string last_error;  // the last "error: ..." line of Nix
  std::string meaningful;  // every line but the warnings
};
FloxOutput read_flox_output(std::string_view tail);

// The last line of `tail` that says "error" (or the last non-empty line), trimmed.
std::string telling_line(std::string_view tail);

// Why `git push` failed, from what git 2.39 writes (Debian 12's; the wording is git's own, in
// transport.c, connect.c, http.c and remote-curl.c):
// - the upstream moved: " ! [rejected] … (fetch first)" or "(non-fast-forward)": transient, and
//   the lane rebases tvd's own commits onto it (kCollision);
// - the upstream refused it: " ! [remote rejected] main -> main (pre-receive hook declined)",
//   a protected branch: permanent, with the remote's own "remote: …" lines (kPublishPrecondition);
// - no such repository: "fatal: '…' does not appear to be a git repository", "fatal: repository
//   '…' not found": permanent (kPublishPrecondition);
// - refused credentials: "fatal: Authentication failed for '…'", "Permission denied
//   (publickey)": permanent (kNotLoggedIn);
// - no upstream branch: "fatal: The current branch main has no upstream branch.": permanent;
// - anything else (a host that does not resolve, a dropped connection): the network, transient.
Verdict classify_push(std::string_view tail);

// A build sent to a Nix remote builder that did not get there or lost it, as Nix says it
// (build-remote.cc, the derivation goal): "cannot build on 'URI': ..." (the connection failed; Nix
// disables the machine), "Failed to find a machine for remote build!" and "unable to start any
// build; either increase '--max-jobs' or enable remote builds" (no machine left, nothing local),
// "unexpected end-of-file" (the connection dropped mid-build). The first such line; nullopt when
// the output has none.
std::optional<std::string> lost_builder(std::string_view tail);

}  // namespace tvd::flox
