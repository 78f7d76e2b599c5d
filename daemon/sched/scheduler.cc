// The scheduler's queue and running builds: the order of the queued jobs, what enters and leaves
// the queue and the running set (enqueue, adopt, finished, requeue, cancel). Its plans are in
// scheduler_plan.cc, its builders in scheduler_builders.cc, what paired jobs need in
// scheduler_needs.cc.
#include "daemon/sched/scheduler.h"

#include <algorithm>

namespace tvd::sched {

// Batch jobs, largest first by what they take of the host over time: duration x the larger of
// a slot's share (1 / max_parallel) and the memory's share (reservation / budget). Where slots
// bind (every build fits in a slot's share of the memory) this is the longest build first;
// where memory binds, the builds that hold most memory for longest go first, so the small ones
// fill the gaps at the end rather than leaving a large one to run alone. A job others wait for
// counts with its chain (its duration plus tail()): the critical path goes first.
Scheduler::Key Scheduler::key_of(const Queued& q, bool planned) const {
  const bool longest = limits_.order == Order::kLongestFirst;
  long long duration = 0;
  auto rank = batch_rank_.find(q.id);
  if (planned && longest && q.spec.origin == Origin::kBatch && rank != batch_rank_.end()) {
    duration = static_cast<long long>(rank->second);
  } else if (longest && q.spec.origin == Origin::kBatch) {
    // Over every builder: a slot's share of all slots, memory against the largest budget.
    unsigned slots = 0;
    uint64_t largest = 0;
    for (const auto& b : builders()) {
      slots += b.slots;
      largest = std::max(largest, b.budget);
    }
    const double slot = 1.0 / std::max(1u, slots);
    const double budget = static_cast<double>(std::max<uint64_t>(1, largest));
    const double memory = std::min(1.0, static_cast<double>(q.est.memory) / budget);
    const double share = std::max(slot, memory);
    const Duration chain = q.est.duration + tail(q.id);
    duration = -static_cast<long long>(static_cast<double>(chain.count()) * share * 1e6);
  }
  int origin = longest ? static_cast<int>(q.spec.origin) : 0;
  return {-q.spec.priority, origin, duration, q.seq};
}

void Scheduler::insert(Queued q) {
  // A job that waits for others lengthens their chains: the queue is keyed again at the next
  // decision (once for a whole enqueue), not now.
  if (!q.waits_for.empty()) {
    for (const auto& [need, variant] : q.waits_for)
      needed_by_[need].push_back(q.id);
    seen_generation_ = kStale;
  }
  if (seen_generation_ != kStale) refresh();
  if (q.spec.origin == Origin::kBatch) {
    // A requeued job keeps its place in the plan; a new one asks for a new plan.
    if (!batch_rank_.contains(q.id)) batch_dirty_ = true;
    ++queued_batch_;
  }
  q.est = estimator_->estimate(q.spec.variant, q.spec.kind);
  order_.push_back(entry_of(q, builders()));
  queued_.emplace(q.id, std::move(q));
}

void Scheduler::erase_queued(std::map<JobId, Queued>::iterator it) {
  for (auto& e : order_) {
    if (e.alive && e.id == it->first) {
      e.alive = false;
      ++dead_;
      break;
    }
  }
  if (it->second.spec.origin == Origin::kBatch) --queued_batch_;
  for (const auto& [need, variant] : it->second.waits_for) {
    auto n = needed_by_.find(need);
    if (n == needed_by_.end()) continue;
    std::erase(n->second, it->first);
    if (n->second.empty()) needed_by_.erase(n);
  }
  queued_.erase(it);
}

void Scheduler::refresh() const {
  if (seen_generation_ != estimator_->generation()) {
    order_.clear();
    dead_ = 0;
    for (auto& [id, q] : queued_)
      q.est = estimator_->estimate(q.spec.variant, q.spec.kind);
    const auto all = builders();
    for (auto& [id, q] : queued_)  // after every estimate: a key reads its dependents' too
      order_.push_back(entry_of(q, all));
    sorted_ = 0;
    seen_generation_ = estimator_->generation();
  }
  auto by_key = [](const Entry& a, const Entry& b) { return a.key < b.key; };
  if (sorted_ < order_.size()) {
    // New entries: sort them and merge them in, O(n) rather than a full sort.
    auto middle = order_.begin() + static_cast<std::ptrdiff_t>(sorted_);
    std::sort(middle, order_.end(), by_key);
    std::inplace_merge(order_.begin(), middle, order_.end(), by_key);
  }
  if (dead_ > 0 && dead_ * 2 >= order_.size()) {
    std::erase_if(order_, [](const Entry& e) { return !e.alive; });
    dead_ = 0;
  }
  sorted_ = order_.size();
}

Scheduler::Enqueued Scheduler::enqueue(const JobSpec& spec, JobId id) {
  if (auto it = by_variant_.find(spec.variant); it != by_variant_.end()) {
    return {it->second, false};
  }
  if (id == 0) id = next_id_;
  next_id_ = std::max(next_id_, id + 1);
  insert(Queued{id, spec, next_seq_++, TimePoint{}, "", {}, spec.after});
  by_variant_.emplace(spec.variant, id);
  return {id, true};
}

Start Scheduler::adopt(const JobSpec& spec, JobId id, const std::string& builder,
                       TimePoint started) {
  const auto all = builders();
  size_t b = 0;
  while (b + 1 < all.size() && all[b].name != builder)
    ++b;
  const Estimate est = estimator_->estimate(spec.variant, spec.kind);
  Start s{
      id,           spec.variant, limits_.memory_aware ? std::min(est.memory, all[b].budget) : 0,
      est.duration, "",           all[b].name};
  running_.emplace(
      id, Active{Running{id, spec.variant, s.reservation, started, s.expected, s.builder}, spec,
                 next_seq_++, b});
  by_variant_.emplace(spec.variant, id);
  next_id_ = std::max(next_id_, id + 1);
  return s;
}

void Scheduler::finished(JobId id) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  batch_rank_.erase(id);
  by_variant_.erase(it->second.spec.variant);
  running_.erase(it);
}

void Scheduler::requeue(JobId id, TimePoint not_before, std::string why) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  insert(Queued{id, it->second.spec, it->second.seq, not_before, std::move(why), {}, {}});
  running_.erase(it);
}

bool Scheduler::cancel(JobId id) {
  auto it = queued_.find(id);
  if (it == queued_.end()) return false;
  by_variant_.erase(it->second.spec.variant);
  batch_rank_.erase(id);
  erase_queued(it);
  return true;
}

std::optional<JobId> Scheduler::find(const std::string& variant) const {
  auto it = by_variant_.find(variant);
  if (it == by_variant_.end()) return std::nullopt;
  return it->second;
}

uint64_t Scheduler::reserved() const {
  uint64_t sum = 0;
  for (const auto& [id, a] : running_)
    sum += a.run.reservation;
  return sum;
}

std::vector<Running> Scheduler::running() const {
  std::vector<Running> out;
  for (const auto& [id, a] : running_)
    out.push_back(a.run);
  return out;
}

std::vector<std::string> Scheduler::gate_notes(const Measurements& m) const {
  std::vector<std::string> out;
  if (!m.memory_pressure)
    out.push_back("memory pressure gate off: /proc/pressure/memory is missing");
  if (!m.mem_available) out.push_back("MemAvailable gate off: /proc/meminfo has no MemAvailable");
  for (const auto& d : m.disks) {
    if (!d.free_bytes)
      out.push_back("disk gate off for " + d.path + ": cannot read its free space");
  }
  return out;
}

}  // namespace tvd::sched
