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
  AttemptStats s;
  s.observe("build", "succeeded", "", 3 * 3600);
  s.observe("build", "failed", "oom", 600);
  s.observe("build", "failed", "oom", 700);
  s.observe("publish", "failed", "network", 30);
  s.observe("recipe", "failed", "", 1);
  s.observe("build", "interrupted", "", 100);  // neither a duration nor a failure
  ASSERT_EQ(s.build_durations().size(), 2u);
  EXPECT_EQ(s.build_durations().at("succeeded").count, 1u);
  EXPECT_EQ(s.build_durations().at("failed").count, 2u);
  EXPECT_EQ(s.publish_durations().at("failed").count, 1u);
  EXPECT_EQ(s.failures().at({"build", "oom"}), 2u);
  EXPECT_EQ(s.failures().at({"publish", "network"}), 1u);
  EXPECT_EQ(s.failures().at({"recipe", "unknown"}), 1u);
  EXPECT_EQ(s.failures().size(), 3u);
  // Negative durations (a clock step) count as zero.
  s.observe("build", "succeeded", "", -5);
  EXPECT_EQ(s.build_durations().at("succeeded").counts[0], 1u);
}

}  // namespace
}  // namespace tvd::service
