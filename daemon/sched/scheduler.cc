#include "daemon/sched/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "daemon/base/units.h"

namespace tvd::sched {
namespace {

std::string gib(uint64_t bytes) {
  return format_size(bytes);
}

std::string in(Duration d) {
  return format_duration(d);
}

Duration until(TimePoint now, TimePoint then) {
  return std::chrono::duration_cast<Duration>(then > now ? then - now : TimePoint::duration{});
}

}  // namespace

Scheduler::Enqueued Scheduler::enqueue(const JobSpec& spec, JobId id) {
  if (auto it = by_variant_.find(spec.variant); it != by_variant_.end()) {
    return {it->second, false};
  }
  if (id == 0) id = next_id_;
  next_id_ = std::max(next_id_, id + 1);
  queued_.emplace(id, Queued{id, spec, next_seq_++, TimePoint{}, ""});
  by_variant_.emplace(spec.variant, id);
  return {id, true};
}

void Scheduler::finished(JobId id) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  by_variant_.erase(it->second.spec.variant);
  running_.erase(it);
}

void Scheduler::requeue(JobId id, TimePoint not_before, std::string why) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  queued_.emplace(id, Queued{id, it->second.spec, it->second.seq, not_before, std::move(why)});
  running_.erase(it);
}

bool Scheduler::cancel(JobId id) {
  auto it = queued_.find(id);
  if (it == queued_.end()) return false;
  by_variant_.erase(it->second.spec.variant);
  queued_.erase(it);
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

std::vector<Start> Scheduler::next(TimePoint now, const Measurements& m) {
  Plan p = plan(now, m, /*want_reasons=*/false);
  for (const auto& s : p.starts) {
    auto q = queued_.find(s.id);
    running_.emplace(s.id, Active{Running{s.id, s.variant, s.reservation, now, s.expected},
                                  q->second.spec, q->second.seq});
    queued_.erase(q);
  }
  return p.starts;
}

std::vector<Waiting> Scheduler::waiting(TimePoint now, const Measurements& m) const {
  return plan(now, m, /*want_reasons=*/true).waiting;
}

Scheduler::Plan Scheduler::plan(TimePoint now, const Measurements& m, bool want_reasons) const {
  Plan out;
  const uint64_t budget = limits_.memory_budget;

  // Host-wide gates hold every start.
  std::string gate;
  if (m.memory_pressure && *m.memory_pressure > limits_.max_memory_pressure) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "waiting: memory pressure %.1f%% (full avg10) is above %.1f%%",
                  *m.memory_pressure, limits_.max_memory_pressure);
    gate = buf;
  }
  for (const auto& d : m.disks) {
    if (gate.empty() && d.free_bytes && *d.free_bytes < limits_.min_free_disk) {
      gate = "waiting: disk " + d.path + " has " + gib(*d.free_bytes) + " free, needs " +
             gib(limits_.min_free_disk);
    }
  }

  struct Candidate {
    const Queued* q;
    Estimate est;
    std::tuple<int, int, long long, uint64_t> key;
  };
  std::vector<Candidate> order;
  order.reserve(queued_.size());
  for (const auto& [id, q] : queued_) {
    Candidate c{&q, estimator_->estimate(q.spec.variant, q.spec.kind), {}};
    long long longest = limits_.order == Order::kLongestFirst && q.spec.origin == Origin::kBatch
                            ? -static_cast<long long>(c.est.duration.count())
                            : 0;
    int origin = limits_.order == Order::kLongestFirst ? static_cast<int>(q.spec.origin) : 0;
    c.key = {-q.spec.priority, origin, longest, q.seq};
    order.push_back(std::move(c));
  }
  std::sort(order.begin(), order.end(),
            [](const Candidate& a, const Candidate& b) { return a.key < b.key; });

  uint64_t reserved = this->reserved();
  size_t busy = running_.size();
  // Expected ends of what runs (overdue builds count as ending now), for the head's shadow time.
  std::vector<std::pair<TimePoint, uint64_t>> ends;
  for (const auto& [id, a] : running_) {
    ends.emplace_back(std::max(now, a.run.started + a.run.expected), a.run.reservation);
  }

  const Candidate* head = nullptr;
  TimePoint shadow{};
  uint64_t spare_at_shadow = 0;
  size_t spare_slots_at_shadow = 0;

  auto wait = [&](const Queued& q, std::string reason) {
    if (want_reasons) out.waiting.push_back({q.id, q.spec.variant, std::move(reason)});
  };

  for (const Candidate& c : order) {
    const Queued& q = *c.q;
    if (!gate.empty()) {
      wait(q, gate);
      continue;
    }
    if (q.not_before > now) {
      wait(q, "waiting to retry in " + in(until(now, q.not_before)) +
                  (q.backoff_reason.empty() ? "" : " (" + q.backoff_reason + ")"));
      continue;
    }
    const bool oversized = limits_.memory_aware && c.est.memory > budget;
    const uint64_t need = !limits_.memory_aware ? 0 : oversized ? budget : c.est.memory;

    // Why it cannot start now, if it cannot.
    std::string why;
    if (busy >= limits_.max_parallel) {
      why = "waiting: " + std::to_string(busy) + " of " + std::to_string(limits_.max_parallel) +
            " slots busy";
    } else if (oversized && reserved > 0) {
      why = "waiting to run alone: needs " + gib(c.est.memory) + ", more than the " + gib(budget) +
            " budget; " + std::to_string(busy) + " build(s) still running";
    } else if (limits_.memory_aware && reserved + need > budget) {
      why = "waiting for memory: " + gib(reserved) + " of " + gib(budget) + " reserved, needs " +
            gib(need);
    } else if (limits_.memory_aware && m.mem_available && *m.mem_available < need) {
      why = "waiting: MemAvailable is " + gib(*m.mem_available) + ", below the " + gib(need) +
            " this build reserves";
    }

    if (!why.empty() && head == nullptr) {
      // The head: find when it could start by the running builds' expected ends.
      head = &c;
      std::sort(ends.begin(), ends.end());
      uint64_t free_mem = budget >= reserved ? budget - reserved : 0;
      size_t free_slots = limits_.max_parallel > busy ? limits_.max_parallel - busy : 0;
      shadow = now;
      for (const auto& [t, bytes] : ends) {
        if (free_mem >= need && free_slots >= 1) break;
        free_mem += bytes;
        ++free_slots;
        shadow = t;
      }
      spare_at_shadow = free_mem >= need ? free_mem - need : 0;
      spare_slots_at_shadow = free_slots >= 1 ? free_slots - 1 : 0;
      wait(q, why);
      continue;
    }
    if (!why.empty()) {
      wait(q, why);
      continue;
    }
    if (head != nullptr) {
      // Backfill: it must not delay the head.
      bool ends_in_time = now + c.est.duration <= shadow;
      bool fits_beside = need <= spare_at_shadow && spare_slots_at_shadow >= 1;
      if (!ends_in_time && !fits_beside) {
        wait(q, "waiting behind " + head->q->spec.variant + ", first in line (it should start in " +
                    in(until(now, shadow)) + ")");
        continue;
      }
      if (!ends_in_time) {
        spare_at_shadow -= need;
        --spare_slots_at_shadow;
      }
    }
    Start s{q.id, q.spec.variant, need, c.est.duration, ""};
    if (oversized) {
      s.warning = q.spec.variant + " needs " + gib(c.est.memory) + ", more than the whole " +
                  gib(budget) + " budget: it runs alone";
    }
    reserved += need;
    ++busy;
    ends.emplace_back(now + c.est.duration, need);
    out.starts.push_back(std::move(s));
  }
  return out;
}

}  // namespace tvd::sched
