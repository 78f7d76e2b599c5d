#include "daemon/sched/batch_plan.h"

#include <algorithm>
#include <queue>
#include <random>

namespace tvd::sched {

Duration first_fit_makespan(const std::vector<PlanBuild>& builds, const std::vector<size_t>& order,
                            const PlanHost& host) {
  using End = std::pair<Duration, uint64_t>;  // (when, reservation)
  std::priority_queue<End, std::vector<End>, std::greater<>> ends;
  uint64_t reserved = 0;
  for (const auto& r : host.running) {
    ends.push({r.duration, r.memory});
    reserved += r.memory;
  }
  std::vector<size_t> waiting = order;
  Duration now{}, last{};
  while (!waiting.empty() || !ends.empty()) {
    size_t kept = 0;
    for (size_t k = 0; k < waiting.size(); ++k) {
      const PlanBuild& b = builds[waiting[k]];
      if (ends.size() < host.slots && reserved + b.memory <= host.budget) {
        ends.push({now + b.duration, b.memory});
        reserved += b.memory;
      } else {
        waiting[kept++] = waiting[k];
      }
    }
    waiting.resize(kept);
    if (ends.empty()) break;  // nothing runs and nothing fits: cannot happen within the budget
    now = ends.top().first;
    last = std::max(last, now);
    reserved -= ends.top().second;
    ends.pop();
  }
  return last;
}

uint64_t plan_tries(size_t builds, size_t running, uint64_t work) {
  if (builds < 2) return 0;
  const uint64_t per_try = static_cast<uint64_t>(builds) * builds + running + 1;
  const uint64_t tries = std::min<uint64_t>(6000, work / per_try);
  return tries < 100 ? 0 : tries;
}

std::vector<size_t> plan_order(const std::vector<PlanBuild>& builds, std::vector<size_t> start,
                               const PlanHost& host, uint64_t work) {
  const size_t n = start.size();
  const uint64_t tries = plan_tries(n, host.running.size(), work);
  if (tries == 0) return start;
  std::mt19937 rng(n);  // fixed: the same night gets the same plan
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  const std::vector<size_t> given = start;
  const Duration first = first_fit_makespan(builds, start, host);
  Duration best = first;
  for (uint64_t t = 0; t < tries; ++t) {
    const size_t a = pick(rng), b = pick(rng);
    if (a == b) continue;
    std::swap(start[a], start[b]);
    const Duration m = first_fit_makespan(builds, start, host);
    if (m <= best) {
      best = m;  // equal is kept too: it walks across plateaus
    } else {
      std::swap(start[a], start[b]);
    }
  }
  // An order no shorter than the one given is not worth its surprise: the given one stays.
  return best < first ? start : given;
}

}  // namespace tvd::sched
