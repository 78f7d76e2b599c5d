// The engine acts only on what the store recorded (recorder.h): a start of a build or of its
// publish that the store could not write waits, and runs once it is written; a command's jobs
// that its transaction could not record are withdrawn. A recipe commit changes no state of its
// queued job (and a commit made twice is one commit), so it needs no record first.
#include "daemon/service/engine_machine_fixture.h"

namespace tvd::service {
namespace {

TEST_F(EngineMachine, NothingStartsThatTheStoreCouldNotRecord) {
  runner.script("flox build", {built(sm89)});
  engine->hold();  // as a command does: recorded first, started at release
  JobId id = enqueue("sm89-avx2");
  store_takes = false;
  engine->release();
  clock.advance(10min);
  EXPECT_THAT(lane.asked(), ElementsAre("commit " + sm89));
  EXPECT_TRUE(runner.calls().empty());
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued));
  ASSERT_EQ(engine->waiting().size(), 1u);
  EXPECT_THAT(engine->waiting()[0].reason, HasSubstr("waiting until the store can record"));
  store_takes = true;
  run();
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued, JobState::kBuilding, JobState::kPublishing,
                                      JobState::kSucceeded));
  EXPECT_EQ(runner.count("flox build"), 1u);
  EXPECT_EQ(runner.count("flox publish"), 1u);
}

TEST_F(EngineMachine, ABuildWhoseStartIsNotRecordedDoesNotRunNorCountAsATry) {
  runner.script("flox build", {built(sm89)});
  refuses = [](const Job& j) { return j.phase == JobPhase::kBuild && !j.run; };
  JobId id = enqueue("sm89-avx2");
  clock.advance(1min);
  EXPECT_EQ(runner.count("flox build"), 0u);
  EXPECT_THAT(lane.asked(), ::testing::Contains("commit " + sm89));
  refuses = nullptr;
  run();
  EXPECT_EQ(runner.count("flox build"), 1u);
  EXPECT_EQ(last(id), JobState::kSucceeded);
  const Job& j = latest.at(id);
  EXPECT_EQ(j.build_tries, 1);
  ASSERT_EQ(j.attempts.size(), 2u);  // the build and the publish: no attempt that never ran
  EXPECT_EQ(j.attempts[0].phase, JobPhase::kBuild);
}

TEST_F(EngineMachine, APublishWaitsUntilItsStartIsRecordedAndRunsOnce) {
  runner.script("flox build", {built(sm89)});
  JobId id = enqueue("sm89-avx2");
  clock.advance(30min);  // building
  store_takes = false;
  clock.advance(1h);  // the build ended; its publish may not start
  EXPECT_EQ(runner.count("flox publish"), 0u);
  EXPECT_EQ(last(id), JobState::kBuilding);  // all the store knows
  store_takes = true;
  run();
  EXPECT_EQ(runner.count("flox publish"), 1u);
  EXPECT_EQ(last(id), JobState::kSucceeded);
  const Job& j = latest.at(id);
  EXPECT_EQ(j.publish_tries, 1);
  ASSERT_EQ(j.attempts.size(), 2u);
  EXPECT_EQ(j.attempts[1].phase, JobPhase::kPublish);
}

TEST_F(EngineMachine, AWithdrawnCommandLeavesNothingBehind) {
  runner.script("flox build", {built(sm89)});
  engine->hold();
  JobId id = enqueue("sm89-avx2");
  engine->withdraw({id});
  engine->release();
  clock.advance(1h);
  EXPECT_TRUE(runner.calls().empty());
  EXPECT_TRUE(engine->idle());
  EXPECT_EQ(engine->job(id), nullptr);
  // The variant is free to be queued again.
  auto again = engine->enqueue(resolve_specs(matrix, {"sm89-avx2"}, false).value(), {});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].created);
  run();
  EXPECT_EQ(runner.count("flox build"), 1u);
}

}  // namespace
}  // namespace tvd::service
