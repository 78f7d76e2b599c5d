#include "daemon/sched/estimator.h"

#include <gtest/gtest.h>

namespace tvd::sched {
namespace {

using std::chrono::hours;
constexpr uint64_t GiB = 1ull << 30;

TEST(Estimator, FallsBackFromVariantToKindToDefault) {
  Estimator e({.gpu_bytes = 48 * GiB, .cpu_bytes = 16 * GiB});
  auto d = e.estimate("a", BuildKind::kGpu);
  EXPECT_EQ(d.memory, 48 * GiB);
  EXPECT_EQ(d.memory_source, "default");
  EXPECT_EQ(d.duration, hours(3));

  e.record("a", BuildKind::kGpu, 60 * GiB, hours(4));
  e.record("b", BuildKind::kGpu, 80 * GiB, hours(2));
  auto a = e.estimate("a", BuildKind::kGpu);
  EXPECT_EQ(a.memory, 66 * GiB);  // 60 GiB + 10 %
  EXPECT_EQ(a.memory_source, "measured");
  EXPECT_EQ(a.duration, hours(4));
  auto c = e.estimate("c", BuildKind::kGpu);
  EXPECT_EQ(c.memory, 77 * GiB);  // the kind's average, 70 GiB, + 10 %
  EXPECT_EQ(c.memory_source, "kind average");
  EXPECT_EQ(c.duration, hours(3));
  EXPECT_EQ(e.estimate("x", BuildKind::kCpu).memory, 16 * GiB);
}

TEST(Estimator, PeaksDecaySlowlyAndRiseAtOnce) {
  Estimator e;
  e.record("a", BuildKind::kGpu, 100 * GiB, std::nullopt);
  e.record("a", BuildKind::kGpu, 50 * GiB, std::nullopt);
  // max(50, 90), plus the margin its spread asks: peaks that halve get the most, 25 %
  EXPECT_NEAR(static_cast<double>(e.estimate("a", BuildKind::kGpu).memory), 112.5 * GiB, 1 << 20);
  e.record("a", BuildKind::kGpu, 120 * GiB, std::nullopt);
  EXPECT_NEAR(static_cast<double>(e.estimate("a", BuildKind::kGpu).memory), 150.0 * GiB, 1 << 20);
}

// The margin is learned from how much a variant's peaks vary: the default 10 % with one peak,
// 2 % for a variant whose peaks hold steady, more for one whose peaks move.
TEST(Estimator, TheMarginFollowsHowMuchAVariantsPeaksVary) {
  Estimator e;
  e.record("steady", BuildKind::kGpu, 80 * GiB, std::nullopt);
  EXPECT_NEAR(static_cast<double>(e.estimate("steady", BuildKind::kGpu).memory), 88.0 * GiB,
              1 << 20);
  for (int i = 0; i < 3; ++i)
    e.record("steady", BuildKind::kGpu, 80 * GiB, std::nullopt);
  EXPECT_NEAR(static_cast<double>(e.estimate("steady", BuildKind::kGpu).memory), 81.6 * GiB,
              1 << 20);
  e.record("moving", BuildKind::kGpu, 80 * GiB, std::nullopt);
  e.record("moving", BuildKind::kGpu, 88 * GiB, std::nullopt);  // 9 % more: a 18 % margin
  EXPECT_NEAR(static_cast<double>(e.estimate("moving", BuildKind::kGpu).memory),
              88.0 * (1 + 2 * 8.0 / 88.0) * GiB, 1 << 20);
  // What was learned survives a restart: restored as it was kept.
  Estimator again;
  again.restore("steady", *e.learned("steady"));
  EXPECT_EQ(again.estimate("steady", BuildKind::kGpu).memory,
            e.estimate("steady", BuildKind::kGpu).memory);
}

TEST(Estimator, UnattributedPeaksTeachNothing) {
  Estimator e;
  e.record("a", BuildKind::kGpu, std::nullopt, hours(1));
  EXPECT_EQ(e.estimate("a", BuildKind::kGpu).memory_source, "default");
  EXPECT_EQ(e.estimate("a", BuildKind::kGpu).duration_source, "measured");
}

TEST(Estimator, TheOneRuleOfWhatAnEndedBuildTeaches) {
  using Ending = Estimator::Ending;
  Estimator e;
  // Killed for memory after using 40 GiB: it needs a quarter more, and the time says nothing.
  e.learn("a", BuildKind::kGpu, Ending::kOutOfMemory, 40 * GiB, hours(9));
  // 50 GiB + 10 %, rounded up to a MiB
  EXPECT_NEAR(static_cast<double>(e.estimate("a", BuildKind::kGpu).memory), 55.0 * GiB, 1 << 20);
  EXPECT_EQ(e.estimate("a", BuildKind::kGpu).duration_source, "default");
  // A success teaches both; a peak under 1 GiB (never saw the compilers) teaches nothing.
  e.learn("b", BuildKind::kCpu, Ending::kSucceeded, 512ull << 20, hours(2));
  EXPECT_EQ(e.estimate("b", BuildKind::kCpu).memory_source, "default");
  EXPECT_EQ(e.estimate("b", BuildKind::kCpu).duration, hours(2));
  // Any other ending teaches nothing.
  e.learn("c", BuildKind::kGpu, Ending::kOther, 90 * GiB, hours(1));
  EXPECT_EQ(e.estimate("c", BuildKind::kGpu).memory_source, "kind average");
  EXPECT_EQ(e.estimate("c", BuildKind::kGpu).duration_source, "default");
}

}  // namespace
}  // namespace tvd::sched
