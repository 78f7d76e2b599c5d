#include "daemon/sched/batch_plan.h"

#include <algorithm>
#include <queue>
#include <random>

namespace tvd::sched {

Duration first_fit_makespan(const std::vector<PlanBuild>& builds, const std::vector<size_t>& order,
                            const PlanHost& host) {
  constexpr size_t kRunning = ~size_t{0};  // a build that runs already
  struct End {
    Duration when;
    uint64_t memory;
    size_t build;
    bool operator>(const End& o) const { return when > o.when; }
  };
  std::priority_queue<End, std::vector<End>, std::greater<>> ends;
  uint64_t reserved = 0;
  for (const auto& r : host.running) {
    ends.push({r.duration, r.memory, kRunning});
    reserved += r.memory;
  }
  // Most nights have no chains: then nothing below asks what ended.
  const bool chained = std::any_of(builds.begin(), builds.end(), [](const PlanBuild& b) {
    return !b.after.empty() || b.ready > Duration{};
  });
  std::vector<char> ended(chained ? builds.size() : 0, 0);
  auto can_start = [&](const PlanBuild& b, Duration now) {
    if (b.ready > now) return false;
    for (size_t need : b.after)
      if (!ended[need]) return false;
    return true;
  };
  std::vector<size_t> waiting = order;
  Duration now{}, last{};
  while (!waiting.empty() || !ends.empty()) {
    size_t kept = 0;
    Duration next_ready = Duration::max();
    for (size_t k = 0; k < waiting.size(); ++k) {
      const PlanBuild& b = builds[waiting[k]];
      if (ends.size() < host.slots && reserved + b.memory <= host.budget &&
          (!chained || can_start(b, now))) {
        ends.push({now + b.duration, b.memory, waiting[k]});
        reserved += b.memory;
      } else {
        if (b.ready > now) next_ready = std::min(next_ready, b.ready);
        waiting[kept++] = waiting[k];
      }
    }
    waiting.resize(kept);
    if (ends.empty()) {
      // Nothing runs: the next start is the earliest a waiting build becomes ready. Nothing
      // ready and nothing running cannot happen within the budget and without cycles.
      if (next_ready == Duration::max()) break;
      now = next_ready;
      continue;
    }
    if (next_ready < ends.top().when) {
      now = next_ready;
      continue;
    }
    now = ends.top().when;
    last = std::max(last, now);
    reserved -= ends.top().memory;
    if (chained && ends.top().build != kRunning) ended[ends.top().build] = 1;
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
