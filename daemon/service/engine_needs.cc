// What a paired job needs: the build of its torch environment's cell (Engine::needs), waited
// for in the scheduler, and what happens to the jobs that wait when that build fails.
#include "daemon/base/file.h"
#include "daemon/base/hash.h"
#include "daemon/service/engine.h"

namespace tvd::service {

std::optional<Variant> Engine::needs(const Variant& v) const {
  auto it = sources_.find(v.environment->name);
  if (it == sources_.end() || !it->second.env.torch || !it->second.env.torch->matrix) {
    return std::nullopt;
  }
  return it->second.env.torch->matrix->counterpart(v);
}

std::string Engine::recipe_hash(const Variant& v) const {
  auto text = read_file(v.environment->checkout / ".flox" / "pkgs" / (v.package() + ".nix"));
  return text ? stable_hash(*text) : "";
}

std::map<JobId, std::string> Engine::waits_for(const Job& j) const {
  auto need = needs(j.variant);
  if (!need) return {};
  auto it = active_.find(need->key());
  if (it == active_.end()) return {};
  auto job = jobs_.find(it->second);
  if (job == jobs_.end() || job->second.built) return {};
  return {{it->second, need->key().text()}};
}

bool Engine::needed_by_others(const VariantKey& key) const {
  for (const auto& [name, source] : sources_)
    if (source.env.torch && source.env.torch->environment == key.environment) return true;
  return false;
}

std::string Engine::dependency_reason(const Variant& needed, JobId id, const std::string& why) {
  return "its torch, " + needed.key().text() + " (job " + std::to_string(id) + "), " + why +
         "; 'tvctl retry " + std::to_string(id) + "' builds it and then this one";
}

void Engine::end_dependents(const Job& needed) {
  // Only a torch environment's jobs are needed by others.
  if (!needed_by_others(needed.key())) return;
  const std::string why =
      needed.state == JobState::kCancelled ? "was cancelled" : "failed: " + needed.error;
  needed_failed_[needed.key()] = {needed.id, why};
  for (JobId id : sched_.dependents(needed.id)) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || is_terminal(it->second.state)) continue;
    sched_.cancel(id);
    Job& d = it->second;
    fail(d, JobPhase::kBuild, flox::Failure::kDependency,
         dependency_reason(needed.variant, needed.id, why));
    ended_dependents_[needed.id].push_back(d);
  }
}

bool Engine::ended_with_its_need(Job& j) {
  auto need = needs(j.variant);
  if (!need || active_.count(need->key())) return false;
  // What it needs ended unbuilt meanwhile (and was not built since): it ends too.
  auto f = needed_failed_.find(need->key());
  auto b = built_recipe_.find(need->key());
  if (f == needed_failed_.end() || (b != built_recipe_.end() && b->second == recipe_hash(*need))) {
    return false;
  }
  fail(j, JobPhase::kBuild, flox::Failure::kDependency,
       dependency_reason(*need, f->second.first, f->second.second));
  ended_dependents_[f->second.first].push_back(j);
  return true;
}

void Engine::built(const Job& j) {
  // Jobs that need this build may start; a later dependent's enqueue knows it is built.
  sched_.built(j.id);
  needed_failed_.erase(j.key());
  if (needed_by_others(j.key())) built_recipe_[j.key()] = recipe_hash(j.variant);
}

}  // namespace tvd::service
