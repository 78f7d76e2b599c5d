// The scheduler's plans: the order of a night's batch jobs (plan_batch, batch_plan.h), and at
// each decision what starts now on which builder and why each other job waits (plan).
#include <algorithm>
#include <cstdio>

#include "daemon/base/units.h"
#include "daemon/sched/batch_plan.h"
#include "daemon/sched/scheduler.h"

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

void Scheduler::plan_batch(TimePoint now) {
  batch_dirty_ = false;
  // The plan's night is one host's: with several builders the rule's order stands.
  if (!planning() || builders().size() != 1 ||
      plan_tries(queued_batch_, running_.size(), limits_.plan_work) == 0) {
    // The rule's order: a plan over a queue this long would not be worth its time.
    if (!batch_rank_.empty()) {
      batch_rank_.clear();
      seen_generation_ = kStale;
    }
    return;
  }
  refresh();
  // From the rule's order (largest memory × time first), which the search only improves on.
  std::vector<std::pair<Key, JobId>> batch;
  for (const auto& [id, q] : queued_) {
    if (q.spec.origin == Origin::kBatch) batch.emplace_back(key_of(q, /*planned=*/false), id);
  }
  std::sort(batch.begin(), batch.end());
  const Builder only = builders().front();  // the one builder (checked above)
  std::map<JobId, size_t> index;
  for (size_t i = 0; i < batch.size(); ++i)
    index[batch[i].second] = i;
  std::vector<PlanBuild> builds;
  for (const auto& [key, id] : batch) {
    const Queued& q = queued_.at(id);
    PlanBuild b{std::min(q.est.memory, only.budget), q.est.duration};
    // What it waits for: a batch build of the plan, one running (it ends when expected), or an
    // interactive one queued (it runs first: at least its own duration).
    for (const auto& [need, variant] : q.waits_for) {
      if (auto i = index.find(need); i != index.end()) {
        b.after.push_back(i->second);
      } else if (auto r = running_.find(need); r != running_.end()) {
        b.ready = std::max(b.ready, until(now, r->second.run.started + r->second.run.expected));
      } else if (auto w = queued_.find(need); w != queued_.end()) {
        b.ready = std::max(b.ready, w->second.est.duration);
      }
    }
    builds.push_back(std::move(b));
  }
  PlanHost host{.budget = only.budget, .slots = only.slots, .running = {}};
  for (const auto& [id, a] : running_) {
    host.running.push_back({a.run.reservation, until(now, a.run.started + a.run.expected)});
  }
  std::vector<size_t> order(builds.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  order = plan_order(builds, std::move(order), host, limits_.plan_work);
  batch_rank_.clear();
  for (size_t pos = 0; pos < order.size(); ++pos)
    batch_rank_[batch[order[pos]].second] = pos;
  seen_generation_ = kStale;  // the queue is put in order again, by the ranks
}

std::vector<Start> Scheduler::next(TimePoint now, const Measurements& m) {
  if (batch_dirty_) plan_batch(now);
  Plan p = plan(now, m, /*want_reasons=*/false);
  for (const auto& s : p.starts) {
    auto q = queued_.find(s.id);
    const auto all = builders();
    size_t b = 0;
    while (b + 1 < all.size() && all[b].name != s.builder)
      ++b;
    running_.emplace(s.id,
                     Active{Running{s.id, s.variant, s.reservation, now, s.expected, s.builder},
                            q->second.spec, q->second.seq, b});
    erase_queued(q);
  }
  return p.starts;
}

std::vector<Waiting> Scheduler::waiting(TimePoint now, const Measurements& m) const {
  return plan(now, m, /*want_reasons=*/true).waiting;
}

Scheduler::Plan Scheduler::plan(TimePoint now, const Measurements& m, bool want_reasons) const {
  refresh();
  Plan out;
  const std::vector<Builder> all = builders();
  const size_t n = std::min<size_t>(all.size(), 64);

  // The local host's gates hold every local start.
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

  // Each builder's reservations, busy slots and, for the head's shadow time, the expected ends
  // of what runs there (overdue builds count as ending now).
  struct Pool {
    uint64_t reserved = 0;
    size_t busy = 0;
    std::vector<std::pair<TimePoint, uint64_t>> ends;
  };
  std::vector<Pool> pools(n);
  for (const auto& [id, a] : running_) {
    if (a.builder >= n) continue;
    Pool& p = pools[a.builder];
    p.reserved += a.run.reservation;
    ++p.busy;
    p.ends.emplace_back(std::max(now, a.run.started + a.run.expected), a.run.reservation);
  }
  auto can_take_more = [&]() {
    for (size_t b = 0; b < n; ++b) {
      if (!all[b].reachable || (all[b].local && !gate.empty())) continue;
      if (pools[b].busy < all[b].slots) return true;
    }
    return false;
  };

  const Queued* head = nullptr;
  size_t head_builder = 0;
  TimePoint shadow{};
  uint64_t spare_at_shadow = 0;
  size_t spare_slots_at_shadow = 0;

  auto wait = [&](const Queued& q, std::string reason) {
    out.waiting.push_back({q.id, q.spec.variant, std::move(reason)});
  };
  // Why a job cannot start now on builder b; the text is only made when someone will read it.
  enum class Block { kNone, kGate, kUnreachable, kSlots, kAlone, kMemory, kMemAvailable };
  auto describe = [&](Block blk, size_t b, uint64_t memory, uint64_t need) -> std::string {
    const Builder& bu = all[b];
    const Pool& p = pools[b];
    switch (blk) {
      case Block::kGate:
        return gate;
      case Block::kUnreachable:
        return "waiting: builder " + bu.name + " is unreachable";
      case Block::kSlots:
        return "waiting: " + std::to_string(p.busy) + " of " + std::to_string(bu.slots) +
               " slots busy";
      case Block::kAlone:
        return "waiting to run alone: needs " + gib(memory) + ", more than the " + gib(bu.budget) +
               " budget; " + std::to_string(p.busy) + " build(s) still running";
      case Block::kMemory:
        return "waiting for memory: " + gib(p.reserved) + " of " + gib(bu.budget) +
               " reserved, needs " + gib(need);
      case Block::kMemAvailable:
        return "waiting: MemAvailable is " + gib(*m.mem_available) + ", below the " + gib(need) +
               " this build reserves";
      case Block::kNone:
        break;
    }
    return {};
  };
  auto need_on = [&](const Entry& e, size_t b) -> uint64_t {
    if (!limits_.memory_aware) return 0;
    return e.memory > all[b].budget ? all[b].budget : e.memory;
  };
  auto block_on = [&](const Entry& e, size_t b) {
    const Builder& bu = all[b];
    const Pool& p = pools[b];
    const bool oversized = limits_.memory_aware && e.memory > bu.budget;
    const uint64_t need = need_on(e, b);
    if (!bu.reachable) return Block::kUnreachable;
    if (bu.local && !gate.empty()) return Block::kGate;
    if (p.busy >= bu.slots) return Block::kSlots;
    if (oversized && p.reserved > 0) return Block::kAlone;
    if (limits_.memory_aware && p.reserved + need > bu.budget) return Block::kMemory;
    if (bu.local && limits_.memory_aware && m.mem_available && *m.mem_available < need) {
      return Block::kMemAvailable;
    }
    return Block::kNone;
  };

  for (const Entry& e : order_) {
    // Nothing more can start: the rest only matter for their reasons.
    if (!want_reasons && !can_take_more()) break;
    if (!e.alive) continue;
    // The job's record is only read when it starts or a reason is wanted.
    auto q = [&]() -> const Queued& { return queued_.at(e.id); };
    if (e.blocked) {
      // It cannot start before what it needs is built, whatever is free: never the head.
      if (want_reasons) {
        std::string what;
        for (const auto& [dep, variant] : q().waits_for)
          what += (what.empty() ? "" : ", ") + variant + " (job " + std::to_string(dep) + ")";
        wait(q(), "waiting for " + what + " to be built");
      }
      continue;
    }
    if (e.serving == 0) {
      if (want_reasons) {
        const auto& spec = q().spec;
        wait(q(), "waiting: no builder serves " +
                      (spec.system.empty() ? std::string("it") : spec.system) +
                      (spec.features.empty() ? "" : " with the features of its recipe"));
      }
      continue;
    }
    if (e.not_before > now) {
      if (want_reasons) {
        const std::string& why = q().backoff_reason;
        wait(q(), "waiting to retry in " + in(until(now, e.not_before)) +
                      (why.empty() ? "" : " (" + why + ")"));
      }
      continue;
    }

    // The first builder that serves it and can take it now; a builder behind the head's shadow
    // takes it only if that does not delay the head.
    std::optional<size_t> placed;
    std::vector<std::pair<size_t, Block>> blocks;
    std::string behind;
    for (size_t b = 0; b < n && !placed; ++b) {
      if (!(e.serving >> b & 1)) continue;
      const Block blk = block_on(e, b);
      if (blk != Block::kNone) {
        blocks.emplace_back(b, blk);
        continue;
      }
      if (head != nullptr && b == head_builder) {
        const bool ends_in_time = now + e.duration <= shadow;
        const bool fits_beside = need_on(e, b) <= spare_at_shadow && spare_slots_at_shadow >= 1;
        if (!ends_in_time && !fits_beside) {
          behind = "waiting behind " + head->spec.variant + ", first in line (it should start in " +
                   in(until(now, shadow)) + ")";
          continue;
        }
        if (!ends_in_time) {
          spare_at_shadow -= need_on(e, b);
          --spare_slots_at_shadow;
        }
      }
      placed = b;
    }

    if (!placed) {
      if (head == nullptr && !(planning() && e.batch) && behind.empty()) {
        // The head: on the builder that serves it where, by the running builds' expected ends,
        // enough memory and a slot free soonest (unreachable or gated builders aside).
        std::optional<TimePoint> best;
        for (const auto& [b, blk] : blocks) {
          if (blk == Block::kUnreachable || blk == Block::kGate) continue;
          Pool& p = pools[b];
          std::sort(p.ends.begin(), p.ends.end());
          const uint64_t need = need_on(e, b);
          uint64_t free_mem = all[b].budget >= p.reserved ? all[b].budget - p.reserved : 0;
          size_t free_slots = all[b].slots > p.busy ? all[b].slots - p.busy : 0;
          TimePoint when = now;
          for (const auto& [t, bytes] : p.ends) {
            if (free_mem >= need && free_slots >= 1) break;
            free_mem += bytes;
            ++free_slots;
            when = t;
          }
          if (!best || when < *best) {
            best = when;
            head_builder = b;
            spare_at_shadow = free_mem >= need ? free_mem - need : 0;
            spare_slots_at_shadow = free_slots >= 1 ? free_slots - 1 : 0;
          }
        }
        if (best) {
          head = &q();
          shadow = *best;
        }
      }
      if (want_reasons) {
        if (!behind.empty()) {
          wait(q(), behind);
        } else if (blocks.size() == 1) {
          wait(q(),
               describe(blocks[0].second, blocks[0].first, e.memory, need_on(e, blocks[0].first)));
        } else {
          std::string why;
          for (const auto& [b, blk] : blocks)
            why += (why.empty() ? "" : "; ") + all[b].name + ": " +
                   describe(blk, b, e.memory, need_on(e, b));
          wait(q(), why);
        }
      }
      continue;
    }

    const size_t b = *placed;
    const uint64_t need = need_on(e, b);
    Start st{e.id, q().spec.variant, need, e.duration, "", all[b].name};
    if (limits_.memory_aware && e.memory > all[b].budget) {
      st.warning = st.variant + " needs " + gib(e.memory) + ", more than the whole " +
                   gib(all[b].budget) + " budget" + (n > 1 ? " of " + all[b].name : std::string()) +
                   ": it runs alone";
    }
    pools[b].reserved += need;
    ++pools[b].busy;
    pools[b].ends.emplace_back(now + e.duration, need);
    out.starts.push_back(std::move(st));
  }
  return out;
}

}  // namespace tvd::sched
