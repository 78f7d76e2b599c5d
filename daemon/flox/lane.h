// What the engine asks of git and flox publish, as an interface: the real one is the git lane
// (git_lane.h); the engine's state-machine tests use a fake (tests/support/fake_lane.h).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/exec/runner.h"
#include "daemon/flox/classify.h"

namespace tvd::flox {

// How a transaction ended. `transient` failures are worth retrying later.
struct LaneOutcome {
  bool ok = false;
  bool transient = false;
  Failure failure = Failure::kNone;
  std::string reason;                  // for people: what was wrong and what to do
  bool committed = false;              // the recipe transaction made a commit
  std::optional<exec::RunResult> run;  // the flox publish run, if it got that far
};

// A recipe as the lane commits it: the package, its file (.flox/pkgs/PACKAGE.nix in the lane's
// checkout), tvd's text of it, and whether a file there now is that text (an untracked file that
// is not is someone's own, and tvd commits only what it wrote).
struct RecipeFile {
  std::string package;
  std::filesystem::path file;
  std::string text;
  bool ours_on_disk = true;
  // Files tvd writes and commits with the recipe, in the same commit (a paired recipe's copy of
  // its torch's recipe): tvd's own, written where they differ.
  std::vector<std::pair<std::filesystem::path, std::string>> companions = {};
  // tvd's own committed text of the recipe that `text` replaces (a paired recipe whose torch
  // changed): replaced only while the file is exactly that; empty: nothing to replace.
  std::string replaces = {};
};

// What `flox publish` is told; a reloaded config changes it for publishes that start later.
struct PublishSettings {
  std::string flox = "flox";
  bool push = false;  // push recipe commits to the upstream
  std::string org;
  std::filesystem::path signing_key;                    // --signing-private-key, when set
  std::chrono::seconds timeout{std::chrono::hours(2)};  // builds.publish_timeout: one upload
};

class Lane {
 public:
  virtual ~Lane() = default;
  // Makes `recipe.file` tracked and committed (and pushed when `push` is on).
  virtual void commit_recipe(const RecipeFile& recipe, std::string message,
                             std::function<void(LaneOutcome)> done) = 0;
  // Publishes `package` from `pinned_rev` (or HEAD); `started` learns the flox publish run and
  // the revision before the upload. "Package already published." is success.
  virtual void publish(const std::string& package, const std::string& pinned_rev,
                       std::filesystem::path log, std::function<void(LaneOutcome)> done,
                       std::function<void(exec::RunId, const std::string& rev)> started) = 0;
  // After a crash: tvd's own recipes left uncommitted are committed; `done` lists them.
  virtual void recover(std::vector<RecipeFile> ours,
                       std::function<void(std::vector<std::string>)> done) = 0;
  // The job of `package` was cancelled during its recipe commit: the commit's running git is
  // stopped (a hook that hangs holds nobody), or the commit, still queued, does nothing; its
  // `done` is told either way.
  virtual void cancel_commit(const std::string& package) { (void)package; }
  // For status, where `package`'s recipe commit is: "committing: git commit running for 2 min
  // (the repository's pre-commit hook runs in it)", or what the lane does while it waits.
  virtual std::string commit_activity(const std::string& package) const {
    (void)package;
    return "committing its recipe";
  }
  // A transaction holds the lane (a publish only for its checks, not its upload).
  virtual bool busy() const = 0;
  virtual void set_publishing(const PublishSettings& s) = 0;
};

}  // namespace tvd::flox
