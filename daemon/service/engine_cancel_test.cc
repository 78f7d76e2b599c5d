// The engine's state machine on fakes, continued: cancel in every state, what is forgotten,
// recovery after a crash, a reloaded config.
#include "daemon/service/engine_machine_fixture.h"

namespace tvd::service {
namespace {

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
  EXPECT_THAT(states[second], ElementsAre(JobState::kQueued, JobState::kCancelled));
  EXPECT_THAT(story(second),
              ElementsAre("queued ->queued recipe", "cancelled queued>cancelled recipe"));
  EXPECT_EQ(runner.count(sm90), 0u);
}

TEST_F(EngineMachine, CancelWhileBuildingStopsTheRunAndNeverRetries) {
  runner.script("flox build", {{.takes = 5h}});
  JobId id = enqueue("sm89-avx2");
  clock.advance(1h);
  ASSERT_EQ(runner.running(), 1u);
  ASSERT_TRUE(engine->cancel(id));
  run();
  EXPECT_THAT(states[id],
              ElementsAre(JobState::kQueued, JobState::kBuilding, JobState::kCancelled));
  EXPECT_THAT(story(id), ElementsAre("queued ->queued recipe", "started queued>building build",
                                     "cancelled building>cancelled build"));
  EXPECT_EQ(latest.at(id).attempts.back().failure, flox::Failure::kCancelled);
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
  // A cancel, and nothing else: never a failure on the way (it once went through "failed").
  // It never started building: its recipe commit reserved nothing and held no slot.
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued, JobState::kCancelled));
  EXPECT_THAT(story(id),
              ElementsAre("queued ->queued recipe", "cancelled queued>cancelled recipe"));
  EXPECT_EQ(latest.at(id).phase, JobPhase::kRecipe);
  EXPECT_EQ(latest.at(id).failure, flox::Failure::kNone);
  EXPECT_EQ(runner.count("flox build"), 0u);
}

TEST_F(EngineMachine, CancelDuringARecipeCommitThatFailsIsStillACancel) {
  lane.script_commit(cpu, {{.ok = false,
                            .transient = true,
                            .failure = flox::Failure::kNetwork,
                            .reason = "git push: could not resolve host"}});
  JobId id = enqueue("cpu-avx2");
  clock.advance(1s);
  ASSERT_TRUE(engine->cancel(id));
  run();
  // It never started building: its recipe commit reserved nothing and held no slot.
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued, JobState::kCancelled));
  EXPECT_THAT(story(id),
              ElementsAre("queued ->queued recipe", "cancelled queued>cancelled recipe"));
}

TEST_F(EngineMachine, CancelWhileWaitingToRetryEndsIt) {
  runner.script("flox build", {failed(kNetwork)});
  JobId id = enqueue("cpu-avx2");
  clock.advance(11min);  // failed at 10 min, waiting 2 min
  ASSERT_EQ(runner.running(), 0u);
  ASSERT_TRUE(engine->cancel(id));
  run();
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued, JobState::kBuilding, JobState::kQueued,
                                      JobState::kCancelled));
  EXPECT_THAT(story(id),
              ElementsAre("queued ->queued recipe", "started queued>building build",
                          "retrying building>queued build", "cancelled queued>cancelled build"));
  EXPECT_EQ(events[id][2].failure, flox::Failure::kNetwork);
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
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued, JobState::kBuilding, JobState::kPublishing,
                                      JobState::kCancelled));
  EXPECT_THAT(story(id), ElementsAre("queued ->queued recipe", "started queued>building build",
                                     "started building>publishing publish",
                                     "cancelled publishing>cancelled publish"));
  EXPECT_TRUE(runner.calls().back().cancelled);
  EXPECT_FALSE(latest.at(id).published);
}

TEST_F(EngineMachine, AnEndedJobIsForgottenAndOnlyEndedOnesAreRetried) {
  runner.script("flox build", {built(cpu, 1h)});
  JobId id = enqueue("cpu-avx2");
  auto early = engine->retry(latest.at(id));
  ASSERT_FALSE(early);
  EXPECT_THAT(early.error().message, HasSubstr("is queued: only failed or cancelled jobs"));
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

TEST_F(EngineMachine, TriesThatCrashesInterruptedDoNotCount) {
  Job twice;
  twice.id = 3;
  twice.variant = resolve_specs(matrix, {"cpu-avx2"}, false).value().at(0).variant;
  twice.package = cpu;
  twice.publish = true;
  twice.state = JobState::kBuilding;
  twice.build_tries = 2;  // both interrupted by crashes of tvd
  for (int n : {1, 2}) {
    Attempt a;
    a.number = n;
    a.phase = JobPhase::kBuild;
    a.interrupted = true;
    twice.attempts.push_back(a);
  }
  runner.script("flox build", {failed(kNetwork)});
  engine->restore({twice});
  run();
  // All three tries are still the build's own.
  EXPECT_EQ(runner.count("flox build"), 3u);
  EXPECT_EQ(last(3), JobState::kFailed);
  EXPECT_EQ(latest.at(3).failure, flox::Failure::kNetwork);
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

TEST_F(EngineMachine, PublishingSettingsOfAReloadReachTheLane) {
  auto c = config();
  c.publishing.org = "other";
  c.publishing.signing_key = "/etc/tvd/key";
  c.publishing.timeout = std::chrono::minutes(5);  // builds.publish_timeout (applied late before)
  engine->reconfigure(c);
  EXPECT_EQ(lane.settings().org, "other");
  EXPECT_EQ(lane.settings().signing_key, "/etc/tvd/key");
  EXPECT_EQ(lane.settings().timeout, std::chrono::minutes(5));
}

}  // namespace
}  // namespace tvd::service
