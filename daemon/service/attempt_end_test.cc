// The one decision that follows every attempt's end, for every phase and ending.
#include "daemon/service/attempt_end.h"

#include <gtest/gtest.h>

namespace tvd::service {
namespace {

using namespace std::chrono_literals;
using flox::Failure;
using proto::JobPhase;
using proto::JobState;
using Step = AfterAttempt::Step;

const RetryPolicy kPolicy{3, 2min};

AttemptEnd ok(JobPhase p) {
  return {p, Failure::kNone, false, ""};
}
AttemptEnd failed(JobPhase p, Failure f, bool transient) {
  return {p, f, transient, std::string(flox::to_string(f)) + " happened"};
}

TEST(AfterAttempt, ASuccessLeadsToTheNextPhaseOrTheEnd) {
  auto recipe = after_attempt(ok(JobPhase::kRecipe), 1, false, true, kPolicy);
  EXPECT_EQ(recipe.step, Step::kNextPhase);
  EXPECT_EQ(recipe.next, JobPhase::kBuild);
  auto build = after_attempt(ok(JobPhase::kBuild), 1, false, true, kPolicy);
  EXPECT_EQ(build.step, Step::kNextPhase);
  EXPECT_EQ(build.next, JobPhase::kPublish);
  auto unpublished = after_attempt(ok(JobPhase::kBuild), 1, false, false, kPolicy);
  EXPECT_EQ(unpublished.step, Step::kEnd);
  EXPECT_EQ(unpublished.ends, JobState::kSucceeded);
  auto publish = after_attempt(ok(JobPhase::kPublish), 1, false, true, kPolicy);
  EXPECT_EQ(publish.step, Step::kEnd);
  EXPECT_EQ(publish.ends, JobState::kSucceeded);
}

TEST(AfterAttempt, ACancelIsACancelInEveryPhaseHoweverTheAttemptEnded) {
  for (auto phase : {JobPhase::kRecipe, JobPhase::kBuild, JobPhase::kPublish}) {
    for (const auto& e :
         {ok(phase), failed(phase, Failure::kNetwork, true),
          failed(phase, Failure::kBuildError, false), failed(phase, Failure::kTimeout, true)}) {
      auto a = after_attempt(e, 1, /*cancel_requested=*/true, true, kPolicy);
      EXPECT_EQ(a.step, Step::kEnd) << proto::kJobPhases.name(phase);
      EXPECT_EQ(a.ends, JobState::kCancelled) << proto::kJobPhases.name(phase);
      EXPECT_FALSE(a.still_failing);
    }
    // A run that was stopped (the runner's own cancel) is a cancel too.
    auto stopped =
        after_attempt(failed(phase, Failure::kCancelled, false), 1, false, true, kPolicy);
    EXPECT_EQ(stopped.ends, JobState::kCancelled);
  }
}

TEST(AfterAttempt, ATransientFailureWaitsTwiceAsLongEachTryUpToTheLimit) {
  for (auto phase : {JobPhase::kRecipe, JobPhase::kBuild, JobPhase::kPublish}) {
    auto first = after_attempt(failed(phase, Failure::kNetwork, true), 1, false, true, kPolicy);
    EXPECT_EQ(first.step, Step::kRetry);
    EXPECT_EQ(first.wait, 2min);
    auto second = after_attempt(failed(phase, Failure::kNetwork, true), 2, false, true, kPolicy);
    EXPECT_EQ(second.step, Step::kRetry);
    EXPECT_EQ(second.wait, 4min);
    auto last = after_attempt(failed(phase, Failure::kNetwork, true), 3, false, true, kPolicy);
    EXPECT_EQ(last.step, Step::kEnd);
    EXPECT_EQ(last.ends, JobState::kFailed);
  }
  EXPECT_EQ(
      after_attempt(failed(JobPhase::kBuild, Failure::kTimeout, true), 1, false, true, kPolicy)
          .waiting,
      "timeout; try 2 of 3");
  EXPECT_EQ(
      after_attempt(failed(JobPhase::kRecipe, Failure::kNetwork, true), 2, false, true, kPolicy)
          .waiting,
      "recipe: network happened; try 3 of 3");
}

TEST(AfterAttempt, APermanentFailureEndsAtOnceAndOnlyTheRecipesOwnStaysFailing) {
  auto build_error =
      after_attempt(failed(JobPhase::kBuild, Failure::kBuildError, false), 1, false, true, kPolicy);
  EXPECT_EQ(build_error.step, Step::kEnd);
  EXPECT_EQ(build_error.ends, JobState::kFailed);
  EXPECT_TRUE(build_error.still_failing);
  EXPECT_TRUE(
      after_attempt(failed(JobPhase::kBuild, Failure::kEvaluation, false), 1, false, true, kPolicy)
          .still_failing);
  // The host's fault, or a phase that is not the build: the next batch tries again.
  EXPECT_FALSE(after_attempt(failed(JobPhase::kBuild, Failure::kStartFailure, false), 1, false,
                             true, kPolicy)
                   .still_failing);
  EXPECT_FALSE(after_attempt(failed(JobPhase::kPublish, Failure::kPublishPrecondition, false), 1,
                             false, true, kPolicy)
                   .still_failing);
  EXPECT_FALSE(
      after_attempt(failed(JobPhase::kRecipe, Failure::kEvaluation, false), 1, false, true, kPolicy)
          .still_failing);
}

}  // namespace
}  // namespace tvd::service
