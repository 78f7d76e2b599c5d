// Builders in the engine: what the scheduler places a job by, why no builder can build a variant,
// and what a lost remote builder does: nothing goes there until `nix store ping` reaches it again,
// asked every backoff.
#include "daemon/config/setup.h"
#include "daemon/exec/child_env.h"
#include "daemon/service/engine.h"

namespace tvd::service {
namespace {

// A builder's name as a file name: "ssh-ng://arm" -> "ssh-ng___arm".
std::string file_name(std::string name) {
  for (char& c : name)
    if (c == '/' || c == ':' || c == '?' || c == '&') c = '_';
  return name;
}

}  // namespace

std::vector<sched::Builder> Engine::placements(const EngineConfig& c) {
  std::vector<sched::Builder> out;
  for (const auto& b : c.builders)
    out.push_back(b.placement);
  return out;
}

sched::JobSpec Engine::spec_of(const Job& j) const {
  sched::JobSpec s{j.key().text(), kind_of(j.variant), j.origin, j.priority, waits_for(j)};
  s.system = j.variant.isa->platform;
  s.features = {"big-parallel"};  // tvd's recipes require it (requiredSystemFeatures)
  return s;
}

std::optional<std::string> Engine::no_builder(const Variant& v) const {
  sched::JobSpec s;
  s.system = v.isa->platform;
  s.features = {"big-parallel"};
  for (const auto& b : sched_.builders())
    if (b.serves(s)) return std::nullopt;
  return no_builder_text(s.system);
}

const BuilderRun* Engine::builder_run(const std::string& name) const {
  for (const auto& b : config_.builders)
    if (b.placement.name == name) return &b;
  return nullptr;
}

void Engine::builder_lost(const BuilderRun& b) {
  sched_.set_reachable(b.placement.name, false);
  if (!probing_.insert(b.placement.name).second) return;  // probed already
  clock_.call_at(clock_.now() + config_.backoff, [this, name = b.placement.name] { probe(name); });
}

void Engine::probe(const std::string& name) {
  const BuilderRun* b = builder_run(name);
  if (!b) {  // no longer configured
    probing_.erase(name);
    return;
  }
  exec::RunSpec spec;
  spec.argv = {"nix",         "store",   "ping",      "--extra-experimental-features",
               "nix-command", "--store", b->store_uri};
  spec.env = exec::without_secrets(config_.child_env);
  spec.cwd = config_.log_dir;
  std::error_code ec;
  std::filesystem::create_directories(config_.log_dir / "builders", ec);
  spec.log = config_.log_dir / "builders" / (file_name(name) + ".log");
  spec.wall_timeout = std::chrono::seconds(60);
  runner_.start(std::move(spec), [this, name](const exec::RunResult& r) {
    if (r.succeeded()) {
      probing_.erase(name);
      sched_.set_reachable(name, true);
      pump();
      return;
    }
    clock_.call_at(clock_.now() + config_.backoff, [this, name] { probe(name); });
  });
}

}  // namespace tvd::service
