// From the configuration and the host to what the engine runs with: "auto" settings resolved
// from this machine, the live measurements for the scheduler's gates, and the engine's config.
#pragma once

#include "daemon/config/config.h"
#include "daemon/config/setup.h"
#include "daemon/sched/scheduler.h"
#include "daemon/service/engine.h"

namespace tvd::service {

// The Nix store as the disk gate sees it.
inline constexpr const char* kNixStore = "/nix/store";

// memory_budget "auto": the smaller of MemTotal and the cgroup's memory.max, less
// max(4 GiB, 5 %); max_parallel "auto": max(1, cores / 32), as the recipes' MAX_JOBS=32.
sched::Limits limits_for(const Config& c);

// Memory pressure, MemAvailable, and free space on the Nix store and the state directory.
sched::Measurements measure_host(const Config& c);

EngineConfig engine_config(const Config& c, char** environ_vars);
// With the setup's builders (the local host, and the remote machines with a budget).
EngineConfig engine_config(const Setup& setup, char** environ_vars);
std::vector<BuilderRun> builder_runs(const std::vector<BuilderSetup>& builders);

}  // namespace tvd::service
