// The order of a batch's builds where memory binds. Starting builds in a fixed order, each as
// soon as it fits (first fit), leaves gaps that depend on the order; no simple rule (largest
// first, longest first, largest memory × time first) is near the best order on nights of builds
// of uneven size: 8–10 % over the lower bound, where a local search over the order is about 5 %
// (docs/BENCHMARKS.md). plan_order() is that search: pure, deterministic, bounded in work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "daemon/sched/estimator.h"

namespace tvd::sched {

struct PlanBuild {
  uint64_t memory = 0;  // its reservation (never more than the budget)
  Duration duration{};
  // The builds (indices into the same list) that must end before it starts, and the earliest it
  // can start otherwise (what it needs that is running already ends then).
  std::vector<size_t> after = {};
  Duration ready{};
};

struct PlanHost {
  uint64_t budget = 0;
  unsigned slots = 1;
  // What runs already: each build's reservation and how long it still runs.
  std::vector<PlanBuild> running;
};

// When the last of `builds` ends if they start in `order` (indices into builds), each as soon
// as a slot is free, what it needs has ended and it fits (first fit: a build that cannot start
// yet lets later ones by). `after` must not make a cycle.
Duration first_fit_makespan(const std::vector<PlanBuild>& builds, const std::vector<size_t>& order,
                            const PlanHost& host);

// An order of `builds` at least as short as `start` under first fit: swaps of two builds kept
// when the night gets no longer, from a fixed seed, within about `work` elementary steps (each
// evaluation costs about builds² of them). `start` itself unless the search found a shorter one.
inline constexpr uint64_t kPlanWork = 40'000'000;  // 20–30 ms on a 2-core VM of 2025
std::vector<size_t> plan_order(const std::vector<PlanBuild>& builds, std::vector<size_t> start,
                               const PlanHost& host, uint64_t work = kPlanWork);

// How many orders the search tries for `builds` builds beside `running` within `work`: 0 when
// fewer than 100 fit (a queue of more than about 600 builds, where a plan is not worth its time).
uint64_t plan_tries(size_t builds, size_t running, uint64_t work = kPlanWork);

}  // namespace tvd::sched
