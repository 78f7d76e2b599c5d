// Where builds run: each builder's systems and features, slots and memory, and which builders
// serve a job (scheduler.h, "Builders").
#include "daemon/sched/scheduler.h"

#include <algorithm>

namespace tvd::sched {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

bool Builder::serves(const JobSpec& spec) const {
  if (systems.empty()) return true;
  if (!spec.system.empty() && !contains(systems, spec.system)) return false;
  return std::all_of(spec.features.begin(), spec.features.end(),
                     [&](const std::string& f) { return contains(features, f); });
}

void Scheduler::set_builders(std::vector<Builder> builders) {
  builders_ = std::move(builders);
  seen_generation_ = kStale;  // which builders serve each job is worked out again
}

std::vector<Builder> Scheduler::builders() const {
  std::vector<Builder> out = builders_;
  if (out.empty()) out.push_back({"local", {}, {}, 1, 0, true, true});
  for (auto& b : out) {
    if (b.local) {
      b.slots = limits_.max_parallel;
      b.budget = limits_.memory_budget;
    }
  }
  return out;
}

bool Scheduler::set_reachable(const std::string& builder, bool reachable) {
  for (auto& b : builders_) {
    if (b.name == builder) {
      b.reachable = reachable;
      return true;
    }
  }
  return false;
}

uint64_t Scheduler::reserved(const std::string& builder) const {
  uint64_t sum = 0;
  for (const auto& [id, a] : running_)
    if (a.run.builder == builder) sum += a.run.reservation;
  return sum;
}

uint64_t Scheduler::serving(const JobSpec& spec, const std::vector<Builder>& all) const {
  uint64_t bits = 0;
  for (size_t i = 0; i < all.size() && i < 64; ++i)
    if (all[i].serves(spec)) bits |= uint64_t{1} << i;
  return bits;
}

Scheduler::Entry Scheduler::entry_of(const Queued& q, const std::vector<Builder>& all) const {
  return {key_of(q),
          q.id,
          q.est.memory,
          q.est.duration,
          q.not_before,
          q.spec.origin == Origin::kBatch,
          true,
          !q.waits_for.empty(),
          serving(q.spec, all)};
}

}  // namespace tvd::sched
