// The engine with the real git lane: recipe commits interrupted by a crash, hand-written recipes,
// an upstream that moved, a rebase conflict, commits while an upload runs.
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "daemon/exec/host.h"
#include "daemon/service/engine_fixture.h"

namespace tvd::service {
namespace {

// A crash between `git add` and `git commit` leaves a staged recipe: its job finishes the commit.
TEST_F(EngineTest, AStagedRecipeFromAnInterruptedCommitIsCommitted) {
  make(config());
  auto sel = select({"cpu-avx2"});
  ASSERT_TRUE(generate_recipes(templates, {env_dir, dir / "build-pytorch"}, sel, {}));
  testing::git(env_dir, {"add", ".flox/pkgs/" + cpu + ".nix"});
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  EXPECT_EQ(seen(*e[0].job)->state, JobState::kSucceeded) << seen(*e[0].job)->error;
  EXPECT_EQ(testing::git(env_dir, {"status", "--porcelain"}), "");
}

// Recovery commits tvd's own untracked or staged recipes before anything else uses the lane, so
// they cannot block another variant's publish; files by hand are left alone.
TEST_F(EngineTest, RecoveryFinishesInterruptedRecipeCommits) {
  make(config());
  RecipeEnv env{env_dir, dir / "build-pytorch"};
  ASSERT_TRUE(generate_recipes(templates, env, select({"sm89-avx2", "sm90-avx2"}), {}));
  testing::git(env_dir, {"add", ".flox/pkgs/torchvision-python313-cuda12_8-sm90-avx2.nix"});
  testing::write_text(env_dir / ".flox/pkgs/mine.nix", "# by hand\n");
  auto reports = inspect_recipes(templates, env, select({"sm89-avx2", "sm90-avx2"})).value();
  std::vector<std::string> recovered;
  engine->recover_recipes(reports, [&](std::vector<std::string> c) { recovered = c; });
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  EXPECT_EQ(recovered.size(), 2u);
  // mine.nix is a person's, untracked: tvd neither commits it nor lets it block the publish,
  // which runs from a clean worktree of the committed revision.
  EXPECT_EQ(seen(*e[0].job)->state, JobState::kSucceeded) << seen(*e[0].job)->error;
  EXPECT_EQ(testing::git(env_dir, {"status", "--porcelain", "--untracked-files=no"}), "");
  EXPECT_EQ(testing::git(env_dir, {"status", "--porcelain", "--", ".flox/pkgs/mine.nix"}),
            "?? .flox/pkgs/mine.nix\n");
}

// A crash during a git command leaves .git/index.lock: recovery removes it when nobody holds it,
// so the jobs after it can commit; one that a running git holds is left alone.
TEST_F(EngineTest, RecoveryRemovesAStaleIndexLockButNotAHeldOne) {
  make(config());
  const auto lock = env_dir / ".git" / "index.lock";
  testing::write_text(lock, "");
  engine->recover_recipes({}, [](std::vector<std::string>) {});
  EXPECT_FALSE(fs::exists(lock));
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  EXPECT_EQ(seen(*e[0].job)->state, JobState::kSucceeded) << seen(*e[0].job)->error;

  testing::write_text(lock, "");
  pid_t holder = testing::spawn_logged(
      {"/bin/sh", "-c", "exec 3<'" + lock.string() + "'; exec sleep 30"}, dir / "holder.log");
  ASSERT_GT(holder, 0);
  for (int i = 0; i < 100 && !exec::held_open(lock); ++i)
    std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(exec::held_open(lock));
  engine->recover_recipes({}, [](std::vector<std::string>) {});
  EXPECT_TRUE(fs::exists(lock)) << "a lock a running process holds was removed";
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  fs::remove(lock);
}

// tvd commits only what it wrote: an untracked recipe someone wrote for the variant is not
// committed (flox builds only tracked files, so the job says what to do); once its author
// commits it, it is built as it is, and never over uncommitted changes to it.
TEST_F(EngineTest, AHandWrittenRecipeIsBuiltOnlyOnceItsAuthorCommittedIt) {
  auto c = config();
  c.publish = false;
  make(c);
  const auto file = env_dir / ".flox/pkgs" / (cpu + ".nix");
  testing::write_text(file, "# written by hand\n{ }: { }\n");
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->failure, flox::Failure::kNotTracked);
  EXPECT_THAT(j->error, HasSubstr(".flox/pkgs/" + cpu +
                                  ".nix is untracked and differs from what tvd generates"));
  EXPECT_THAT(j->error, HasSubstr("commit it yourself"));
  EXPECT_THAT(testing::git(env_dir, {"status", "--porcelain"}), HasSubstr("?? .flox/pkgs/"));

  testing::git(env_dir, {"add", "--", ".flox/pkgs/" + cpu + ".nix"});
  testing::git(env_dir, {"-c", "user.name=someone", "-c", "user.email=s@x", "commit", "-q", "-m",
                         "My own cpu-avx2"});
  auto built = enqueue({"cpu-avx2"});
  run_until_idle();
  EXPECT_EQ(seen(*built[0].job)->state, JobState::kSucceeded);
  EXPECT_EQ(testing::git(env_dir, {"show", "HEAD:.flox/pkgs/" + cpu + ".nix"}),
            "# written by hand\n{ }: { }\n");

  testing::write_text(file, "# half-way through an edit\n");
  auto again = enqueue({"cpu-avx2"});
  run_until_idle();
  j = seen(*again[0].job);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->phase, JobPhase::kRecipe);
  EXPECT_THAT(j->error, HasSubstr("has uncommitted changes (git status:  M .flox/pkgs/"));
  EXPECT_THAT(j->error, HasSubstr("commit or discard them"));
}

// A person's uncommitted edit to .gitignore (which tvd also edits) is never committed or pushed
// in tvd's "Ignore flox build results" commit: the job says which file and what to do.
TEST_F(EngineTest, APersonsUncommittedGitignoreEditIsNeverCommitted) {
  make(config());
  testing::write_text(env_dir / ".gitignore", "# my scratch files\n");
  testing::git(env_dir, {"add", ".gitignore"});
  testing::git(env_dir, {"-c", "user.name=someone", "-c", "user.email=s@x", "commit", "-q", "-m",
                         "A .gitignore"});
  testing::write_text(env_dir / ".gitignore", "# my scratch files\n*.scratch\n");  // not committed
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_THAT(j->error, HasSubstr(".gitignore has changes nobody committed (git status:  M "
                                  ".gitignore)"));
  EXPECT_THAT(j->error, HasSubstr("commit or discard those changes"));
  EXPECT_EQ(testing::git(env_dir, {"log", "--all", "--format=%s"}).find("Ignore flox"),
            std::string::npos);
  EXPECT_EQ(testing::git(upstream, {"log", "--all", "--format=%s"}).find("Ignore flox"),
            std::string::npos);
  EXPECT_EQ(testing::read_text(env_dir / ".gitignore"), "# my scratch files\n*.scratch\n");

  // Committed by its author, the file is tvd's to extend, in a commit of its own.
  testing::git(env_dir, {"add", ".gitignore"});
  testing::git(env_dir, {"-c", "user.name=someone", "-c", "user.email=s@x", "commit", "-q", "-m",
                         "Ignore scratch files"});
  testing::git(env_dir, {"push", "-q"});
  auto again = enqueue({"cpu-avx2"});
  run_until_idle();
  EXPECT_EQ(seen(*again[0].job)->state, JobState::kSucceeded) << seen(*again[0].job)->error;
  const std::string shown = testing::git(
      env_dir,
      {"log", "-p", "--format=%s", "--grep=Ignore flox build results", "--", ".gitignore"});
  EXPECT_THAT(shown, HasSubstr("+result-*"));
  EXPECT_EQ(shown.find("+*.scratch"), std::string::npos);
}

// Another build host (here: another clone) pushed meanwhile: tvd's push is rejected, it fetches,
// puts its own commit on top and pushes again; the job goes on to publish.
TEST_F(EngineTest, AMovedUpstreamIsRebasedOntoAndPushed) {
  make(config());
  const fs::path other = dir / "other";
  testing::git(dir.path(), {"clone", "-q", upstream.string(), other.string()});
  testing::write_text(other / "NOTES.md", "from another host\n");
  testing::git(other, {"add", "NOTES.md"});
  testing::git(other, {"-c", "user.name=someone", "-c", "user.email=s@x", "commit", "-q", "-m",
                       "Notes from another host"});
  testing::git(other, {"push", "-q"});

  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kSucceeded) << j->error;
  const std::string log = testing::git(upstream, {"log", "--format=%s", "main"});
  EXPECT_THAT(log, HasSubstr("Notes from another host"));
  EXPECT_THAT(log, HasSubstr("(" + cpu + ")"));
  EXPECT_EQ(count_calls("publish acme " + cpu), 1u);
}

// The upstream changed the very file tvd commits: a conflict fails the job with the path and
// what to do, and leaves no rebase half done.
TEST_F(EngineTest, ARebaseConflictFailsWithThePathAndWhatToDo) {
  make(config());
  const fs::path other = dir / "other";
  testing::git(dir.path(), {"clone", "-q", upstream.string(), other.string()});
  testing::write_text(other / ".flox/pkgs" / (cpu + ".nix"), "# someone else's recipe\n");
  testing::git(other, {"add", "."});
  testing::git(other, {"-c", "user.name=someone", "-c", "user.email=s@x", "commit", "-q", "-m",
                       "A different cpu-avx2"});
  testing::git(other, {"push", "-q"});

  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_THAT(j->error, HasSubstr("conflict in .flox/pkgs/" + cpu + ".nix"));
  EXPECT_THAT(j->error, HasSubstr("run 'git pull --rebase', resolve, push, then retry the job"));
  EXPECT_FALSE(fs::exists(env_dir / ".git" / "rebase-merge"));
  EXPECT_FALSE(fs::exists(env_dir / ".git" / "rebase-apply"));
  EXPECT_EQ(count_calls("build " + cpu), 0u);
}

// The upstream refuses the push (a pre-receive hook, as a protected branch does): git's last
// line is advice, not the reason. The job fails at once with the remote's words, not as a
// network failure retried three times; the commit stays in the checkout.
TEST_F(EngineTest, APushTheUpstreamRefusesFailsWithItsReasonAndIsNotRetried) {
  make(config());
  testing::write_text(upstream / "hooks" / "pre-receive",
                      "#!/bin/sh\necho 'main is protected: open a merge request' >&2\nexit 1\n");
  fs::permissions(upstream / "hooks" / "pre-receive", fs::perms::owner_all);
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->failure, flox::Failure::kPublishPrecondition);
  EXPECT_THAT(j->error, HasSubstr("the upstream refused the push: pre-receive hook declined "
                                  "(main is protected: open a merge request)"));
  EXPECT_EQ(j->build_tries, 1);
  EXPECT_EQ(count_calls("build " + cpu), 0u);
  EXPECT_THAT(testing::git(env_dir, {"log", "--format=%s", "-1"}), HasSubstr("(" + cpu + ")"));
}

// The upstream is gone (a moved or deleted repository): said as such, with where to look, and
// not retried as the network.
TEST_F(EngineTest, AMissingUpstreamIsSaidAsSuchAndNotRetried) {
  make(config());
  fs::rename(upstream, dir / "moved.git");
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->failure, flox::Failure::kPublishPrecondition);
  EXPECT_THAT(j->error, HasSubstr("the upstream does not exist: fatal: '" + upstream.string() +
                                  "' does not appear to be a git repository"));
  EXPECT_THAT(j->error, HasSubstr("check 'git remote -v'"));
  EXPECT_THAT(j->error, ::testing::Not(HasSubstr("and the repository exists")));
  EXPECT_EQ(j->build_tries, 1);
}

// The upload runs outside the git lane, from a worktree of the revision being published: a
// recipe commit of another job goes on meanwhile, and a person's uncommitted edit in the
// checkout does not block the publish.
TEST_F(EngineTest, RecipeCommitsDoNotWaitBehindAnUpload) {
  make(config());
  testing::write_text(plan / (cpu + ".publish"), "seconds=4\n");
  auto a = enqueue({"cpu-avx2"});
  // A person edits a tracked file and leaves it uncommitted.
  testing::write_text(env_dir / ".flox/env/manifest.toml", "version = 1\n# edited by hand\n");
  ASSERT_TRUE(run_until(
      [&] {
        const Job* j = seen(*a[0].job);
        return j->state == JobState::kPublishing && j->run.has_value();
      },
      30s));
  auto b = enqueue({"sm89-avx2"});
  ASSERT_TRUE(run_until(
      [&] {
        return testing::git(env_dir, {"log", "--format=%s"}).find("(" + sm89 + ")") !=
               std::string::npos;
      },
      30s));
  EXPECT_EQ(seen(*a[0].job)->state, JobState::kPublishing);  // still uploading
  run_until_idle();
  EXPECT_EQ(seen(*a[0].job)->state, JobState::kSucceeded) << seen(*a[0].job)->error;
  EXPECT_EQ(seen(*b[0].job)->state, JobState::kSucceeded) << seen(*b[0].job)->error;
  EXPECT_FALSE(seen(*a[0].job)->publish_rev.empty());
  EXPECT_THAT(testing::git(env_dir, {"status", "--porcelain"}), HasSubstr("manifest.toml"));
}

// Publishing worktrees are kept: the next publish moves the same worktree to its own revision
// (one checkout of the files that differ, where a new worktree checks out everything), flox sees
// that revision as HEAD, the branch keeps tracking the upstream, and a result-* link left in the
// worktree (a garbage collector root holding a build output) does not outlive the publish.
TEST_F(EngineTest, APublishingWorktreeIsReusedAtEachJobsOwnRevision) {
  make(config());
  const auto worktree = dir / "state" / "publish" / "0";
  behave(cpu, "seconds=1\n", "publish");
  auto a = enqueue({"cpu-avx2"});
  ASSERT_TRUE(run_until(
      [&] {
        const Job* j = seen(*a[0].job);
        return j && j->state == JobState::kPublishing && j->run.has_value();
      },
      30s));
  const auto link = worktree / ("result-" + cpu);
  fs::create_symlink("/nix/store/00000000000000000000000000000000-output", link);
  run_until_idle();
  ASSERT_EQ(seen(*a[0].job)->state, JobState::kSucceeded) << seen(*a[0].job)->error;
  const std::string rev_a = seen(*a[0].job)->publish_rev;
  EXPECT_FALSE(fs::is_symlink(link));

  auto b = enqueue({"sm89-avx2"});
  run_until_idle();
  ASSERT_EQ(seen(*b[0].job)->state, JobState::kSucceeded) << seen(*b[0].job)->error;
  const std::string rev_b = seen(*b[0].job)->publish_rev;
  EXPECT_NE(rev_a, rev_b);
  EXPECT_EQ(rev_b + "\n", testing::git(env_dir, {"rev-parse", "HEAD"}));
  // Each was published at its own revision (the fake flox keys "already published" on HEAD).
  EXPECT_THAT(testing::read_text(plan / "published" / "acme" / cpu), HasSubstr(rev_a));
  EXPECT_THAT(testing::read_text(plan / "published" / "acme" / sm89), HasSubstr(rev_b));
  EXPECT_EQ(testing::git(worktree, {"rev-parse", "HEAD"}), rev_b + "\n");
  EXPECT_EQ(testing::git(worktree, {"rev-parse", "--abbrev-ref", "@{u}"}), "origin/main\n");
  // One worktree besides the checkout itself.
  const auto list = testing::git(env_dir, {"worktree", "list", "--porcelain"});
  size_t worktrees = 0;
  for (size_t pos = 0; (pos = list.find("worktree ", pos)) != std::string::npos; ++pos)
    ++worktrees;
  EXPECT_EQ(worktrees, 2u) << list;
}

// A worktree the last run of tvd left (a crash during an upload, with a stray file in it) is made
// again from nothing by the next run's first publish, not trusted.
TEST_F(EngineTest, APublishingWorktreeALastRunLeftIsMadeAgain) {
  const auto worktree = dir / "state" / "publish" / "0";
  fs::create_directories(worktree.parent_path());
  testing::git(env_dir, {"worktree", "add", "-q", "-b", "tvd-publish/0", worktree.string()});
  testing::write_text(worktree / ".flox" / "pkgs" / "stray.nix", "# left by a crash\n");
  make(config());
  auto a = enqueue({"cpu-avx2"});
  run_until_idle();
  ASSERT_EQ(seen(*a[0].job)->state, JobState::kSucceeded) << seen(*a[0].job)->error;
  EXPECT_FALSE(fs::exists(worktree / ".flox" / "pkgs" / "stray.nix"));
  EXPECT_EQ(testing::git(worktree, {"rev-parse", "HEAD"}), seen(*a[0].job)->publish_rev + "\n");
}

}  // namespace
}  // namespace tvd::service
