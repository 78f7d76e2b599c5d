// The git lane on its own, with real git, a bare upstream and the fake flox: recipe commits
// interrupted by a crash, hand-written recipes, an upstream that moved or refuses, a rebase
// conflict, commits while an upload runs, publishing worktrees. (The engine's side of each outcome
// is tested on the fakes: daemon/service/engine_machine_test.cc.)
#include "daemon/flox/git_lane.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/asio/io_context.hpp>
#include <fstream>
#include <thread>

#include "daemon/exec/host.h"
#include "daemon/exec/process_runner.h"
#include "daemon/matrix/spec.h"
#include "daemon/recipe/generate.h"
#include "tests/support/run_io.h"
#include "tests/support/scratch.h"

namespace tvd::flox {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

class GitLaneTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  std::unique_ptr<exec::Runner> runner = exec::make_process_runner(io, {.grace = 300ms});
  testing::ScratchDir dir;
  fs::path env_dir = dir / "build-torchvision";
  fs::path upstream = dir / "upstream.git";
  fs::path plan = dir / "plan";
  fs::path worktrees = dir / "state" / "publish";
  Matrix matrix = std::move(Matrix::embedded().value());
  TemplateSet templates = std::move(TemplateSet::embedded("torchvision").value());
  std::unique_ptr<GitLane> lane;
  const std::string sm89 = "torchvision-python313-cuda12_8-sm89-avx2";
  const std::string sm90 = "torchvision-python313-cuda12_8-sm90-avx2";
  const std::string cpu = "torchvision-python313-cpu-avx2";

  void SetUp() override {
    fs::create_directories(plan);
    testing::make_git_flox_env(env_dir, upstream);
    matrix.set_environment({"default", env_dir});
    GitLaneConfig c;
    c.env_dir = env_dir;
    c.log_dir = dir / "state" / "logs" / "git";
    c.child_env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                   {"HOME", dir.path().string()},
                   {"FAKE_FLOX_PLAN", plan.string()},
                   {"FLOX_FLOXHUB_TOKEN", "t0ken"}};
    c.publishing = {testing::fake_flox().string(), true, "acme", {}};
    c.worktrees = worktrees;
    lane = std::make_unique<GitLane>(io, *runner, c);
  }

  RecipeEnv recipe_env() const { return {env_dir, dir / "build-pytorch"}; }
  // The recipes of `specs` as the engine hands them to the lane: what tvd's templates give.
  std::vector<RecipeFile> reports(const std::vector<std::string>& specs) {
    std::vector<RecipeFile> out;
    const auto recipes =
        inspect_recipes(templates, recipe_env(), resolve_specs(matrix, specs, false).value())
            .value();
    for (const auto& r : recipes) {
      out.push_back({r.variant.package(), r.file, r.text, r.state != FileState::kDiffers});
    }
    return out;
  }
  // Runs the io_context until `done()` holds or `limit` passes; whether it holds.
  bool run_until(const std::function<bool()>& done, std::chrono::seconds limit = 30s) {
    return testing::run_io_until(io, done, limit, 10ms);
  }
  // A recipe commit of `spec`'s variant, as the engine asks for one, run to its end.
  LaneOutcome commit(const std::string& spec) {
    std::optional<LaneOutcome> out;
    auto r = reports({spec}).front();
    lane->commit_recipe(r, "Add " + spec + " (" + r.package + ")",
                        [&](LaneOutcome o) { out = std::move(o); });
    EXPECT_TRUE(run_until([&] { return out.has_value(); })) << "the commit did not end";
    return out.value_or(LaneOutcome{});
  }
  struct Publish {
    std::optional<LaneOutcome> outcome;
    std::string rev;  // what `started` was told
  };
  // Starts a publish of `package`; it ends in `p` as the io_context runs.
  void start_publish(const std::string& package, Publish& p, const std::string& pinned = "") {
    lane->publish(
        package, pinned, dir / (package + ".publish.log"),
        [&p](LaneOutcome o) { p.outcome = std::move(o); },
        [&p](exec::RunId, const std::string& rev) { p.rev = rev; });
  }
  Publish publish(const std::string& package) {
    Publish p;
    start_publish(package, p);
    EXPECT_TRUE(run_until([&] { return p.outcome.has_value(); })) << "the publish did not end";
    return p;
  }
  // What the fake flox published: lines "publish ORG PKG REV".
  size_t published(const std::string& prefix) {
    size_t n = 0;
    std::ifstream in(plan / "calls");
    for (std::string line; std::getline(in, line);)
      n += line.rfind(prefix, 0) == 0;
    return n;
  }
  void commit_as_someone(const fs::path& repo, const std::string& message) {
    testing::git(
        repo, {"-c", "user.name=someone", "-c", "user.email=s@x", "commit", "-q", "-m", message});
  }
};

// A crash between `git add` and `git commit` leaves a staged recipe: the next commit finishes it.
TEST_F(GitLaneTest, AStagedRecipeFromAnInterruptedCommitIsCommitted) {
  ASSERT_TRUE(generate_recipes(templates, recipe_env(),
                               resolve_specs(matrix, {"cpu-avx2"}, false).value(), {}));
  testing::git(env_dir, {"add", ".flox/pkgs/" + cpu + ".nix"});
  auto o = commit("cpu-avx2");
  EXPECT_TRUE(o.ok) << o.reason;
  EXPECT_TRUE(o.committed);
  EXPECT_EQ(testing::git(env_dir, {"status", "--porcelain"}), "");
  EXPECT_EQ(testing::git(upstream, {"log", "-1", "--format=%s", "main"}),
            "Add cpu-avx2 (" + cpu + ")\n");
}

// Recovery commits tvd's own untracked or staged recipes before anything else uses the lane, so
// they cannot block another variant's publish; files by hand are left alone.
TEST_F(GitLaneTest, RecoveryFinishesInterruptedRecipeCommits) {
  ASSERT_TRUE(generate_recipes(templates, recipe_env(),
                               resolve_specs(matrix, {"sm89-avx2", "sm90-avx2"}, false).value(),
                               {}));
  testing::git(env_dir, {"add", ".flox/pkgs/" + sm90 + ".nix"});
  testing::write_text(env_dir / ".flox/pkgs/mine.nix", "# by hand\n");
  std::optional<std::vector<std::string>> recovered;
  lane->recover(reports({"sm89-avx2", "sm90-avx2"}),
                [&](std::vector<std::string> c) { recovered = std::move(c); });
  // Queued behind the recovery, which a publish of sm89 needs.
  Publish p;
  start_publish(sm89, p);
  ASSERT_TRUE(run_until([&] { return p.outcome.has_value(); }));
  ASSERT_TRUE(recovered);
  EXPECT_THAT(*recovered, ::testing::UnorderedElementsAre(sm89, sm90));
  // mine.nix is a person's, untracked: tvd neither commits it nor lets it block the publish,
  // which runs from a clean worktree of the committed revision.
  EXPECT_TRUE(p.outcome->ok) << p.outcome->reason;
  EXPECT_EQ(testing::git(env_dir, {"status", "--porcelain", "--untracked-files=no"}), "");
  EXPECT_EQ(testing::git(env_dir, {"status", "--porcelain", "--", ".flox/pkgs/mine.nix"}),
            "?? .flox/pkgs/mine.nix\n");
}

// A crash during a git command leaves .git/index.lock: recovery removes it when nobody holds it,
// so the commits after it go through; one that a running git holds is left alone.
TEST_F(GitLaneTest, RecoveryRemovesAStaleIndexLockButNotAHeldOne) {
  const auto lock = env_dir / ".git" / "index.lock";
  testing::write_text(lock, "");
  lane->recover({}, [](std::vector<std::string>) {});
  EXPECT_FALSE(fs::exists(lock));
  auto o = commit("cpu-avx2");
  EXPECT_TRUE(o.ok) << o.reason;

  testing::write_text(lock, "");
  pid_t holder = testing::spawn_logged(
      {"/bin/sh", "-c", "exec 3<'" + lock.string() + "'; exec sleep 30"}, dir / "holder.log");
  ASSERT_GT(holder, 0);
  for (int i = 0; i < 100 && !exec::held_open(lock); ++i)
    std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(exec::held_open(lock));
  lane->recover({}, [](std::vector<std::string>) {});
  EXPECT_TRUE(fs::exists(lock)) << "a lock a running process holds was removed";
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  fs::remove(lock);
}

// tvd commits only what it wrote: an untracked recipe someone wrote for the variant is not
// committed (flox builds only tracked files, so the outcome says what to do); once its author
// commits it, it is left as it is, and uncommitted changes to it are refused.
TEST_F(GitLaneTest, AHandWrittenRecipeIsCommittedOnlyByItsAuthor) {
  const auto file = env_dir / ".flox/pkgs" / (cpu + ".nix");
  testing::write_text(file, "# written by hand\n{ }: { }\n");
  auto o = commit("cpu-avx2");
  EXPECT_FALSE(o.ok);
  EXPECT_FALSE(o.transient);
  EXPECT_EQ(o.failure, Failure::kNotTracked);
  EXPECT_THAT(o.reason, HasSubstr(".flox/pkgs/" + cpu +
                                  ".nix is untracked and differs from what tvd generates"));
  EXPECT_THAT(o.reason, HasSubstr("commit it yourself"));
  EXPECT_THAT(testing::git(env_dir, {"status", "--porcelain"}), HasSubstr("?? .flox/pkgs/"));

  testing::git(env_dir, {"add", "--", ".flox/pkgs/" + cpu + ".nix"});
  commit_as_someone(env_dir, "My own cpu-avx2");
  o = commit("cpu-avx2");
  EXPECT_TRUE(o.ok) << o.reason;
  EXPECT_FALSE(o.committed);
  EXPECT_EQ(testing::git(env_dir, {"show", "HEAD:.flox/pkgs/" + cpu + ".nix"}),
            "# written by hand\n{ }: { }\n");

  testing::write_text(file, "# half-way through an edit\n");
  o = commit("cpu-avx2");
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.failure, Failure::kPublishPrecondition);
  EXPECT_THAT(o.reason, HasSubstr("has uncommitted changes (git status:  M .flox/pkgs/"));
  EXPECT_THAT(o.reason, HasSubstr("commit or discard them"));
}

// A person's uncommitted edit to .gitignore (which tvd also edits) is never committed or pushed
// in tvd's "Ignore flox build results" commit: the outcome says which file and what to do.
TEST_F(GitLaneTest, APersonsUncommittedGitignoreEditIsNeverCommitted) {
  testing::write_text(env_dir / ".gitignore", "# my scratch files\n");
  testing::git(env_dir, {"add", ".gitignore"});
  commit_as_someone(env_dir, "A .gitignore");
  testing::write_text(env_dir / ".gitignore", "# my scratch files\n*.scratch\n");  // not committed
  auto o = commit("cpu-avx2");
  EXPECT_FALSE(o.ok);
  EXPECT_THAT(o.reason,
              HasSubstr(".gitignore has changes nobody committed (git status:  M .gitignore)"));
  EXPECT_THAT(o.reason, HasSubstr("commit or discard those changes"));
  EXPECT_EQ(testing::git(env_dir, {"log", "--all", "--format=%s"}).find("Ignore flox"),
            std::string::npos);
  EXPECT_EQ(testing::git(upstream, {"log", "--all", "--format=%s"}).find("Ignore flox"),
            std::string::npos);
  EXPECT_EQ(testing::read_text(env_dir / ".gitignore"), "# my scratch files\n*.scratch\n");

  // Committed by its author, the file is tvd's to extend, in a commit of its own.
  testing::git(env_dir, {"add", ".gitignore"});
  commit_as_someone(env_dir, "Ignore scratch files");
  testing::git(env_dir, {"push", "-q"});
  o = commit("cpu-avx2");
  EXPECT_TRUE(o.ok) << o.reason;
  const std::string shown = testing::git(
      env_dir,
      {"log", "-p", "--format=%s", "--grep=Ignore flox build results", "--", ".gitignore"});
  EXPECT_THAT(shown, HasSubstr("+result-*"));
  EXPECT_EQ(shown.find("+*.scratch"), std::string::npos);
}

// Another build host (here: another clone) pushed meanwhile: tvd's push is rejected, it fetches,
// puts its own commit on top and pushes again; the publish then goes through.
TEST_F(GitLaneTest, AMovedUpstreamIsRebasedOntoAndPushed) {
  const fs::path other = dir / "other";
  testing::git(dir.path(), {"clone", "-q", upstream.string(), other.string()});
  testing::write_text(other / "NOTES.md", "from another host\n");
  testing::git(other, {"add", "NOTES.md"});
  commit_as_someone(other, "Notes from another host");
  testing::git(other, {"push", "-q"});

  auto o = commit("cpu-avx2");
  EXPECT_TRUE(o.ok) << o.reason;
  const std::string log = testing::git(upstream, {"log", "--format=%s", "main"});
  EXPECT_THAT(log, HasSubstr("Notes from another host"));
  EXPECT_THAT(log, HasSubstr("(" + cpu + ")"));
  auto p = publish(cpu);
  EXPECT_TRUE(p.outcome->ok) << p.outcome->reason;
  EXPECT_EQ(published("publish acme " + cpu), 1u);
}

// The upstream changed the very file tvd commits: a conflict refuses with the path and what to
// do, and leaves no rebase half done; tvd's commit is kept.
TEST_F(GitLaneTest, ARebaseConflictSaysThePathAndWhatToDo) {
  const fs::path other = dir / "other";
  testing::git(dir.path(), {"clone", "-q", upstream.string(), other.string()});
  testing::write_text(other / ".flox/pkgs" / (cpu + ".nix"), "# someone else's recipe\n");
  testing::git(other, {"add", "."});
  commit_as_someone(other, "A different cpu-avx2");
  testing::git(other, {"push", "-q"});

  auto o = commit("cpu-avx2");
  EXPECT_FALSE(o.ok);
  EXPECT_FALSE(o.transient);
  EXPECT_TRUE(o.committed);
  EXPECT_THAT(o.reason, HasSubstr("conflict in .flox/pkgs/" + cpu + ".nix"));
  EXPECT_THAT(o.reason, HasSubstr("run 'git pull --rebase', resolve, push, then retry the job"));
  EXPECT_FALSE(fs::exists(env_dir / ".git" / "rebase-merge"));
  EXPECT_FALSE(fs::exists(env_dir / ".git" / "rebase-apply"));
}

// The upstream refuses the push (a pre-receive hook, as a protected branch does): git's last
// line is advice, not the reason. The outcome has the remote's words and is not transient (not
// retried as the network); the commit stays in the checkout.
TEST_F(GitLaneTest, APushTheUpstreamRefusesSaysItsReasonAndIsNotTransient) {
  testing::write_text(upstream / "hooks" / "pre-receive",
                      "#!/bin/sh\necho 'main is protected: open a merge request' >&2\nexit 1\n");
  fs::permissions(upstream / "hooks" / "pre-receive", fs::perms::owner_all);
  auto o = commit("cpu-avx2");
  EXPECT_FALSE(o.ok);
  EXPECT_FALSE(o.transient);
  EXPECT_EQ(o.failure, Failure::kPublishPrecondition);
  EXPECT_THAT(o.reason, HasSubstr("the upstream refused the push: pre-receive hook declined "
                                  "(main is protected: open a merge request)"));
  EXPECT_THAT(testing::git(env_dir, {"log", "--format=%s", "-1"}), HasSubstr("(" + cpu + ")"));
}

// The upstream is gone (a moved or deleted repository): said as such, with where to look, and
// not transient.
TEST_F(GitLaneTest, AMissingUpstreamIsSaidAsSuchAndIsNotTransient) {
  fs::rename(upstream, dir / "moved.git");
  auto o = commit("cpu-avx2");
  EXPECT_FALSE(o.ok);
  EXPECT_FALSE(o.transient);
  EXPECT_EQ(o.failure, Failure::kPublishPrecondition);
  EXPECT_THAT(o.reason, HasSubstr("the upstream does not exist: fatal: '" + upstream.string() +
                                  "' does not appear to be a git repository"));
  EXPECT_THAT(o.reason, HasSubstr("check 'git remote -v'"));
  EXPECT_THAT(o.reason, ::testing::Not(HasSubstr("and the repository exists")));
}

// The upload runs outside the lane, from a worktree of the revision being published: a recipe
// commit goes on meanwhile, and a person's uncommitted edit in the checkout does not block the
// publish.
TEST_F(GitLaneTest, RecipeCommitsDoNotWaitBehindAnUpload) {
  ASSERT_TRUE(commit("cpu-avx2").ok);
  testing::write_text(plan / (cpu + ".publish"), "seconds=4\n");
  // A person edits a tracked file and leaves it uncommitted.
  testing::write_text(env_dir / ".flox/env/manifest.toml", "version = 1\n# edited by hand\n");
  Publish p;
  start_publish(cpu, p);
  ASSERT_TRUE(run_until([&] { return !p.rev.empty(); }));  // the upload runs
  auto o = commit("sm89-avx2");
  EXPECT_TRUE(o.ok) << o.reason;
  EXPECT_FALSE(p.outcome) << "the commit waited for the upload";
  ASSERT_TRUE(run_until([&] { return p.outcome.has_value(); }));
  EXPECT_TRUE(p.outcome->ok) << p.outcome->reason;
  EXPECT_THAT(testing::git(env_dir, {"status", "--porcelain"}), HasSubstr("manifest.toml"));
}

// Publishing worktrees are kept: the next publish moves the same worktree to its own revision
// (one checkout of the files that differ, where a new worktree checks out everything), flox sees
// that revision as HEAD, the branch keeps tracking the upstream, and a result-* link left in the
// worktree (a garbage collector root holding a build output) does not outlive the publish.
TEST_F(GitLaneTest, APublishingWorktreeIsReusedAtEachRevision) {
  const auto worktree = worktrees / "0";
  ASSERT_TRUE(commit("cpu-avx2").ok);
  testing::write_text(plan / (cpu + ".publish"), "seconds=1\n");
  Publish a;
  start_publish(cpu, a);
  ASSERT_TRUE(run_until([&] { return !a.rev.empty(); }));
  const auto link = worktree / ("result-" + cpu);
  fs::create_symlink("/nix/store/00000000000000000000000000000000-output", link);
  ASSERT_TRUE(run_until([&] { return a.outcome.has_value(); }));
  ASSERT_TRUE(a.outcome->ok) << a.outcome->reason;
  EXPECT_FALSE(fs::is_symlink(link));

  ASSERT_TRUE(commit("sm89-avx2").ok);
  auto b = publish(sm89);
  ASSERT_TRUE(b.outcome->ok) << b.outcome->reason;
  EXPECT_NE(a.rev, b.rev);
  EXPECT_EQ(b.rev + "\n", testing::git(env_dir, {"rev-parse", "HEAD"}));
  // Each was published at its own revision (the fake flox keys "already published" on HEAD).
  EXPECT_THAT(testing::read_text(plan / "published" / "acme" / cpu), HasSubstr(a.rev));
  EXPECT_THAT(testing::read_text(plan / "published" / "acme" / sm89), HasSubstr(b.rev));
  EXPECT_EQ(testing::git(worktree, {"rev-parse", "HEAD"}), b.rev + "\n");
  EXPECT_EQ(testing::git(worktree, {"rev-parse", "--abbrev-ref", "@{u}"}), "origin/main\n");
  // One worktree besides the checkout itself.
  const auto list = testing::git(env_dir, {"worktree", "list", "--porcelain"});
  size_t count = 0;
  for (size_t pos = 0; (pos = list.find("worktree ", pos)) != std::string::npos; ++pos)
    ++count;
  EXPECT_EQ(count, 2u) << list;
  // Linked both ways by absolute paths, even where the user's git config asks for relative ones:
  // Nix's libgit2 cannot open a relative worktree (NixOS/nix#14987).
  EXPECT_THAT(testing::read_text(worktree / ".git"), ::testing::StartsWith("gitdir: /"));
  EXPECT_THAT(testing::read_text(env_dir / ".git/worktrees/0/gitdir"), ::testing::StartsWith("/"));
}

// A worktree the last run of tvd left (a crash during an upload, with a stray file in it) is made
// again from nothing by the next run's first publish, not trusted.
TEST_F(GitLaneTest, APublishingWorktreeALastRunLeftIsMadeAgain) {
  const auto worktree = worktrees / "0";
  fs::create_directories(worktree.parent_path());
  testing::git(env_dir, {"worktree", "add", "-q", "-b", "tvd-publish/0", worktree.string()});
  testing::write_text(worktree / ".flox" / "pkgs" / "stray.nix", "# left by a crash\n");
  ASSERT_TRUE(commit("cpu-avx2").ok);
  auto p = publish(cpu);
  ASSERT_TRUE(p.outcome->ok) << p.outcome->reason;
  EXPECT_FALSE(fs::exists(worktree / ".flox" / "pkgs" / "stray.nix"));
  EXPECT_EQ(testing::git(worktree, {"rev-parse", "HEAD"}), p.rev + "\n");
}

}  // namespace
}  // namespace tvd::flox
