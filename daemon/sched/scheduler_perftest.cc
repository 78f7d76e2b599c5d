// Decision time with a long queue (target: well under a millisecond per decision).
//   build/release/daemon/scheduler_perftest
#include <benchmark/benchmark.h>

#include "daemon/sched/batch_plan.h"
#include "daemon/sched/scheduler.h"

namespace tvd::sched {
namespace {

constexpr uint64_t GiB = 1ull << 30;

// `n` queued jobs with learned estimates, a host whose memory is full: each decision must look at
// the whole queue (for backfill candidates) and start nothing.
struct Loaded {
  Estimator est;
  Scheduler s{{.memory_budget = 256 * GiB, .max_parallel = 8}, &est};
  Measurements m{
      .memory_pressure = 1.0, .mem_available = 100 * GiB, .disks = {{"/nix", 900 * GiB}}};
  explicit Loaded(int n) {
    for (int i = 0; i < n; ++i) {
      std::string v = "torchvision-python313-cuda12_8-v" + std::to_string(i);
      est.record(v, BuildKind::kGpu, (40 + i % 50) * GiB, std::chrono::minutes(150 + i % 120));
      s.enqueue({v, BuildKind::kGpu, i % 3 ? Origin::kBatch : Origin::kInteractive, i % 4});
    }
    s.next(TimePoint{}, m);  // fill the budget
  }
};

void BM_NextWithFullHost(benchmark::State& state) {
  Loaded l(static_cast<int>(state.range(0)));
  TimePoint now{};
  for (auto _ : state) {
    now += std::chrono::seconds(1);
    benchmark::DoNotOptimize(l.s.next(now, l.m));
  }
}
BENCHMARK(BM_NextWithFullHost)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// The cycle a build host lives: a build ends, another variant is enqueued, and the scheduler
// decides what starts.
void BM_FinishEnqueueDecide(benchmark::State& state) {
  Loaded l(static_cast<int>(state.range(0)));
  TimePoint now{};
  int n = 0;
  for (auto _ : state) {
    now += std::chrono::seconds(1);
    auto running = l.s.running();
    l.s.finished(running.front().id);
    l.s.enqueue({"extra" + std::to_string(n++), BuildKind::kCpu, Origin::kBatch, 0});
    benchmark::DoNotOptimize(l.s.next(now, l.m));
  }
}
BENCHMARK(BM_FinishEnqueueDecide)->Arg(10000)->Unit(benchmark::kMicrosecond);

// `status`: every waiting job with its reason.
void BM_WaitingReasons(benchmark::State& state) {
  Loaded l(static_cast<int>(state.range(0)));
  for (auto _ : state)
    benchmark::DoNotOptimize(l.s.waiting(TimePoint{}, l.m));
}
BENCHMARK(BM_WaitingReasons)->Arg(10000)->Unit(benchmark::kMillisecond);

// The batch plan (batch_plan.h): `n` batch builds of 40–90 GiB and 2.5–4.5 h on 8 slots and
// 243 GiB, the search from largest memory × time first. Once per batch enqueued (or requeued).
void BM_PlanBatch(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<PlanBuild> builds;
  for (size_t i = 0; i < n; ++i) {
    builds.push_back({(40 + (i * 37) % 51) * GiB, std::chrono::minutes(150 + (i * 53) % 121)});
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  const PlanHost host{.budget = 243 * GiB, .slots = 8, .running = {}};
  for (auto _ : state)
    benchmark::DoNotOptimize(plan_order(builds, order, host));
  state.counters["tries"] = static_cast<double>(plan_tries(n, 0));
}
BENCHMARK(BM_PlanBatch)->Arg(60)->Arg(200)->Arg(600)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tvd::sched

BENCHMARK_MAIN();
