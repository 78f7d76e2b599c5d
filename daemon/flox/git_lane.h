// Git in the flox environment, one transaction at a time. flox only builds recipes git tracks,
// and flox publish refuses untracked or uncommitted files, so every change tvd makes to the
// checkout is a whole transaction (write, `git add` that one file, commit that one path, push
// where configured), and a publish holds the lane for its precondition checks and while its
// worktree is put at the revision to publish, so that no commit lands in between (the upload
// itself runs in that worktree, outside the lane). Never `git add -A`. Every git and flox command
// is a child process through the runner. A transaction is a coroutine (git_lane_flows.h): its steps
// read in order, each refusal a `co_return`.
#pragma once

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/base/file.h"
#include "daemon/base/result.h"
#include "daemon/exec/runner.h"
#include "daemon/flox/classify.h"
#include "daemon/flox/lane.h"

namespace boost::asio {
class io_context;
}

namespace tvd::flox {

struct GitLaneConfig {
  std::filesystem::path env_dir;  // the flox environment's checkout
  std::filesystem::path log_dir;  // where the lane's command logs go
  std::map<std::string, std::string> child_env;
  PublishSettings publishing;       // flox, push, org, signing key; a reload changes them
  std::filesystem::path worktrees;  // where publishing worktrees are made
  // The ids of the commits tvd made and has not pushed, one per line: a push sends nothing else
  // (a person's commit is never pushed or rebased by tvd), and a restart knows them.
  std::filesystem::path made_commits;
  std::chrono::seconds git_timeout{300};
};

class GitLane : public Lane {
 public:
  // Transactions run as coroutines on `io`, the io_context the runner calls back on.
  // Its log directory is made here, if it is missing.
  GitLane(boost::asio::io_context& io, exec::Runner& runner, GitLaneConfig config);

  // Makes `recipe.file` tracked and committed: writes it from `recipe.text` if it is missing,
  // commits it if it is untracked, leaves it if it is committed, refuses if it has uncommitted
  // changes. Adds "result-*" to the environment's .gitignore first if it is missing there.
  void commit_recipe(const RecipeFile& recipe, std::string message,
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
  void recover(std::vector<RecipeFile> ours,
               std::function<void(std::vector<std::string>)> done) override;

  void cancel_commit(const std::string& package) override;
  std::string commit_activity(const std::string& package) const override;
  bool busy() const override { return busy_; }
  void set_publishing(const PublishSettings& s) override { config_.publishing = s; }
  const GitLaneConfig& config() const { return config_; }

 private:
  // The transactions and their steps, as Asio coroutines (git_lane_flows.h, private to this
  // folder, so that Asio stays out of this header).
  struct Flows;
  friend struct Flows;

  // Transactions wait here, each as the function that starts it, and run one at a time.
  void enqueue(std::function<void()> start, bool first = false);
  void run_next();  // starts the next waiting transaction, or leaves the lane free
  // Starts git in `dir`; `then` gets its result. The crash marker names it while it runs.
  void start_git(const std::filesystem::path& dir, std::vector<std::string> args,
                 std::function<void(const exec::RunResult&)> then);
  // At start: kills each git a crash of tvd left running (its marker names the process group),
  // if that group is still that git.
  void end_orphans();
  // .git/index.lock when no process holds it open: what an interrupted git left.
  void remove_stale_index_lock();
  // The commits tvd made and has not pushed (config_.made_commits): read at construction, one
  // line appended (and synced) per commit, emptied by a push that sent them.
  void load_made();
  void record_made(const std::string& line);  // appended and synced
  void remember_made(const std::string& id);
  // A new mark, written down before the commit that carries it in its trailer is made.
  std::string remember_pending();
  void forget_made();
  // Why a git command failed, for a job's reason: git's telling line, or the lane's time limit
  // by name when it was stopped for it.
  std::string git_failure(const exec::RunResult& r) const;
  // A push that failed for a reason other than a moved upstream, as the job's outcome.
  LaneOutcome push_refused(const flox::Verdict& v) const;
  // Runs `flox publish` in slot's worktree at `rev` (outside the lane); `finish` gets the result.
  void upload(const std::string& package, const std::filesystem::path& log, size_t slot,
              const std::string& rev, std::function<void(LaneOutcome)> finish,
              const std::function<void(exec::RunId, const std::string& rev)>& started);

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

  boost::asio::io_context& io_;
  exec::Runner& runner_;
  GitLaneConfig config_;
  std::deque<std::function<void()>> queue_;
  bool busy_ = false;
  UniqueFd marker_;      // <log_dir>/running-git, while a git runs: its process group and start
  uint64_t marked_ = 0;  // which git the marker is of
  std::vector<Worktree> worktrees_;
  std::set<std::string> made_;     // ids of tvd's unpushed commits
  std::set<std::string> pending_;  // marks of commits tvd began (their ids may be unrecorded)
  // The package whose recipe commit runs now, and its git; packages cancelled before theirs ran.
  std::string committing_;
  std::optional<exec::RunId> git_run_;
  std::set<std::string> cancelled_;
  // What the running transaction is ("committing the recipe of X", "preparing the publish of
  // X"), its running git ("git commit") and since when, for status.
  std::string task_;
  std::string doing_;
  std::chrono::steady_clock::time_point doing_since_;
  std::vector<std::string> identity_;  // -c user.name=... when the checkout has none
  bool identity_checked_ = false;
  int n_ = 0;
};

}  // namespace tvd::flox
