// The engine's state machine on fakes: a clock the test moves, a runner and a lane scripted by
// tables. Retries, backoff, OOM, timeouts, cancel in every state, publish after build, each output
// once, recovery: hours of builds in milliseconds, with the times asserted exactly. The fakes'
// outputs are what flox 1.14 and Nix print (tests/support/fake-flox cites them), read by flox's
// own classification.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/service/engine.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fake_lane.h"
#include "tests/support/fake_runner.h"
#include "tests/support/scratch.h"

namespace tvd::service {
namespace {

using ::testing::ElementsAre;
using testing::FakeRun;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
constexpr uint64_t GiB = 1ull << 30;

// What flox 1.14 and Nix print (tests/support/fake-flox, with its sources).
const std::string kBuildError =
    "torch> torch/csrc/Module.cpp:42:7: error: 'foo' was not declared in this scope\n"
    "error: Cannot build '/nix/store/aaaa-torch-2.8.0.drv'.\n"
    "       Reason: builder failed with exit code 2.\n"
    "error: Cannot build '/nix/store/bbbb-torchvision.drv'.\n"
    "       Reason: 1 dependency failed.\n"
    "✘ ERROR: Build failed\n";
const std::string kOutOfMemory =
    "error: Cannot build '/nix/store/aaaa-torch-2.8.0.drv'.\n"
    "       Reason: builder failed due to signal 9 (Killed).\n"
    "error: Cannot build '/nix/store/bbbb-torchvision.drv'.\n"
    "       Reason: 1 dependency failed.\n"
    "✘ ERROR: Build failed\n";
const std::string kNetwork =
    "error: unable to download 'https://github.com/NixOS/nixpkgs/archive/fe5e41d7.tar.gz': "
    "Couldn't resolve host name (6)\n"
    "✘ ERROR: Build failed\n";
const std::string kUploadFailed =
    "✘ ERROR: Failed to publish package: Failed to upload to cache: error sending request for url "
    "(https://api.flox.dev/api/v1/catalog/catalogs/acme/packages/p/builds): client error "
    "(Connect)\n";
const std::string kNotLoggedIn = "✘ ERROR: You are not logged in to FloxHub.\n";
const std::string kPublished = "Package published successfully.\n";

class EngineMachine : public ::testing::Test {
 protected:
  testing::ScratchDir dir;
  fs::path env_dir = dir / "build-torchvision";
  testing::FakeClock clock;
  testing::FakeRunner runner{clock};
  testing::FakeLane lane{clock, runner};
  Matrix matrix = std::move(Matrix::embedded().value());
  TemplateSet templates = std::move(TemplateSet::embedded().value());
  std::unique_ptr<Engine> engine;
  std::map<JobId, std::vector<JobState>> states;  // every state each job went through
  std::map<JobId, Job> latest;  // each job as the observer (the store) last saw it

  const std::string sm89 = "torchvision-python313-cuda12_8-sm89-avx2";
  const std::string sm90 = "torchvision-python313-cuda12_8-sm90-avx2";
  const std::string cpu = "torchvision-python313-cpu-avx2";

  EngineConfig config() {
    EngineConfig c;
    c.env = {env_dir, dir / "build-pytorch"};
    c.log_dir = dir / "state" / "logs";
    c.flox = "flox";
    c.publish = true;
    c.org = "acme";
    c.limits = {.memory_budget = 100 * GiB, .max_parallel = 4};
    c.estimates = {.gpu_bytes = 40 * GiB, .cpu_bytes = 16 * GiB};
    c.max_tries = 3;
    c.backoff = 2min;
    c.recheck = 30s;
    return c;
  }
  void make(EngineConfig c) {
    lane.set_publishing(publish_settings(c));
    engine = std::make_unique<Engine>(std::move(c), templates, runner, lane, clock,
                                      [] { return sched::Measurements{}; });
    engine->on_change([this](const Job& j) {
      auto& seen = states[j.id];
      if (seen.empty() || seen.back() != j.state) seen.push_back(j.state);
      latest.insert_or_assign(j.id, j);
    });
  }
  void SetUp() override {
    testing::make_flox_env(env_dir);
    runner.script("flox publish", {{.takes = 5min, .output = kPublished}});
    make(config());
  }
  // A build of `pkg` that succeeds after `takes`, leaving result-PKG as flox does.
  static FakeRun built(const std::string& pkg, std::chrono::milliseconds takes = 1h,
                       const std::string& hash = "0123") {
    return {.takes = takes,
            .output = "Completed build of " + pkg + " in Nix expression mode\n",
            .links = {{"result-" + pkg, "/nix/store/" + hash + "-" + pkg}}};
  }
  static FakeRun failed(const std::string& output, std::chrono::milliseconds takes = 10min) {
    return {.takes = takes, .exit_code = 1, .output = output};
  }
  JobId enqueue(const std::string& spec, EnqueueOptions o = {}) {
    auto e = engine->enqueue(resolve_specs(matrix, {spec}, false).value(), o);
    EXPECT_EQ(e.size(), 1u);
    return e.at(0).job.value_or(0);
  }
  void run() {
    ASSERT_TRUE(clock.run_while_not([&] { return engine->idle(); }));
  }
  JobState last(JobId id) { return states.at(id).back(); }
  std::vector<std::chrono::minutes> build_starts(const std::string& pkg) {
    std::vector<std::chrono::minutes> out;
    for (const auto& c : runner.calls()) {
      if (c.line() == "flox build -d " + env_dir.string() + " " + pkg) {
        out.push_back(std::chrono::duration_cast<std::chrono::minutes>(
            c.started - (clock.now() - clock.elapsed())));
      }
    }
    return out;
  }
};

TEST_F(EngineMachine, ABuildCommitsBuildsThenPublishesItsOutput) {
  runner.script("flox build", {built(sm89)});
  JobId id = enqueue("sm89-avx2");
  run();
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued, JobState::kBuilding, JobState::kPublishing,
                                      JobState::kSucceeded));
  EXPECT_THAT(lane.asked(), ElementsAre("commit " + sm89, "publish " + sm89 + "@rev1"));
  const Job* j = &latest.at(id);
  EXPECT_EQ(j->output, "/nix/store/0123-" + sm89);
  EXPECT_TRUE(j->published);
  ASSERT_EQ(j->attempts.size(), 2u);
  EXPECT_EQ(j->attempts[0].phase, JobPhase::kBuild);
  EXPECT_EQ(j->attempts[1].phase, JobPhase::kPublish);
  EXPECT_EQ(j->publish_rev, "rev1");
  // 2 s of commit, an hour of build, 5 minutes of upload.
  EXPECT_EQ(clock.elapsed(), 2s + 1h + 5min);
  EXPECT_TRUE(runner.unscripted().empty());
}

TEST_F(EngineMachine, TheBuildGetsNoTokenAndThePublishRunsInTheLane) {
  auto c = config();
  c.child_env = {{"PATH", "/usr/bin"}, {"FLOX_FLOXHUB_TOKEN", "t0ken"}};
  make(c);
  runner.script("flox build", {built(cpu)});
  enqueue("cpu-avx2");
  run();
  ASSERT_EQ(runner.calls().size(), 2u);
  EXPECT_FALSE(runner.calls()[0].env.count("FLOX_FLOXHUB_TOKEN"));
  EXPECT_EQ(runner.calls()[0].env.at("PATH"), "/usr/bin");
  EXPECT_EQ(runner.calls()[1].line(), "flox publish -o acme " + cpu);
}

TEST_F(EngineMachine, WithoutPublishingABuildSucceedsAtItsEnd) {
  auto c = config();
  c.publish = false;
  make(c);
  runner.script("flox build", {built(cpu)});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox publish"), 0u);
  EXPECT_FALSE(latest.at(id).published);
}

TEST_F(EngineMachine, AVariantIsNeverQueuedTwice) {
  runner.script("flox build", {built(sm89)});
  JobId first = enqueue("sm89-avx2");
  auto again = engine->enqueue(resolve_specs(matrix, {"sm89-avx2"}, false).value(), {});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job, first);
  EXPECT_FALSE(again[0].created);
  run();
  EXPECT_EQ(runner.count("flox build"), 1u);
}

TEST_F(EngineMachine, TheMemoryBudgetHoldsAndQueuedBuildsStartAsOthersEnd) {
  // 100 GiB and 40 GiB per GPU build: two at a time, the third when one ends.
  runner.script("flox build", {{.takes = 1h}});
  enqueue("sm89-avx2");
  enqueue("sm90-avx2");
  enqueue("sm86-avx2");
  auto waiting = engine->waiting();
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_THAT(waiting[0].reason,
              HasSubstr("waiting for memory: 80 GiB of 100 GiB reserved, needs 40 GiB"));
  run();
  EXPECT_EQ(runner.count("flox build"), 3u);
  EXPECT_EQ(runner.most_at_once("flox build"), 2u);
  // Two builds from 2 s, the third after the first of them ends; each then uploads.
  EXPECT_EQ(clock.elapsed(), 2s + 1h + 2s + 1h + 5min);
}

TEST_F(EngineMachine, ATransientFailureWaitsTwiceAsLongEachTryThenFails) {
  runner.script("flox build", {failed(kNetwork)});
  JobId id = enqueue("cpu-avx2");
  run();
  // Tries start at 2 s; after 10 min of failing, 2 min of backoff (and 2 s of recipe commit);
  // then 4 min.
  EXPECT_EQ(build_starts(cpu), (std::vector<std::chrono::minutes>{0min, 12min, 26min}));
  EXPECT_EQ(last(id), JobState::kFailed);
  const Job* j = &latest.at(id);
  EXPECT_EQ(j->failure, flox::Failure::kNetwork);
  EXPECT_EQ(j->phase, JobPhase::kBuild);
  EXPECT_THAT(j->error, HasSubstr("Couldn't resolve host name"));
  EXPECT_EQ(j->attempts.size(), 3u);
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued, JobState::kBuilding, JobState::kQueued,
                                      JobState::kBuilding, JobState::kQueued, JobState::kBuilding,
                                      JobState::kFailed));
}

TEST_F(EngineMachine, AnOutOfMemoryBuildIsRetriedReservingAQuarterMore) {
  runner.script(
      "flox build",
      {{.takes = 30min, .exit_code = 1, .output = kOutOfMemory, .peak_group_rss = 48 * GiB},
       built(sm89)});
  JobId id = enqueue("sm89-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox build"), 2u);
  EXPECT_EQ(latest.at(id).attempts[0].failure, flox::Failure::kOutOfMemory);
  EXPECT_THAT(testing::read_text(latest.at(id).attempts[0].log),
              HasSubstr("due to signal 9 (Killed)"));
  // It was seen using 48 GiB: the estimator is told 60, and adds its margin.
  EXPECT_EQ(engine->estimator().estimate(sm89, sched::BuildKind::kGpu).memory,
            static_cast<uint64_t>(60 * GiB * 1.1));
}

TEST_F(EngineMachine, ASuccessfulBuildTeachesItsPeakAndDuration) {
  auto run_ok = built(sm89, 3h);
  run_ok.peak_group_rss = 30 * GiB;
  runner.script("flox build", {run_ok});
  JobId id = enqueue("sm89-avx2");
  run();
  EXPECT_EQ(latest.at(id).attempts[0].learned_peak, 30 * GiB);
  EXPECT_EQ(engine->estimator().estimate(sm89, sched::BuildKind::kGpu).memory,
            static_cast<uint64_t>(30 * GiB * 1.1));
  EXPECT_EQ(engine->estimator().estimate(sm89, sched::BuildKind::kGpu).duration, 3h);
}

TEST_F(EngineMachine, AKilledOrTimedOutBuildIsTransient) {
  runner.script("flox build -d " + env_dir.string() + " " + sm89,
                {{.takes = 1h, .ending = exec::Ending::kSignaled, .signal = 15}, built(sm89)});
  runner.script("flox build -d " + env_dir.string() + " " + cpu,
                {{.takes = 12h, .ending = exec::Ending::kTimedOut}, built(cpu)});
  JobId a = enqueue("sm89-avx2");
  JobId b = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(a), JobState::kSucceeded);
  EXPECT_EQ(latest.at(a).attempts[0].failure, flox::Failure::kKilled);
  EXPECT_EQ(last(b), JobState::kSucceeded);
  EXPECT_EQ(latest.at(b).attempts[0].failure, flox::Failure::kTimeout);
}

TEST_F(EngineMachine, APermanentFailureIsNotRetriedAndBatchesSkipItWhileUnchanged) {
  runner.script("flox build", {failed(kBuildError)});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kFailed);
  EXPECT_EQ(runner.count("flox build"), 1u);
  EXPECT_EQ(latest.at(id).failure, flox::Failure::kBuildError);
  EXPECT_THAT(latest.at(id).error, HasSubstr("builder failed with exit code 2"));
  EXPECT_FALSE(latest.at(id).fingerprint.empty());

  auto nightly = engine->enqueue(resolve_specs(matrix, {"cpu-avx2"}, false).value(),
                                 {.origin = sched::Origin::kBatch});
  ASSERT_EQ(nightly.size(), 1u);
  EXPECT_FALSE(nightly[0].job);
  EXPECT_THAT(nightly[0].skipped, HasSubstr("still failing"));
  // A person asking builds it; so does a batch once the lock changes.
  testing::write_text(env_dir / ".flox/env/manifest.lock", "{\"lockfile-version\": 1}\n");
  auto changed = engine->enqueue(resolve_specs(matrix, {"cpu-avx2"}, false).value(),
                                 {.origin = sched::Origin::kBatch});
  EXPECT_TRUE(changed.at(0).created);
  run();
  EXPECT_EQ(runner.count("flox build"), 2u);
}

TEST_F(EngineMachine, AFailedPublishIsRetriedAsAPublishNeverARebuild) {
  runner.script("flox build", {built(cpu)});
  runner.script("flox publish -o acme " + cpu,
                {failed(kUploadFailed, 1min), {.takes = 5min, .output = kPublished}});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox build"), 1u);
  EXPECT_EQ(runner.count("flox publish"), 2u);
  // The retry publishes the revision the first try recorded.
  EXPECT_THAT(lane.asked(),
              ElementsAre("commit " + cpu, "publish " + cpu + "@rev1", "publish " + cpu + "@rev1"));
  EXPECT_EQ(latest.at(id).attempts[1].failure, flox::Failure::kNetwork);
}

TEST_F(EngineMachine, NotLoggedInFailsThePublishAtOnceAndRetryPublishesWithoutRebuilding) {
  runner.script("flox build", {built(cpu)});
  runner.script("flox publish -o acme " + cpu, {failed(kNotLoggedIn, 1s), {.output = kPublished}});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kFailed);
  EXPECT_EQ(latest.at(id).phase, JobPhase::kPublish);
  EXPECT_EQ(latest.at(id).failure, flox::Failure::kNotLoggedIn);
  ASSERT_TRUE(engine->retry(latest.at(id)));
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox build"), 1u);
  EXPECT_EQ(runner.count("flox publish"), 2u);
}

TEST_F(EngineMachine, AnOutputAlreadyPublishedIsNotPublishedAgain) {
  engine->set_published({{cpu, "/nix/store/0123-" + cpu}});
  runner.script("flox build", {built(cpu)});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox publish"), 0u);
  EXPECT_THAT(latest.at(id).note, HasSubstr("already published: /nix/store/0123-" + cpu));
  // A new output is.
  runner.script("flox build -d " + env_dir.string() + " " + cpu, {built(cpu, 1h, "4567")});
  JobId next = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(next), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox publish"), 1u);
}

TEST_F(EngineMachine, CancelWhileQueuedRunsNothing) {
  runner.script("flox build", {{.takes = 1h}});
  auto c = config();
  c.limits.max_parallel = 1;
  make(c);
  JobId first = enqueue("sm89-avx2");
  JobId second = enqueue("sm90-avx2");
  ASSERT_TRUE(engine->cancel(second));
  run();
  EXPECT_EQ(last(first), JobState::kSucceeded);
  EXPECT_EQ(last(second), JobState::kCancelled);
  EXPECT_EQ(runner.count(sm90), 0u);
}

TEST_F(EngineMachine, CancelWhileBuildingStopsTheRunAndNeverRetries) {
  runner.script("flox build", {{.takes = 5h}});
  JobId id = enqueue("sm89-avx2");
  clock.advance(1h);
  ASSERT_EQ(runner.running(), 1u);
  ASSERT_TRUE(engine->cancel(id));
  run();
  EXPECT_EQ(last(id), JobState::kCancelled);
  EXPECT_TRUE(runner.calls()[0].cancelled);
  EXPECT_EQ(runner.count("flox build"), 1u);
  EXPECT_EQ(runner.count("flox publish"), 0u);
  EXPECT_EQ(clock.elapsed(), 1h);
}

TEST_F(EngineMachine, CancelDuringTheRecipeCommitEndsTheJobBeforeItBuilds) {
  JobId id = enqueue("cpu-avx2");
  clock.advance(1s);  // the commit takes 2 s
  ASSERT_TRUE(engine->cancel(id));
  run();
  EXPECT_EQ(last(id), JobState::kCancelled);
  EXPECT_EQ(runner.count("flox build"), 0u);
}

TEST_F(EngineMachine, CancelWhileWaitingToRetryEndsIt) {
  runner.script("flox build", {failed(kNetwork)});
  JobId id = enqueue("cpu-avx2");
  clock.advance(11min);  // failed at 10 min, waiting 2 min
  ASSERT_EQ(runner.running(), 0u);
  ASSERT_TRUE(engine->cancel(id));
  run();
  EXPECT_EQ(last(id), JobState::kCancelled);
  EXPECT_EQ(runner.count("flox build"), 1u);
}

TEST_F(EngineMachine, CancelWhilePublishingStopsTheUpload) {
  runner.script("flox build", {built(cpu)});
  runner.script("flox publish -o acme " + cpu, {{.takes = 2h, .output = kPublished}});
  JobId id = enqueue("cpu-avx2");
  clock.advance(1h + 30min);
  ASSERT_EQ(last(id), JobState::kPublishing);
  ASSERT_TRUE(engine->cancel(id));
  run();
  EXPECT_EQ(last(id), JobState::kCancelled);
  EXPECT_TRUE(runner.calls().back().cancelled);
  EXPECT_FALSE(latest.at(id).published);
}

TEST_F(EngineMachine, AnEndedJobIsForgottenAndOnlyEndedOnesAreRetried) {
  runner.script("flox build", {built(cpu, 1h)});
  JobId id = enqueue("cpu-avx2");
  auto early = engine->retry(latest.at(id));
  ASSERT_FALSE(early);
  EXPECT_THAT(early.error().message, HasSubstr("is building: only failed or cancelled jobs"));
  run();
  clock.advance(1ms);
  // The store (here: what the observer saw) is the truth about it now.
  EXPECT_EQ(engine->job(id), nullptr);
  EXPECT_TRUE(engine->jobs().empty());
  EXPECT_EQ(engine->cancel(id).error().kind, ErrorKind::kNotFound);
  auto late = engine->retry(latest.at(id));
  ASSERT_FALSE(late);
  EXPECT_THAT(late.error().message, HasSubstr("is succeeded: only failed or cancelled jobs"));
  EXPECT_TRUE(engine->jobs().empty());  // a refused retry leaves nothing behind
}

TEST_F(EngineMachine, ARecipeCommitThatFailsForGoodFailsTheJobAtItsRecipe) {
  lane.script_commit(cpu, {{.ok = false,
                            .failure = flox::Failure::kUnknown,
                            .reason = ".flox/pkgs/x.nix has uncommitted changes"}});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kFailed);
  EXPECT_EQ(latest.at(id).phase, JobPhase::kRecipe);
  EXPECT_THAT(latest.at(id).error, HasSubstr("uncommitted changes"));
  EXPECT_EQ(runner.count("flox build"), 0u);
}

TEST_F(EngineMachine, ARecipeCommitThatFailsForNowIsTriedAgainAfterItsBackoff) {
  lane.script_commit(
      cpu, {{.ok = false, .transient = true, .reason = "push refused: the network"}, {.ok = true}});
  runner.script("flox build", {built(cpu)});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_THAT(lane.asked(),
              ElementsAre("commit " + cpu, "commit " + cpu, "publish " + cpu + "@rev1"));
  EXPECT_EQ(build_starts(cpu), (std::vector<std::chrono::minutes>{2min}));
}

TEST_F(EngineMachine, RecoveryResumesABuiltJobAtItsPublishAndRequeuesTheRest) {
  Job built_one;
  built_one.id = 7;
  built_one.variant = resolve_specs(matrix, {"cpu-avx2"}, false).value().at(0).variant;
  built_one.package = cpu;
  built_one.publish = true;
  built_one.built = true;
  built_one.output = "/nix/store/0123-" + cpu;
  built_one.publish_rev = "abc123";
  built_one.state = JobState::kPublishing;
  Job building;
  building.id = 8;
  building.variant = resolve_specs(matrix, {"sm89-avx2"}, false).value().at(0).variant;
  building.package = sm89;
  building.publish = true;
  building.state = JobState::kBuilding;
  building.build_tries = 1;
  runner.script("flox build", {built(sm89)});
  engine->restore({built_one, building});
  run();
  EXPECT_EQ(last(7), JobState::kSucceeded);
  EXPECT_EQ(last(8), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox build -d " + env_dir.string() + " " + cpu), 0u);
  EXPECT_EQ(runner.count("flox build -d " + env_dir.string() + " " + sm89), 1u);
  // The interrupted publish uploads the revision it had recorded.
  EXPECT_THAT(lane.asked(), ::testing::Contains("publish " + cpu + "@abc123"));
  // New jobs are numbered after the restored ones.
  runner.script("flox build -d " + env_dir.string() + " " + sm90, {built(sm90)});
  EXPECT_EQ(enqueue("sm90-avx2"), 9u);
}

TEST_F(EngineMachine, ARaisedBudgetStartsWaitingBuildsAtOnce) {
  auto c = config();
  c.limits.max_parallel = 1;
  make(c);
  runner.script("flox build", {{.takes = 1h}});
  enqueue("sm89-avx2");
  enqueue("sm90-avx2");
  clock.advance(1min);
  ASSERT_EQ(runner.running(), 1u);
  c.limits.max_parallel = 2;
  engine->reconfigure(c);
  clock.advance(1min);  // the second one's recipe commit
  EXPECT_EQ(runner.running(), 2u);
}

TEST(JobNames, EveryStateAndPhaseReadsBackAndOnlyEndsAreTerminal) {
  for (const auto& [state, name] : kJobStates.entries())
    EXPECT_EQ(kJobStates.parse(name), state);
  for (const auto& [phase, name] : kJobPhases.entries())
    EXPECT_EQ(kJobPhases.parse(name), phase);
  EXPECT_EQ(kJobStates.name(JobState::kCancelled), "cancelled");
  EXPECT_FALSE(is_terminal(JobState::kPublishing));
  EXPECT_TRUE(is_terminal(JobState::kCancelled));
}

TEST_F(EngineMachine, PublishingSettingsOfAReloadReachTheLane) {
  auto c = config();
  c.org = "other";
  c.signing_key = "/etc/tvd/key";
  engine->reconfigure(c);
  EXPECT_EQ(lane.settings().org, "other");
  EXPECT_EQ(lane.settings().signing_key, "/etc/tvd/key");
}

}  // namespace
}  // namespace tvd::service
