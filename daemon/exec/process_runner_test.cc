// The real runner against real children: shells and the project's fake flox.
#include "daemon/exec/process_runner.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>

#include "daemon/exec/classify.h"
#include "tests/support/scratch.h"

namespace tvd::exec {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

class ProcessRunnerTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  std::unique_ptr<Runner> runner = make_process_runner(io, {.grace = 300ms});
  testing::ScratchDir dir;
  fs::path env_dir = dir / "build-torchvision";
  fs::path plan = dir / "plan";

  std::map<std::string, std::string> env() {
    return {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
            {"HOME", dir.path().string()},
            {"FAKE_FLOX_PLAN", plan.string()}};
  }
  RunSpec spec(std::vector<std::string> argv) {
    RunSpec s;
    s.argv = std::move(argv);
    s.cwd = dir.path();
    s.env = env();
    s.log = dir / ("run" + std::to_string(++n_) + ".log");
    return s;
  }
  RunSpec flox(std::vector<std::string> args) {
    args.insert(args.begin(), testing::fake_flox().string());
    return spec(std::move(args));
  }
  RunResult run(RunSpec s) {
    std::optional<RunResult> out;
    runner->start(std::move(s), [&](const RunResult& r) { out = r; });
    io.restart();
    io.run_for(60s);
    EXPECT_TRUE(out) << "the run did not finish";
    return out.value_or(RunResult{});
  }
  void recipe(const std::string& pkg, bool track = true) {
    testing::write_text(env_dir / ".flox" / "pkgs" / (pkg + ".nix"), "{ }: { }\n");
    if (track) {
      testing::git(env_dir, {"add", ".flox/pkgs/" + pkg + ".nix"});
      testing::git(env_dir, {"commit", "-q", "-m", "Add " + pkg});
    }
  }
  void behave(const std::string& pkg, const std::string& plan_text, const char* what = "build") {
    testing::write_text(plan / (pkg + "." + what), plan_text);
  }
  void SetUp() override {
    fs::create_directories(plan);
    testing::make_git_flox_env(env_dir, dir / "upstream.git");
  }

 private:
  int n_ = 0;
};

TEST_F(ProcessRunnerTest, InterleavesStdoutAndStderrIntoTheLog) {
  auto s = spec({"sh", "-c", "echo one; echo two >&2; echo three"});
  auto log = s.log;
  auto r = run(s);
  ASSERT_TRUE(r.succeeded()) << r.error;
  EXPECT_EQ(testing::read_text(log), "one\ntwo\nthree\n");
  EXPECT_EQ(r.tail, "one\ntwo\nthree\n");
  EXPECT_GT(r.pid, 0);
  EXPECT_EQ(r.pgid, r.pid);  // a process group of its own
}

TEST_F(ProcessRunnerTest, ExitCodesAndSignalsAreTold) {
  auto fail = run(spec({"sh", "-c", "exit 3"}));
  EXPECT_EQ(fail.ending, Ending::kExited);
  EXPECT_EQ(fail.exit_code, 3);
  auto killed = run(spec({"sh", "-c", "kill -9 $$"}));
  EXPECT_EQ(killed.ending, Ending::kSignaled);
  EXPECT_EQ(killed.signal, SIGKILL);
}

TEST_F(ProcessRunnerTest, AMissingExecutableSaysWhereItLooked) {
  auto r = run(spec({"no-such-flox", "build"}));
  EXPECT_EQ(r.ending, Ending::kFailedToStart);
  EXPECT_THAT(r.error,
              HasSubstr("cannot find 'no-such-flox' in PATH (/usr/local/bin:/usr/bin:/bin)"));
  auto notexec = run(spec({(dir / "nothing").string()}));
  EXPECT_THAT(notexec.error, HasSubstr("is not an executable file"));
}

TEST_F(ProcessRunnerTest, TheChildGetsOnlyItsEnvironmentNoDescriptorsAndNoStdin) {
  ::setenv("TVD_TEST_SECRET", "hunter2", 1);
  int leaked = ::open("/etc/hostname", O_RDONLY);  // not close-on-exec
  auto s = spec({"sh", "-c",
                 "env; ls /proc/$$/fd | tr '\\n' ' '; echo; cat; echo stdin-done; "
                 "echo session=$(cut -d' ' -f6 /proc/$$/stat) pid=$$"});
  auto log = s.log;
  auto r = run(s);
  ::close(leaked);
  ::unsetenv("TVD_TEST_SECRET");
  ASSERT_TRUE(r.succeeded());
  std::string out = testing::read_text(log);
  EXPECT_THAT(out, Not(HasSubstr("hunter2")));
  EXPECT_THAT(out, HasSubstr("FAKE_FLOX_PLAN="));
  EXPECT_THAT(out, HasSubstr("\n0 1 2 \n"));  // the shell holds stdin, stdout, stderr only
  EXPECT_THAT(out, HasSubstr("stdin-done"));  // cat read /dev/null and ended
                                              // A session of its own, so no controlling terminal
                                              // can reach it: its session id is its pid.
  auto at = out.find("session=");
  ASSERT_NE(at, std::string::npos);
  std::string session = out.substr(at + 8, out.find(' ', at) - at - 8);
  EXPECT_EQ(session, std::to_string(r.pid));
}

TEST_F(ProcessRunnerTest, AWallClockLimitKillsTheGroup) {
  auto s = spec({"sh", "-c", "sleep 30"});
  s.wall_timeout = 1s;
  auto r = run(s);
  EXPECT_EQ(r.ending, Ending::kTimedOut);
  EXPECT_LT(r.duration, 10s);
  EXPECT_TRUE(classify(r, Phase::kBuild).transient);
}

TEST_F(ProcessRunnerTest, ASilenceLimitKillsAQuietBuild) {
  recipe("quiet");
  behave("quiet", "result=silent\n");
  auto s = flox({"build", "-d", env_dir.string(), "quiet"});
  s.silence_timeout = 1s;
  auto r = run(s);
  EXPECT_EQ(r.ending, Ending::kSilent);
  EXPECT_EQ(classify(r, Phase::kBuild).failure, Failure::kSilence);
}

TEST_F(ProcessRunnerTest, CancelKillsGrandchildren) {
  recipe("stuck");
  behave("stuck", "result=hang\ngrandchild=1\n");
  std::optional<RunResult> out;
  RunId id = runner->start(flox({"build", "-d", env_dir.string(), "stuck"}),
                           [&](const RunResult& r) { out = r; });
  boost::asio::steady_timer t(io, 700ms);
  t.async_wait([&](auto) { runner->cancel(id); });
  io.run_for(30s);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->ending, Ending::kCancelled);
  pid_t grandchild = std::stoi(testing::read_text(plan / "stuck.grandchild"));
  EXPECT_FALSE(testing::process_alive(grandchild)) << "grandchild " << grandchild << " survived";
  EXPECT_FALSE(runner->process_group(id));
}

TEST_F(ProcessRunnerTest, NoOrphanOutlivesASuccessfulBuild) {
  recipe("leaves-one");
  behave("leaves-one", "grandchild=1\n");
  auto r = run(flox({"build", "-d", env_dir.string(), "leaves-one"}));
  EXPECT_TRUE(r.succeeded()) << r.tail;
  pid_t grandchild = std::stoi(testing::read_text(plan / "leaves-one.grandchild"));
  EXPECT_FALSE(testing::process_alive(grandchild));
  EXPECT_TRUE(fs::is_symlink(env_dir / "result-leaves-one"));
  EXPECT_TRUE(fs::is_symlink(env_dir / "result-leaves-one-log"));
}

TEST_F(ProcessRunnerTest, HugeOutputIsDrainedAndTheLogBounded) {
  recipe("chatty");
  behave("chatty", "output_mb=40\n");
  auto s = flox({"build", "-d", env_dir.string(), "chatty"});
  s.log_limit = 1 << 20;
  auto log = s.log;
  auto r = run(s);
  ASSERT_TRUE(r.succeeded()) << r.error;
  EXPECT_GT(r.output_bytes, 40u << 20);
  EXPECT_TRUE(r.log_truncated);
  EXPECT_LT(fs::file_size(log), (1u << 20) + 1024);
  std::string text = testing::read_text(log);
  EXPECT_THAT(text, HasSubstr("bytes of output were left out here"));
  EXPECT_THAT(text, HasSubstr("Completed build of chatty"));
  EXPECT_THAT(text.substr(0, 200), HasSubstr("Building chatty in Nix expression mode"));
}

TEST_F(ProcessRunnerTest, TwoBuildsOfOnePackageCollide) {
  recipe("twice");
  behave("twice", "seconds=3\n");
  std::optional<RunResult> first, second;
  runner->start(flox({"build", "-d", env_dir.string(), "twice"}),
                [&](const RunResult& r) { first = r; });
  boost::asio::steady_timer t(io, 500ms);
  t.async_wait([&](auto) {
    runner->start(flox({"build", "-d", env_dir.string(), "twice"}),
                  [&](const RunResult& r) { second = r; });
  });
  io.run_for(30s);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->succeeded());
  EXPECT_EQ(second->exit_code, 1);
  EXPECT_EQ(classify(*second, Phase::kBuild).failure, Failure::kCollision);
}

TEST_F(ProcessRunnerTest, AnUntrackedRecipeIsRefusedByFlox) {
  recipe("new", /*track=*/false);
  auto r = run(flox({"build", "-d", env_dir.string(), "new"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(classify(r, Phase::kBuild).failure, Failure::kNotTracked);
}

TEST_F(ProcessRunnerTest, FailuresAreClassified) {
  const std::pair<const char*, Failure> cases[] = {{"oom", Failure::kOutOfMemory},
                                                   {"fail", Failure::kBuildError},
                                                   {"eval", Failure::kEvaluation},
                                                   {"network", Failure::kNetwork}};
  for (const auto& [result, failure] : cases) {
    std::string pkg = std::string("r-") + result;
    recipe(pkg);
    behave(pkg, std::string("result=") + result + "\n");
    auto r = run(flox({"build", "-d", env_dir.string(), pkg}));
    EXPECT_EQ(r.exit_code, 1) << result;
    EXPECT_EQ(classify(r, Phase::kBuild).failure, failure) << result << ": " << r.tail;
  }
}

TEST_F(ProcessRunnerTest, MemoryOfTheProcessGroupIsSampled) {
  recipe("hungry");
  behave("hungry", "alloc_mb=200\nseconds=1.5\n");
  auto s = flox({"build", "-d", env_dir.string(), "hungry"});
  s.sample_every = 100ms;
  auto r = run(s);
  ASSERT_TRUE(r.succeeded()) << r.tail;
  EXPECT_GT(r.peak_group_rss, 150u << 20);
  EXPECT_LT(r.peak_group_rss, 600u << 20);
  EXPECT_GE(r.host_peak_used, r.host_used_at_start);
}

// flox publish's preconditions, in the order DESIGN.md gives, each with flox 1.14.1's message.
TEST_F(ProcessRunnerTest, PublishPreconditions) {
  recipe("pub");
  auto publish = [&](std::map<std::string, std::string> extra = {}) {
    auto s = flox({"publish", "-d", env_dir.string(), "-o", "acme", "pub"});
    for (auto& [k, v] : extra)
      s.env[k] = v;
    return run(s);
  };
  const std::map<std::string, std::string> token = {{"FLOX_FLOXHUB_TOKEN", "t0ken"}};
  auto expect_refusal = [&](const RunResult& r, const char* says) {
    EXPECT_EQ(r.exit_code, 1) << says;
    EXPECT_THAT(r.tail, HasSubstr(says));
  };
  expect_refusal(publish(), "✘ ERROR: You are not logged in to FloxHub.");
  EXPECT_EQ(classify(publish(), Phase::kPublish).failure, Failure::kNotLoggedIn);

  fs::rename(env_dir / ".flox/env/manifest.lock", dir / "lock");
  expect_refusal(publish(token), "✘ ERROR: Environment must be locked.");
  fs::rename(dir / "lock", env_dir / ".flox/env/manifest.lock");

  testing::write_text(env_dir / ".flox/pkgs/stray.nix", "{ }\n");
  expect_refusal(publish(token),
                 "The following environment files are not tracked by git:\n- .flox/pkgs/stray.nix");
  testing::git(env_dir, {"add", ".flox/pkgs/stray.nix"});
  auto staged = publish(token);
  // A staged new recipe counts.
  expect_refusal(staged, "Build repository must be clean, but has dirty tracked files.");
  EXPECT_EQ(classify(staged, Phase::kPublish).failure, Failure::kPublishPrecondition);
  testing::git(env_dir, {"commit", "-q", "-m", "Add stray"});
  // The remote is asked: a commit that is only local is not on it.
  expect_refusal(publish(token), "Current revision not found on any remote repositories.");
  testing::git(env_dir, {"push", "-q"});

  auto ok = publish(token);
  EXPECT_TRUE(ok.succeeded()) << ok.tail;
  EXPECT_THAT(ok.tail, HasSubstr("Package published successfully."));
  auto again = publish(token);
  EXPECT_TRUE(again.succeeded());
  EXPECT_THAT(again.tail, HasSubstr("Package already published."));
  // flox 1.12+ keys "already published" on HEAD: after any new commit, the unchanged package is
  // published again as a new catalog entry.
  testing::git(env_dir, {"commit", "-q", "--allow-empty", "-m", "unrelated"});
  testing::git(env_dir, {"push", "-q"});
  auto moved = publish(token);
  EXPECT_TRUE(moved.succeeded());
  EXPECT_THAT(moved.tail, HasSubstr("Package published successfully."));
  // Before 1.12 there is no check at all.
  auto old = publish({{"FLOX_FLOXHUB_TOKEN", "t0ken"}, {"FAKE_FLOX_VERSION", "1.11.0"}});
  EXPECT_THAT(old.tail, HasSubstr("Package published successfully."));

  testing::git(env_dir, {"branch", "--unset-upstream"});
  expect_refusal(publish(token), "Current branch 'main' has no upstream remote configured.");
}

}  // namespace
}  // namespace tvd::exec
