// A night on a virtual clock: the real Scheduler against a workload, for comparing policies.
// Pure: no processes, no real time.
#pragma once

#include <string>
#include <vector>

#include "daemon/base/result.h"
#include "daemon/sched/scheduler.h"

namespace tvd::sched {

struct WorkItem {
  std::string variant;
  BuildKind kind = BuildKind::kGpu;
  uint64_t peak = 0;        // bytes the build really uses at its peak
  Duration duration{};      // how long it really takes
  std::string after = {};   // the variant whose build it needs first (its torch's); empty: none
  std::string system = {};  // the platform it builds for; empty: any builder builds it
};

// A machine of a simulated farm: its platforms, memory and cores (budget and slots are derived
// as the daemon derives the host's: auto_memory_budget, auto_max_parallel).
struct SimBuilder {
  std::string name;
  std::vector<std::string> systems;
  uint64_t memory = 256ull << 30;
  unsigned cores = 64;
};

struct Host {
  uint64_t memory = 256ull << 30;
  unsigned cores = 64;
};

// The recipes' MAX_JOBS: cores one build keeps busy.
inline constexpr unsigned kCoresPerBuild = 32;

// "auto" settings, as the daemon derives them from the host.
uint64_t auto_memory_budget(uint64_t mem_total);  // less max(4 GiB, 5 %)
unsigned auto_max_parallel(unsigned cores);       // max(1, cores / 32)

struct PolicyResult {
  std::string name;
  Duration makespan{};
  // A true lower bound of this policy's night under the simulation's rules (checked against the
  // optimum of small instances, simulate_test.cc): the max of the three below, for this policy.
  Duration lower_bound{};
  Duration longest_job{};   // the longest chain: a build and what it waits for, end to end
  Duration memory_bound{};  // sum of min(peak, budget) x duration / budget: a build larger than
                            // the budget runs alone, holding all of it. 0 for a policy that does
                            // not keep to the budget (fifo-2, serial): it does not bind them
  Duration slot_bound{};    // sum of durations / the policy's max_parallel
  // The host's cores: sum of min(32, cores) x duration / cores. Not part of the bound: the
  // simulation does not slow builds that share cores, so above cores / 32 builds at once its
  // night is shorter than a real one would be, and this says by how much at least.
  Duration cpu_bound{};
  uint64_t peak_reserved = 0;
  uint64_t budget = 0;
  unsigned max_parallel = 0;
  Duration
      idle{};  // budget left unreserved, as time: (budget x makespan - reserved x time) / budget
  bool over_budget = false;
  size_t builds = 0;       // the night's builds this policy ran
  size_t unbuildable = 0;  // builds no builder of the farm builds (their platform), left out
};

struct SimulationOptions {
  Host host;
  std::optional<unsigned> max_parallel =
      std::nullopt;                               // tvd's; default auto_max_parallel(host.cores)
  std::optional<uint64_t> budget = std::nullopt;  // default auto_memory_budget(host.memory)
  // A farm instead of the one host: tvd's policy alone, each build on a builder of its platform.
  std::vector<SimBuilder> builders = {};
};

// tvd's policy, first-in-first-out with two slots and no memory awareness ("fifo-2"), and one
// build at a time ("serial"). The scheduler knows each build's figures as history.
std::vector<PolicyResult> simulate(const std::vector<WorkItem>& work, const SimulationOptions& o);

// The default night: the seed's 60 variant names (54 GPU, 6 CPU) with figures drawn from fixed
// seeds in realistic ranges: GPU builds 2.5-4.5 h and 40-90 GiB, CPU builds 1.5-2.5 h and
// 16-32 GiB.
std::vector<WorkItem> default_night(const std::vector<std::pair<std::string, BuildKind>>& variants);

// A cell of a night of several products: `torch` names the cell whose build gives its torch (a
// paired TorchVision cell's PyTorch cell, listed too); empty for the others.
struct NightCell {
  std::string variant;
  BuildKind kind = BuildKind::kGpu;
  std::string torch = {};
  std::string system = {};  // its platform
};
// The same night two ways, with the same figures: `once`, each paired cell waits for its torch's
// build and then builds only itself (GPU 15-40 min and 8-20 GiB, CPU 10-20 min and 4-8 GiB);
// `today`, each paired cell compiles its own torch inside its build (the torch's figures plus its
// own, the larger peak), as every TorchVision recipe does without tvd's pairing. The unpaired
// cells' figures are default_night()'s.
struct PairedNights {
  std::vector<WorkItem> once;
  std::vector<WorkItem> today;
};
PairedNights default_nights(const std::vector<NightCell>& cells);

// A profile: [{"variant": "...", "kind": "gpu"|"cpu", "peak": "64GiB", "duration": "3h",
// "after": "<another variant of the profile>", "system": "aarch64-linux" (both optional)}, ...]
Result<std::vector<WorkItem>> parse_profile(std::string_view json_text, std::string_view origin);

// A farm: [{"name": "x86-1", "systems": ["x86_64-linux"], "memory": "256GiB", "cores": 64}, ...]
Result<std::vector<SimBuilder>> parse_builders(std::string_view json_text, std::string_view origin);

}  // namespace tvd::sched
