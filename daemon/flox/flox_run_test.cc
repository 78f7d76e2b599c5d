// flox through the real runner: what the fake flox (flox 1.14's messages and exit codes) writes
// is read back as the failure it is.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include "daemon/flox/classify.h"
#include "tests/support/runner_fixture.h"

namespace tvd::flox {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using exec::RunResult;
using FloxRunTest = testing::RunnerFixture;

TEST_F(FloxRunTest, TwoBuildsOfOnePackageCollide) {
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

TEST_F(FloxRunTest, AnUntrackedRecipeIsRefusedByFlox) {
  recipe("new", /*track=*/false);
  auto r = run(flox({"build", "-d", env_dir.string(), "new"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(classify(r, Phase::kBuild).failure, Failure::kNotTracked);
}

TEST_F(FloxRunTest, FailuresAreClassified) {
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

// flox publish's preconditions, in the order DESIGN.md gives, each with flox 1.14.1's message.
TEST_F(FloxRunTest, PublishPreconditions) {
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
}  // namespace tvd::flox
