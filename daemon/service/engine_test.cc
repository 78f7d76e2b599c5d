// A handful of end-to-end tests of the engine (its state machine is tested on fakes in
// engine_machine_test.cc), with everything real but flox: the process runner, git with a bare
// upstream, the fake flox of tests/support, an Asio clock.
#include <signal.h>

#include <set>

#include "daemon/service/engine_fixture.h"

namespace tvd::service {
namespace {

TEST_F(EngineTest, EnqueueCommitsBuildsAndPublishes) {
  make(config());
  auto e = enqueue({"sm89-avx2", "cpu-avx2"});
  ASSERT_EQ(e.size(), 2u);
  EXPECT_TRUE(e[0].created && e[1].created);
  run_until_idle();
  ASSERT_EQ(latest.size(), 2u);
  for (const auto& [id, job] : latest) {
    const Job* j = &job;
    ASSERT_EQ(j->state, JobState::kSucceeded) << j->package << ": " << j->error;
    EXPECT_EQ(j->build_tries, 1);
    EXPECT_EQ(j->publish_tries, 1);
  }
  // Each recipe was committed on its own, with the seed's message form, and pushed.
  std::string log = testing::git(env_dir, {"log", "--format=%s"});
  EXPECT_THAT(log, HasSubstr("Add TorchVision for NVIDIA Ada Lovelace (RTX 4090, L40) + AVX2 (" +
                             sm89 + ")"));
  EXPECT_THAT(log, HasSubstr("Add TorchVision CPU-only build optimized for AVX2 (" + cpu + ")"));
  EXPECT_THAT(log, HasSubstr("Ignore flox build results (result-*)"));
  EXPECT_EQ(testing::git(env_dir, {"show", "--stat", "--format=", "HEAD"}).find(".gitignore"),
            std::string::npos);
  EXPECT_EQ(testing::git(env_dir, {"rev-parse", "HEAD"}),
            testing::git(upstream, {"rev-parse", "main"}));
  EXPECT_EQ(testing::git(env_dir, {"status", "--porcelain"}), "");  // result-* links are ignored
  EXPECT_TRUE(fs::is_symlink(env_dir / ("result-" + sm89)));
  EXPECT_EQ(count_calls("publish acme " + sm89), 1u);
  EXPECT_EQ(count_calls("publish acme " + cpu), 1u);
  // The states went queued -> building -> publishing -> succeeded.
  EXPECT_EQ(states(*e[0].job),
            (std::vector<JobState>{JobState::kQueued, JobState::kBuilding, JobState::kPublishing,
                                   JobState::kSucceeded}));
}

TEST_F(EngineTest, APermanentFailureIsNotRetriedAndStillFailsUntilItsRecipeChanges) {
  auto c = config();
  c.publish = false;
  make(c);
  behave(sm89, "result=fail\n");
  auto e = enqueue({"sm89-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->phase, JobPhase::kBuild);
  EXPECT_EQ(j->build_tries, 1);
  EXPECT_THAT(
      j->error,
      HasSubstr(
          "torch-2.8.0: builder failed with exit code 2 (torch/csrc/Module.cpp:42:7: error:"));

  EnqueueOptions nightly{.origin = sched::Origin::kBatch, .batch = "nightly"};
  auto skipped = enqueue({"sm89-avx2"}, nightly);
  EXPECT_FALSE(skipped[0].job);
  EXPECT_THAT(skipped[0].skipped,
              HasSubstr("still failing: torch-2.8.0: builder failed with exit code 2"));

  nightly.force = true;
  auto forced = enqueue({"sm89-avx2"}, nightly);
  EXPECT_TRUE(forced[0].created);
  run_until_idle();

  // A changed recipe is worth another try.
  nightly.force = false;
  testing::write_text(env_dir / ".flox/pkgs" / (sm89 + ".nix"),
                      testing::read_text(env_dir / ".flox/pkgs" / (sm89 + ".nix")) + "# fixed\n");
  testing::git(env_dir, {"commit", "-q", "-am", "Fix sm89"});
  fs::remove(plan / (sm89 + ".build"));
  auto changed = enqueue({"sm89-avx2"}, nightly);
  ASSERT_TRUE(changed[0].created) << changed[0].skipped;
  run_until_idle();
  EXPECT_EQ(seen(*changed[0].job)->state, JobState::kSucceeded);
}

TEST_F(EngineTest, APublishPreconditionSaysWhatToFixAndRetryPublishesWithoutRebuilding) {
  auto c = config();
  c.publishing.push = false;
  make(c);
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->phase, JobPhase::kPublish);
  EXPECT_THAT(j->error,
              HasSubstr("HEAD is not pushed to its upstream: push it, or set publish.push"));
  EXPECT_EQ(count_calls("publish"), 0u);  // tvd refused before flox was asked

  testing::git(env_dir, {"push", "-q"});
  ASSERT_EQ(engine->retry(*j).value(), j->id);
  run_until_idle();
  EXPECT_EQ(j->state, JobState::kSucceeded) << j->error;
  EXPECT_EQ(count_calls("build " + cpu), 1u);
  EXPECT_EQ(count_calls("publish acme " + cpu), 1u);
}

// The upstream repository went away while the build ran (moved or deleted): tvd's own checks
// read the local tracking ref and pass, but flox asks the remote itself whether HEAD is there
// (1.14.1: `git fetch --negotiate-only`) and fails, quoting git. tvd reads git's words as it does
// for its own push: the checkout's to fix, tried once, not retried as the network, the build not
// repeated.
TEST_F(EngineTest, AnUpstreamGoneBeforeThePublishIsFloxsRefusalAndNotRetried) {
  make(config());
  behave(cpu, "seconds=1\n");
  auto e = enqueue({"cpu-avx2"});
  ASSERT_TRUE(run_until([&] { return seen(*e[0].job)->state == JobState::kBuilding; }, 30s));
  // The recipe's commit is pushed: tvd's check before publishing will not touch the remote.
  EXPECT_EQ(testing::git(env_dir, {"rev-parse", "HEAD"}),
            testing::git(upstream, {"rev-parse", "main"}));
  fs::rename(upstream, dir / "moved.git");
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(states(*e[0].job), (std::vector<JobState>{JobState::kQueued, JobState::kBuilding,
                                                      JobState::kPublishing, JobState::kFailed}));
  EXPECT_EQ(j->phase, JobPhase::kPublish);
  EXPECT_EQ(j->failure, flox::Failure::kPublishPrecondition);
  EXPECT_THAT(j->error, HasSubstr("flox publish could not ask the upstream whether HEAD is pushed: "
                                  "the upstream does not exist: fatal: '" +
                                  upstream.string() + "' does not appear to be a git repository"));
  EXPECT_THAT(j->error, HasSubstr("check 'git remote -v'"));
  EXPECT_EQ(j->publish_tries, 1);
  EXPECT_EQ(count_calls("build " + cpu), 1u);
}

// Without credentials anywhere flox looks, flox's own refusal is the reason, and it is permanent:
// tried once, never retried (the build is not repeated either).
TEST_F(EngineTest, NotLoggedInIsAPermanentPublishFailure) {
  auto c = config();
  c.child_env.erase("FLOX_FLOXHUB_TOKEN");
  make(c);
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->failure, flox::Failure::kNotLoggedIn);
  EXPECT_THAT(j->error, HasSubstr("not logged in to FloxHub: You are not logged in to FloxHub."));
  EXPECT_EQ(j->publish_tries, 1);
  EXPECT_EQ(count_calls("build " + cpu), 1u);
}

// With no credentials at all, every flox command starts with the login warning (flox 1.14); the
// reason of each failure is still Nix's own line, and its class follows it.
TEST_F(EngineTest, TrueReasonsAndClassesUnderTheLoginWarning) {
  auto c = config();
  c.child_env.erase("FLOX_FLOXHUB_TOKEN");
  c.publish = false;
  make(c);
  const std::string sm86 = "torchvision-python313-cuda12_8-sm86-avx2";
  const std::string sm90 = "torchvision-python313-cuda12_8-sm90-avx2";
  behave(sm89, "result=fail\n");
  behave(cpu, "result=eval\n");
  behave(sm86, "fail_first=1\n");    // OOM once, then fine
  behave(sm90, "result=catalog\n");  // FloxHub's catalog unreachable every time
  auto e = enqueue({"sm89-avx2", "cpu-avx2", "sm86-avx2", "sm90-avx2"});
  run_until_idle();
  const Job* compiler = seen(*e[0].job);
  EXPECT_EQ(compiler->failure, flox::Failure::kBuildError);
  EXPECT_THAT(compiler->error, HasSubstr("torch-2.8.0: builder failed with exit code 2 "
                                         "(torch/csrc/Module.cpp:42:7: error:"));
  const Job* eval = seen(*e[1].job);
  EXPECT_EQ(eval->failure, flox::Failure::kEvaluation);
  EXPECT_THAT(eval->error, HasSubstr("attribute 'torchvison' missing at "));
  const Job* oom = seen(*e[2].job);
  EXPECT_EQ(oom->state, JobState::kSucceeded);
  EXPECT_EQ(oom->attempts[0].failure, flox::Failure::kOutOfMemory);
  EXPECT_THAT(oom->attempts[0].reason, HasSubstr("builder failed due to signal 9 (Killed)"));
  const Job* network = seen(*e[3].job);
  EXPECT_EQ(network->failure, flox::Failure::kNetwork);
  EXPECT_EQ(network->attempts.size(), 3u);  // retried up to max_tries
  EXPECT_THAT(network->error, HasSubstr("api.flox.dev"));
  for (const auto* j : {compiler, eval, oom, network}) {
    EXPECT_NE(j->failure, flox::Failure::kNotLoggedIn) << j->package;
    EXPECT_THAT(j->error, ::testing::Not(HasSubstr("Build failed"))) << j->package;
    EXPECT_THAT(testing::read_text(j->attempts[0].log),
                HasSubstr("! You are not logged in to FloxHub."));
  }
}

// flox also takes the token from flox.toml (or the keyring after `flox auth login`): with no
// FLOX_FLOXHUB_TOKEN in the environment, tvd still publishes; and with a signing key it passes
// --signing-private-key.
TEST_F(EngineTest, PublishesWithFloxsOwnCredentialsAndASigningKey) {
  auto c = config();
  c.child_env.erase("FLOX_FLOXHUB_TOKEN");
  testing::write_text(dir / ".config/flox/flox.toml", "floxhub_token = \"t0ken\"\n");
  testing::write_text(dir / "signing.key", "secret\n");
  c.publishing.signing_key = dir / "signing.key";
  make(c);
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  EXPECT_EQ(j->state, JobState::kSucceeded) << j->error;
  EXPECT_EQ(count_calls("publish acme " + cpu), 1u);
  bool signed_call = false;
  for (const auto& call : calls())
    signed_call = signed_call || (call.rfind("publish acme " + cpu, 0) == 0 && call.size() > 7 &&
                                  call.substr(call.size() - 7) == " signed");
  EXPECT_TRUE(signed_call);
  // flox found the token in flox.toml, so it did not warn.
  EXPECT_THAT(testing::read_text(j->attempts[0].log), ::testing::Not(HasSubstr("not logged in")));
}

// flox 1.14.1 reads the signing key only to upload, after it built the package again: a key that
// went away since tvd started fails the publish as the configuration's fault, once (no retries
// that would each cost a build), and the job says what to fix. Its build stays done.
TEST_F(EngineTest, ASigningKeyThatWentAwayFailsThePublishOnceAndSaysWhy) {
  auto c = config();
  testing::write_text(dir / "signing.key", "secret\n");
  c.publishing.signing_key = dir / "signing.key";
  make(c);
  fs::remove(dir / "signing.key");
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  const Job* j = seen(*e[0].job);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->phase, JobPhase::kPublish);
  EXPECT_EQ(j->failure, flox::Failure::kPublishPrecondition);
  EXPECT_THAT(j->error, HasSubstr("could not read the signing key"));
  EXPECT_THAT(j->error, HasSubstr("signing.key': No such file or directory"));
  EXPECT_TRUE(j->built);
  EXPECT_EQ(j->publish_tries, 1);  // not retried: the next try would fail the same way
  EXPECT_EQ(states(*e[0].job), (std::vector<JobState>{JobState::kQueued, JobState::kBuilding,
                                                      JobState::kPublishing, JobState::kFailed}));
  EXPECT_EQ(count_calls("publish"), 0u);
}

// The catalog unreachable when the build asks for its base catalog page: a network failure,
// retried with backoff, and the build goes on when the catalog answers again.
TEST_F(EngineTest, TheBaseCatalogUnreachableIsRetriedAsANetworkFailure) {
  auto c = config();
  c.publish = false;
  make(c);
  behave(cpu, "result=catalog\n");
  auto e = enqueue({"cpu-avx2"});
  ASSERT_TRUE(run_until(
      [&] {
        const Job* j = seen(*e[0].job);
        return j && j->failure == flox::Failure::kNetwork;
      },
      30s));
  EXPECT_THAT(seen(*e[0].job)->error,
              HasSubstr("could not get information about the base catalog"));
  behave(cpu, "result=ok\n");
  run_until_idle();
  EXPECT_EQ(seen(*e[0].job)->state, JobState::kSucceeded);
  EXPECT_EQ(count_calls("build " + cpu), 2u);
  // Built, failed on the network, waited (queued) and built again: never failed in between.
  EXPECT_EQ(states(*e[0].job),
            (std::vector<JobState>{JobState::kQueued, JobState::kBuilding, JobState::kQueued,
                                   JobState::kBuilding, JobState::kSucceeded}));
}

TEST_F(EngineTest, CancelStopsABuildAndItsGrandchildren) {
  auto c = config();
  c.publish = false;
  make(c);
  behave(sm89, "result=hang\ngrandchild=1\n");
  auto e = enqueue({"sm89-avx2", "cpu-avx2"});
  // Cancelled once its build runs and has left its grandchild (not after a fixed time: on a
  // loaded machine the recipe commits before it can take longer).
  boost::asio::steady_timer t(io);
  std::function<void()> when_built = [&] {
    t.expires_after(100ms);
    t.async_wait([&](auto) {
      if (!fs::exists(plan / (sm89 + ".grandchild"))) return when_built();
      EXPECT_TRUE(engine->cancel(*e[0].job));
    });
  };
  when_built();
  run_until_idle();
  EXPECT_EQ(seen(*e[0].job)->state, JobState::kCancelled);
  EXPECT_EQ(seen(*e[1].job)->state, JobState::kSucceeded);
  pid_t grandchild = std::stoi(testing::read_text(plan / (sm89 + ".grandchild")));
  EXPECT_FALSE(testing::process_alive(grandchild));
  EXPECT_FALSE(engine->cancel(*e[0].job));  // already cancelled
  EXPECT_FALSE(engine->cancel(999));
}

TEST_F(EngineTest, OnlyTheNewestLogsOfAVariantAreKept) {
  auto c = config();
  c.publish = false;
  c.keep_logs = 2;
  make(c);
  for (int i = 0; i < 4; ++i) {
    enqueue({"cpu-avx2"});
    run_until_idle();
  }
  auto logs = testing::list_files(dir / "state" / "logs" / cpu);
  EXPECT_EQ(logs, (std::vector<std::string>{"3-1-build.log", "4-1-build.log"}));
}

}  // namespace
}  // namespace tvd::service

namespace tvd::service {
namespace {

// A recipe that would fail in flox build (here: the seed era's `sm_89` target and `pytorch`)
// fails its job at enqueue, before any build, with the finding as the reason; --force builds it.
TEST_F(EngineTest, ARecipeWithAnErrorFindingFailsAtOnceUnlessForced) {
  make(config());
  const fs::path file = env_dir / ".flox/pkgs" / (sm89 + ".nix");
  auto text = templates.gpu
                  .render(substitutions(select({"sm89-avx2"}).front().variant,
                                        PytorchRecipes::scan(dir / "build-pytorch")
                                            .choose(select({"sm89-avx2"}).front().variant)))
                  .value();
  text.replace(text.find("gpuArchSM = \"8.9\""), 17, "gpuArchSM = \"sm_89\"");
  testing::write_text(file, text);
  testing::git(env_dir, {"add", file.string()});
  testing::git(env_dir, {"commit", "-q", "-m", "hand-written sm89"});
  testing::git(env_dir, {"push", "-q"});  // tvd pushes only its own commits

  auto e = enqueue({"sm89-avx2"});
  // Failed inside enqueue itself: no event loop ran, no process started.
  ASSERT_EQ(e.size(), 1u);
  ASSERT_TRUE(e[0].job);
  const Job* j = seen(*e[0].job);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->state, JobState::kFailed);
  EXPECT_EQ(j->phase, JobPhase::kRecipe);
  EXPECT_EQ(j->failure, flox::Failure::kEvaluation);
  EXPECT_THAT(j->error, HasSubstr(sm89 + ".nix:27: error: gpuTargets \"sm_89\": PyTorch's CMake "
                                         "rejects \"sm_89\""));
  EXPECT_THAT(j->error, HasSubstr("--force builds it anyway"));
  EXPECT_EQ(count_calls("build"), 0u);
  EXPECT_TRUE(engine->idle());
  // A retry checks again: the recipe still would fail, so nothing is queued.
  auto again = engine->retry(*j);
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error().message, HasSubstr("would fail again: "));
  EXPECT_THAT(again.error().hint, HasSubstr("--force"));
  EXPECT_TRUE(engine->idle());

  EnqueueOptions force;
  force.force = true;
  auto forced = enqueue({"sm89-avx2"}, force);
  run_until_idle();
  EXPECT_EQ(seen(*forced[0].job)->state, JobState::kSucceeded);
  EXPECT_EQ(count_calls("build"), 1u);
}

}  // namespace
}  // namespace tvd::service

namespace tvd::service {
namespace {}  // namespace
}  // namespace tvd::service

namespace tvd::service {
namespace {}  // namespace
}  // namespace tvd::service

namespace tvd::service {
namespace {

// The FloxHub token reaches flox publish alone: not the build, not git (whose hooks are code from
// the repository).
TEST_F(EngineTest, TheTokenReachesOnlyPublish) {
  make(config());
  testing::write_text(env_dir / ".git/hooks/pre-commit",
                      "#!/bin/sh\necho \"token=${FLOX_FLOXHUB_TOKEN:+yes}\" >> \"" +
                          (dir / "hook-env").string() + "\"\n");
  fs::permissions(env_dir / ".git/hooks/pre-commit", fs::perms::owner_all);
  auto e = enqueue({"cpu-avx2"});
  run_until_idle();
  ASSERT_EQ(seen(*e[0].job)->state, JobState::kSucceeded) << seen(*e[0].job)->error;
  EXPECT_THAT(testing::read_text(plan / (cpu + ".build-env")), ::testing::StartsWith("token=\n"));
  EXPECT_EQ(testing::read_text(plan / (cpu + ".publish-env")), "token=yes\n");
  // Every commit's hook ran (.gitignore's and the recipe's), none with the token.
  const std::string hooks = testing::read_text(dir / "hook-env");
  EXPECT_THAT(hooks, HasSubstr("token=\n"));
  EXPECT_THAT(hooks, ::testing::Not(HasSubstr("yes")));
}

}  // namespace
}  // namespace tvd::service
