#include "daemon/sched/batch_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace tvd::sched {
namespace {

using std::chrono::hours;

TEST(FirstFit, ABuildThatDoesNotFitLetsLaterOnesBy) {
  const std::vector<PlanBuild> b = {{60, hours(1)}, {60, hours(1)}, {40, hours(1)}, {40, hours(1)}};
  const PlanHost host{.budget = 100, .slots = 8, .running = {}};
  // 60 and 40 together, twice.
  EXPECT_EQ(first_fit_makespan(b, {0, 1, 2, 3}, host), hours(2));
  // The two 40s first leave 20 beside them: each 60 then runs alone.
  EXPECT_EQ(first_fit_makespan(b, {2, 3, 0, 1}, host), hours(3));
}

TEST(FirstFit, RunningBuildsHoldTheirMemoryAndSlotsUntilTheyEnd) {
  const std::vector<PlanBuild> b = {{60, hours(1)}, {10, hours(1)}};
  EXPECT_EQ(first_fit_makespan(b, {0, 1}, {.budget = 100, .slots = 8, .running = {{50, hours(2)}}}),
            hours(3));
  EXPECT_EQ(first_fit_makespan(b, {0, 1}, {.budget = 100, .slots = 1, .running = {{5, hours(2)}}}),
            hours(4));
}

// A build never starts before what it needs has ended, nor before it is ready; first fit lets
// others by meanwhile.
TEST(FirstFit, ABuildWaitsForWhatItNeeds) {
  using std::chrono::minutes;
  // 0: torch 3 h; 1: vision 20 min after it; 2: another 3 h 10 min. Two slots, memory ample.
  const std::vector<PlanBuild> b = {
      {10, hours(3)}, {10, minutes(20), {0}}, {10, hours(3) + minutes(10)}};
  const PlanHost host{.budget = 100, .slots = 2, .running = {}};
  EXPECT_EQ(first_fit_makespan(b, {0, 1, 2}, host), hours(3) + minutes(20));
  // The vision first in the order changes nothing: it cannot start before the torch ends.
  EXPECT_EQ(first_fit_makespan(b, {1, 0, 2}, host), hours(3) + minutes(20));
  // One slot: 3 h, then whichever comes first; the sum either way.
  EXPECT_EQ(first_fit_makespan(b, {1, 2, 0}, {.budget = 100, .slots = 1, .running = {}}),
            hours(6) + minutes(30));
  // Ready only in 5 h (what it needs runs already): nothing else to do, the night waits for it.
  const std::vector<PlanBuild> late = {{10, hours(1), {}, hours(5)}};
  EXPECT_EQ(first_fit_makespan(late, {0}, host), hours(6));
}

// The search keeps chains whole: on nights of torch → vision pairs it never produces an order
// whose first-fit night is longer than the one it was given, and every build still ends.
TEST(PlanOrder, NightsOfPairsArePlannedWithTheirChains) {
  using std::chrono::minutes;
  std::mt19937 rng(25);
  std::uniform_int_distribution<int> mem(40, 90), h(150, 270), m(15, 40);
  std::vector<PlanBuild> b;
  for (size_t i = 0; i < 20; ++i) {
    b.push_back({static_cast<uint64_t>(mem(rng)), minutes(h(rng))});
    b.push_back({static_cast<uint64_t>(m(rng) / 2), minutes(m(rng)), {2 * i}});
  }
  std::vector<size_t> order(b.size());
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end());  // every vision before its torch
  const PlanHost host{.budget = 243, .slots = 8, .running = {}};
  const Duration given = first_fit_makespan(b, order, host);
  const Duration planned = first_fit_makespan(b, plan_order(b, order, host), host);
  EXPECT_LE(planned, given);
  Duration work{};
  for (const auto& x : b)
    work += x.duration;
  EXPECT_GE(planned * 8, work);  // every build ran within the night
}

// On small nights the search finds the best order there is, checked against every order.
TEST(PlanOrder, FindsTheBestOrderOfSmallNights) {
  std::mt19937 rng(14);
  std::uniform_int_distribution<int> mem(20, 70), h(1, 5);
  int best_found = 0;
  for (int night = 0; night < 30; ++night) {
    std::vector<PlanBuild> b;
    for (int i = 0; i < 6; ++i)
      b.push_back({static_cast<uint64_t>(mem(rng)), hours(h(rng))});
    const PlanHost host{.budget = 100, .slots = 3, .running = {}};
    std::vector<size_t> order(b.size());
    std::iota(order.begin(), order.end(), 0);
    const Duration start = first_fit_makespan(b, order, host);
    const Duration planned = first_fit_makespan(b, plan_order(b, order, host), host);
    Duration best = start;
    do {
      best = std::min(best, first_fit_makespan(b, order, host));
    } while (std::next_permutation(order.begin(), order.end()));
    EXPECT_LE(planned, start) << "night " << night;
    EXPECT_GE(planned, best) << "night " << night;
    best_found += planned == best;
  }
  EXPECT_EQ(best_found, 30);
}

TEST(PlanOrder, TheSameNightGetsTheSamePlanAndTheWorkIsBounded) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> mem(40, 90), h(2, 5);
  std::vector<PlanBuild> b;
  for (int i = 0; i < 60; ++i)
    b.push_back({static_cast<uint64_t>(mem(rng)), hours(h(rng))});
  std::vector<size_t> order(b.size());
  std::iota(order.begin(), order.end(), 0);
  const PlanHost host{.budget = 243, .slots = 8, .running = {}};
  EXPECT_EQ(plan_order(b, order, host), plan_order(b, order, host));
  // No work allowed: the order it was given.
  EXPECT_EQ(plan_order(b, order, host, 0), order);
}

}  // namespace
}  // namespace tvd::sched
