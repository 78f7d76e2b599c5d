// The git lane end to end, as a person who shares the checkout meets it: the real daemon, real git
// with a bare upstream, the fake flox. tvd pushes only the commits it made (known by their ids,
// never by their subjects), across a restart too; a person's unpushed commit, whatever its
// subject, is neither pushed nor rewritten, and the job says which commit blocks it and what to do.
#include "tests/integration/daemon_fixture.h"

namespace tvd::integration {
namespace {

using ::testing::Not;

// A person's unpushed commit in the checkout, with its subject, and whether the upstream moved
// meanwhile (then tvd's push is rejected and a rebase would be tried).
struct PersonsCommit {
  std::string subject;
  bool upstream_moved = false;
};
void PrintTo(const PersonsCommit& c, std::ostream* os) {
  *os << '"' << c.subject << '"' << (c.upstream_moved ? ", upstream moved" : "");
}

class LaneTest : public DaemonTest, public ::testing::WithParamInterface<PersonsCommit> {
 protected:
  fs::path upstream = dir / "upstream.git";
  std::string git(const fs::path& repo, const std::vector<std::string>& args) {
    return testing::git(repo, args);
  }
  std::string commit_as_someone(const fs::path& repo, const std::string& file,
                                const std::string& subject) {
    testing::write_text(repo / file, "a person's work\n");
    git(repo, {"add", file});
    git(repo, {"-c", "user.name=someone", "-c", "user.email=s@x", "commit", "-q", "-m", subject});
    return git(repo, {"rev-parse", "HEAD"});
  }
  // Another clone pushes a commit: the upstream moved.
  void move_upstream() {
    const fs::path other = dir / "other";
    git(dir.path(), {"clone", "-q", upstream.string(), other.string()});
    commit_as_someone(other, "FROM-ANOTHER-HOST.md", "Notes from another host");
    git(other, {"push", "-q"});
  }
};

TEST_P(LaneTest, APersonsUnpushedCommitIsNeitherPushedNorRewritten) {
  const std::string mine = commit_as_someone(env_dir, "NOTES.md", GetParam().subject);
  if (GetParam().upstream_moved) move_upstream();
  start();
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  auto s = settle();
  const auto& job = s["jobs"][0];
  EXPECT_EQ(job["state"], "failed") << s.dump();
  EXPECT_EQ(job["failure"], "publish-precondition");
  const std::string reason = job["error"];
  EXPECT_THAT(reason, HasSubstr("unpushed commit(s) it did not make: " + mine.substr(0, 12) +
                                " \"" + GetParam().subject + "\""));
  EXPECT_THAT(reason, HasSubstr("git push"));
  // Not on the upstream, not rewritten: the person's commit is where they left it, with its id.
  EXPECT_EQ(git(upstream, {"log", "--format=%s", "main"}).find(GetParam().subject),
            std::string::npos);
  EXPECT_EQ(git(env_dir, {"log", "--format=%H", "-n", "1", "--", "NOTES.md"}), mine);
  EXPECT_EQ(calls("publish "), 0u);
  // tvd's own recipe commit is kept on top, unpushed, for when the person has dealt with theirs.
  EXPECT_THAT(git(env_dir, {"log", "--format=%s", "-1"}), HasSubstr("(" + cpu + ")"));

  // The person pushes their commit (the upstream has moved: onto it first); the retry goes
  // through, with tvd's commit pushed and published.
  if (GetParam().upstream_moved) {
    git(env_dir, {"-c", "user.name=someone", "-c", "user.email=s@x", "pull", "-q", "--rebase"});
  }
  git(env_dir, {"push", "-q"});
  ASSERT_EQ(tvctl({"retry", "1"}).exit_code, 0);
  s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded") << s.dump();
  EXPECT_EQ(calls("publish acme " + cpu), 1u);
}

std::string case_name(const ::testing::TestParamInfo<PersonsCommit>& info) {
  static const char* const kNames[] = {"Wip", "AddDraftUpstreamMoved",
                                       "TvdsGitignoreSubjectUpstreamMoved", "TvdsOwnRecipeSubject"};
  return kNames[info.index];
}

INSTANTIATE_TEST_SUITE_P(
    Subjects, LaneTest,
    ::testing::Values(PersonsCommit{"WIP: my local notes", false},
                      PersonsCommit{"Add my notes (draft)", true},
                      PersonsCommit{"Ignore flox build results (result-*)", true},
                      PersonsCommit{"Add cpu-avx2 (torchvision-python313-cpu-avx2)", false}),
    case_name);

// tvd's unpushed commit is still tvd's after a crash: the upstream refused the push (a
// pre-receive hook), tvd is killed, the hook goes; after the restart a retry pushes that commit.
TEST_F(DaemonTest, TvdsUnpushedCommitIsKnownAfterACrash) {
  const fs::path hook = dir / "upstream.git" / "hooks" / "pre-receive";
  testing::write_text(hook, "#!/bin/sh\necho 'frozen for the release' >&2\nexit 1\n");
  fs::permissions(hook, fs::perms::owner_all);
  start();
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  auto s = settle();
  ASSERT_EQ(s["jobs"][0]["state"], "failed") << s.dump();
  EXPECT_THAT(s["jobs"][0]["error"].get<std::string>(), HasSubstr("frozen for the release"));
  EXPECT_EQ(stop(SIGKILL), 128 + SIGKILL);
  fs::remove(hook);
  start();
  ASSERT_EQ(tvctl({"retry", "1"}).exit_code, 0);
  s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded") << s.dump();
  EXPECT_THAT(testing::git(dir / "upstream.git", {"log", "--format=%s", "main"}),
              HasSubstr("(" + cpu + ")"));
}

// A stop of tvd while git adds a publishing worktree (here a smudge filter makes the checkout
// take seconds, as git-lfs does) leaves the worktree locked "initializing", which `git worktree
// prune` keeps: after a SIGTERM and after a kill -9 at that moment, the restarted tvd publishes
// that job and three more. A worktree and branch per package, as a tvd before slots left them,
// are gone after the start too.
TEST_F(DaemonTest, AStopDuringASlowWorktreeCheckoutDoesNotStopPublishing) {
  const fs::path smudging = dir / "smudging";
  testing::write_text(env_dir / ".git" / "info" / "attributes", "*.nix filter=slow\n");
  testing::git(env_dir,
               {"config", "filter.slow.smudge", "touch '" + smudging.string() + "'; sleep 2; cat"});
  testing::git(env_dir, {"config", "filter.slow.clean", "cat"});
  // What a tvd before slots left: a worktree and a branch named after a package.
  const fs::path old = dir / "state" / "publish" / sm89;
  testing::git(env_dir, {"worktree", "add", "-q", "-b", "tvd-publish/" + sm89, old.string()});

  int n = 0;
  for (int sig : {SIGTERM, SIGKILL}) {
    fs::remove(smudging);
    start();
    const std::string spec = n++ == 0 ? "cpu-avx2" : "cpu-avx512";
    ASSERT_EQ(tvctl({"enqueue", spec}).exit_code, 0);
    for (int i = 0; i < 600 && !fs::exists(smudging); ++i)
      std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(fs::exists(smudging)) << testing::read_text(dir / "serve.log");
    std::this_thread::sleep_for(300ms);  // in the checkout, the worktree locked
    stop(sig);
    if (sig == SIGKILL) {
      EXPECT_THAT(testing::git(env_dir, {"worktree", "list"}), HasSubstr("locked"));
    }
  }
  testing::git(env_dir, {"config", "--unset", "filter.slow.smudge"});
  start();
  EXPECT_EQ(testing::git(env_dir, {"branch", "--list", "tvd-publish/" + sm89}), "");
  EXPECT_FALSE(fs::exists(old));
  ASSERT_EQ(tvctl({"enqueue", "sm89-avx2", "sm90-avx2", "cpu-armv9"}).exit_code, 0);
  auto s = settle(120s);
  ASSERT_EQ(s["jobs"].size(), 5u) << s.dump();
  for (const auto& j : s["jobs"]) {
    EXPECT_EQ(j["state"], "succeeded") << j.dump() << testing::read_text(dir / "serve.log");
  }
  EXPECT_EQ(calls("publish acme "), 5u);
  EXPECT_THAT(testing::git(env_dir, {"worktree", "list"}), Not(HasSubstr("locked")));
}

// A repository hook that hangs (a pre-commit that sleeps): a cancel of the job whose commit waits
// on it stops that git at once (it ends cancelled, not after the lane's limit), git leaves no
// lock, nothing tvd staged stays staged, and the next job commits and builds. (Before, the cancel
// was accepted and did nothing until the hook was killed at the limit.)
TEST_F(DaemonTest, ACommitThatAHungHookHoldsIsShownReservesNothingAndIsCancelled) {
  // A pre-commit hook that hangs on the first commit only (as a hook waiting for a network
  // service would), for longer than the test runs.
  const fs::path hook = env_dir / ".git" / "hooks" / "pre-commit";
  const fs::path hooked = dir / "hooked";
  testing::write_text(hook, "#!/bin/sh\n[ -e '" + hooked.string() + "' ] && exit 0\ntouch '" +
                                hooked.string() + "'\nsleep 300\n");
  fs::permissions(hook, fs::perms::owner_all);
  start();
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2", "sm89-avx2", "sm90-avx2"}).exit_code, 0);
  for (int i = 0; i < 600 && !fs::exists(hooked); ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(fs::exists(hooked));
  std::this_thread::sleep_for(1500ms);
  {  // What the lane does, said as it is; nothing reserved, nothing "building".
    auto s = status();
    EXPECT_EQ(s["memory"]["reserved"], 0) << s.dump();
    for (const auto& j : s["jobs"])
      EXPECT_EQ(j["state"], "queued") << s.dump();
    const std::string first = s["waiting"].value("1", "");
    EXPECT_THAT(first, ::testing::MatchesRegex("committing its recipe: git commit running for "
                                               "[0-9]+ s \\(the repository's pre-commit hook "
                                               "runs in it\\)"));
    for (const char* other : {"2", "3"}) {
      EXPECT_THAT(s["waiting"].value(other, ""),
                  ::testing::StartsWith("waiting for the git lane to commit its recipe"))
          << s.dump();
      EXPECT_THAT(s["waiting"].value(other, ""),
                  ::testing::HasSubstr("now committing the recipe of "))
          << s.dump();
    }
    auto text = tvctl({"status"});
    EXPECT_THAT(text.out, ::testing::HasSubstr("committing its recipe: git commit running for"));
    EXPECT_THAT(text.out, ::testing::Not(::testing::HasSubstr("ETA")));
  }
  ASSERT_EQ(tvctl({"cancel", "1"}).exit_code, 0);
  auto s = settle(60s);  // the lane's limit is 300 s: a cancel that waited for it would not end
  std::map<int, std::string> states;
  for (const auto& j : s["jobs"])
    states[j["id"].get<int>()] = j["state"];
  EXPECT_THAT(states, ::testing::ElementsAre(::testing::Pair(1, "cancelled"),
                                             ::testing::Pair(2, "succeeded"),
                                             ::testing::Pair(3, "succeeded")))
      << s.dump();
  {  // every state it passed through, and no failure among them
    auto store = store::Store::open(dir / "state" / "tvd.db").value();
    std::vector<std::string> story;
    const auto events = store.events_after(0, 100).value();
    for (const auto& e : events) {
      if (e.job_id == 1) story.push_back(describe(e.change));
    }
    EXPECT_THAT(story, ::testing::ElementsAre("queued ->queued recipe",
                                              "cancelled queued>cancelled recipe"));
  }
  // The index as it was: nothing of the cancelled commit left staged.
  EXPECT_FALSE(fs::exists(env_dir / ".git" / "index.lock"));
  EXPECT_EQ(testing::git(env_dir, {"diff", "--cached", "--name-only"}), "");
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded") << s.dump();
}

}  // namespace
}  // namespace tvd::integration
