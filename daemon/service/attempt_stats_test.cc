#include "daemon/service/attempt_stats.h"

#include <gtest/gtest.h>

namespace tvd::service {
namespace {

TEST(Histogram, CountsEachValueInTheFirstBucketThatHoldsIt) {
  Histogram h({10, 60});
  for (double v : {0.0, 10.0, 11.0, 60.0, 61.0, 5000.0})
    h.observe(v);
  EXPECT_EQ(h.counts, (std::vector<uint64_t>{2, 2, 2}));  // le=10, le=60, +Inf
  EXPECT_EQ(h.count, 6u);
  EXPECT_DOUBLE_EQ(h.sum, 5142.0);
}

TEST(AttemptStats, BuildsAndPublishesByOutcomeAndFailuresByPhaseAndClass) {
  using proto::AttemptOutcome;
  using proto::Failure;
  using proto::JobPhase;
  AttemptStats s;
  s.observe(JobPhase::kBuild, AttemptOutcome::kSucceeded, Failure::kNone, 3 * 3600);
  s.observe(JobPhase::kBuild, AttemptOutcome::kFailed, Failure::kOutOfMemory, 600);
  s.observe(JobPhase::kBuild, AttemptOutcome::kFailed, Failure::kOutOfMemory, 700);
  s.observe(JobPhase::kPublish, AttemptOutcome::kFailed, Failure::kNetwork, 30);
  s.observe(JobPhase::kRecipe, AttemptOutcome::kFailed, Failure::kNone, 1);
  // Neither a duration nor a failure:
  s.observe(JobPhase::kBuild, AttemptOutcome::kInterrupted, Failure::kNone, 100);
  s.observe(JobPhase::kBuild, AttemptOutcome::kCancelled, Failure::kNone, 100);
  ASSERT_EQ(s.build_durations().size(), 2u);
  EXPECT_EQ(s.build_durations().at(AttemptOutcome::kSucceeded).count, 1u);
  EXPECT_EQ(s.build_durations().at(AttemptOutcome::kFailed).count, 2u);
  EXPECT_EQ(s.publish_durations().at(AttemptOutcome::kFailed).count, 1u);
  EXPECT_EQ(s.failures().at({JobPhase::kBuild, Failure::kOutOfMemory}), 2u);
  EXPECT_EQ(s.failures().at({JobPhase::kPublish, Failure::kNetwork}), 1u);
  EXPECT_EQ(s.failures().at({JobPhase::kRecipe, Failure::kUnknown}), 1u);
  EXPECT_EQ(s.failures().size(), 3u);
  // Negative durations (a clock step) count as zero.
  s.observe(JobPhase::kBuild, AttemptOutcome::kSucceeded, Failure::kNone, -5);
  EXPECT_EQ(s.build_durations().at(AttemptOutcome::kSucceeded).counts[0], 1u);
}

}  // namespace
}  // namespace tvd::service
