#include "daemon/service/host_config.h"

#include "daemon/exec/child_env.h"
#include "daemon/exec/host.h"
#include "daemon/sched/simulate.h"

namespace tvd::service {

sched::Limits limits_for(const Config& c) {
  sched::Limits l;
  if (c.scheduler.memory_budget) {
    l.memory_budget = *c.scheduler.memory_budget;
  } else {
    uint64_t total = 0;
    if (auto m = exec::read_meminfo()) total = m->total;
    if (auto cg = exec::read_cgroup_memory_limit(); cg && (total == 0 || *cg < total)) total = *cg;
    l.memory_budget = sched::auto_memory_budget(total);
  }
  l.max_parallel =
      c.scheduler.max_parallel.value_or(sched::auto_max_parallel(exec::online_cores()));
  l.min_free_disk = c.scheduler.min_free_disk;
  l.max_memory_pressure = c.scheduler.max_memory_pressure;
  return l;
}

sched::Measurements measure_host(const Config& c) {
  sched::Measurements m;
  m.memory_pressure = exec::read_memory_pressure();
  if (auto mem = exec::read_meminfo()) m.mem_available = mem->available;
  m.disks.push_back({kNixStore, exec::free_disk(kNixStore)});
  m.disks.push_back({c.state_dir.string(), exec::free_disk(c.state_dir)});
  return m;
}

std::vector<BuilderRun> builder_runs(const std::vector<BuilderSetup>& builders) {
  std::vector<BuilderRun> out;
  for (const auto& b : builders) {
    sched::Builder placement{b.name, b.systems, b.features, b.slots, b.budget, b.local, true};
    out.push_back({std::move(placement), b.local ? "" : b.nix_line,
                   b.local ? "" : b.nix_line.substr(0, b.nix_line.find(' '))});
  }
  return out;
}

EngineConfig engine_config(const Setup& setup, char** environ_vars) {
  EngineConfig e = engine_config(setup.config, environ_vars);
  e.builders = builder_runs(setup.builders);
  return e;
}

EngineConfig engine_config(const Config& c, char** environ_vars) {
  EngineConfig e;
  e.log_dir = c.state_dir / "logs";
  e.child_env = exec::child_environment(environ_vars);
  // flox's config: any option as FLOX_<NAME> (flox-config.md); a build farm's children report
  // no usage metrics unless the config asks for them.
  if (!c.flox_metrics) e.child_env["FLOX_DISABLE_METRICS"] = "true";
  e.publish = c.publish.enabled;
  e.publishing = {c.flox, c.publish.push, c.publish.org, c.publish.signing_key.value_or(""),
                  c.builds.publish_timeout};
  e.limits = limits_for(c);
  e.estimates.gpu_bytes = c.scheduler.memory_per_build_gpu;
  e.estimates.cpu_bytes = c.scheduler.memory_per_build_cpu;
  e.build_timeout = c.builds.timeout;
  e.silence_timeout = c.builds.silence_timeout;
  e.max_tries = c.builds.max_tries;
  e.backoff = c.builds.backoff;
  e.log_limit = c.builds.log_limit;
  e.keep_logs = c.logs.keep_attempts;
  return e;
}

flox::GitLaneConfig lane_config(const EngineConfig& c, const Environment& environment) {
  const std::string suffix = environment.name == kDefaultEnvironment ? "" : "-" + environment.name;
  flox::GitLaneConfig out;
  out.env_dir = environment.checkout;
  out.log_dir = c.log_dir / ("git" + suffix);
  out.child_env = c.child_env;
  out.publishing = c.publishing;
  out.worktrees = c.log_dir.parent_path() / ("publish" + suffix);
  out.made_commits = c.log_dir.parent_path() / ("made-commits" + suffix);
  return out;
}

}  // namespace tvd::service
