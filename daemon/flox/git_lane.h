// Git in the flox environment, one transaction at a time. flox only builds recipes git tracks,
// and flox publish refuses untracked or uncommitted files, so every change tvd makes to the
// checkout is a whole transaction (write, `git add` that one file, commit that one path, push
// where configured), and a publish holds the lane for its precondition checks and its run so
// that no commit lands in between. Never `git add -A`. Every git and flox command is a child
// process through the runner.
#pragma once

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/base/file.h"
#include "daemon/base/result.h"
#include "daemon/exec/runner.h"
#include "daemon/flox/classify.h"
#include "daemon/flox/lane.h"
#include "daemon/recipe/generate.h"

namespace tvd::flox {

struct GitLaneConfig {
  std::filesystem::path env_dir;  // the flox environment's checkout
  std::filesystem::path log_dir;  // where the lane's command logs go
  std::map<std::string, std::string> child_env;
  std::string flox = "flox";
  bool push = false;                  // push recipe commits to the upstream
  std::string org;                    // for flox publish
  std::filesystem::path signing_key;  // flox publish --signing-private-key, when set
  std::filesystem::path worktrees;    // where publishing worktrees are made
  std::chrono::seconds git_timeout{300};
  std::chrono::seconds publish_timeout{std::chrono::hours(2)};
};

class GitLane : public Lane {
 public:
  GitLane(exec::Runner& runner, GitLaneConfig config)
      : runner_(runner), config_(std::move(config)) {}

  // Makes `recipe.file` tracked and committed: writes it from `recipe.text` if it is missing,
  // commits it if it is untracked, leaves it if it is committed, refuses if it has uncommitted
  // changes. Adds "result-*" to the environment's .gitignore first if it is missing there.
  void commit_recipe(const RecipeReport& recipe, std::string message,
                     std::function<void(LaneOutcome)> done) override;

  // Checks flox publish's preconditions itself (so the error says what to fix), pushes an
  // unpushed HEAD when `push` is on, then makes a worktree of the revision to publish
  // (`pinned_rev` if it is still on the upstream, else HEAD) on a branch tracking the upstream,
  // and runs `flox publish -d WORKTREE -o ORG PKG` there, outside the lane: other commits go on
  // during the upload, and nothing they do changes what is published. `started` learns the run
  // and the revision. Output goes to `log`. "Package already published." is success.
  void publish(const std::string& package, const std::string& pinned_rev, std::filesystem::path log,
               std::function<void(LaneOutcome)> done,
               std::function<void(exec::RunId, const std::string& rev)> started = {}) override;

  // After a crash: recipes of tvd's own (equal to what the templates give) that are untracked or
  // staged but not committed are committed, one commit each, and pushed when `push` is on. Other
  // files are left alone. Queued first, before anything else uses the lane.
  void recover(std::vector<RecipeReport> ours,
               std::function<void(std::vector<std::string>)> done) override;

  bool busy() const override { return busy_; }
  void set_publishing(const PublishSettings& s) override {
    config_.flox = s.flox;
    config_.push = s.push;
    config_.org = s.org;
    config_.signing_key = s.signing_key;
  }
  const GitLaneConfig& config() const { return config_; }

 private:
  // A push that failed for a reason other than a moved upstream, as the job's outcome.
  LaneOutcome push_refused(const flox::Verdict& v) const;
  // git push; when the upstream moved, fetch, rebase tvd's own unpushed commits onto it, and
  // push again. A conflict, or someone else's unpushed commit, fails with what to do.
  void push(std::function<void()> next, std::function<void(LaneOutcome)> fail);
  // At start: kills each git a crash of tvd left running (its marker names the process group),
  // if that group is still that git.
  void end_orphans();
  // Adds "result-*" to the environment's .gitignore (now `text`) and commits that file alone.
  void add_ignore(const std::filesystem::path& path, std::string text, std::function<void()> next,
                  std::function<void(LaneOutcome)> fail);

  using Step =
      std::function<void(std::function<void()> next, std::function<void(LaneOutcome)> fail)>;
  struct Transaction {
    std::vector<Step> steps;
    std::function<void(LaneOutcome)> done;
  };
  struct Active {
    Transaction transaction;
    size_t next_step = 0;
  };
  void enqueue(std::vector<Step> steps, std::function<void(LaneOutcome)> done);
  void run_next();
  void advance(const std::shared_ptr<Active>& t);
  void finish(const std::shared_ptr<Active>& t, LaneOutcome o);
  void git(std::vector<std::string> args, std::function<void(const exec::RunResult&)> then) {
    git_in(config_.env_dir, std::move(args), std::move(then));
  }
  void git_in(const std::filesystem::path& dir, std::vector<std::string> args,
              std::function<void(const exec::RunResult&)> then);

  // Publishing worktrees are kept and reused: slot k is <worktrees>/k on branch tvd-publish/k,
  // one per publish running at once.
  struct Worktree {
    bool busy = false;     // a publish holds it
    bool ready = false;    // made by this process and left as git made it
    std::string upstream;  // what its branch tracks, as set by this process
  };
  size_t take_worktree();
  // `remake`: its state is not known (a flox run in it failed); made from nothing next time.
  void release_worktree(size_t slot, bool remake);
  std::filesystem::path worktree_dir(size_t slot) const;
  // Puts slot's worktree at `rev`, its branch tracking `upstream`.
  void prepare_worktree(size_t slot, const std::string& rev, const std::string& upstream,
                        std::function<void()> next, std::function<void(LaneOutcome)> fail);
  void check_identity(std::function<void()> next);

  exec::Runner& runner_;
  GitLaneConfig config_;
  std::deque<Transaction> queue_;
  bool busy_ = false;
  UniqueFd marker_;      // <log_dir>/running-git, while a git runs: its process group and start
  uint64_t marked_ = 0;  // which git the marker is of
  std::vector<Worktree> worktrees_;
  std::vector<std::string> identity_;  // -c user.name=... when the checkout has none
  bool identity_checked_ = false;
  int n_ = 0;
};

}  // namespace tvd::flox
