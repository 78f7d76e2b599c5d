#include "daemon/sched/simulate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "daemon/base/json_object.h"
#include "daemon/base/units.h"

namespace tvd::sched {

uint64_t auto_memory_budget(uint64_t mem_total) {
  uint64_t reserve = std::max<uint64_t>(4ull << 30, mem_total / 20);
  return mem_total > reserve ? mem_total - reserve : mem_total / 2;
}

unsigned auto_max_parallel(unsigned cores) {
  return std::max(1u, cores / kCoresPerBuild);
}

namespace {

PolicyResult run(const std::string& name, const std::vector<WorkItem>& work, Limits limits,
                 const std::vector<Builder>& builders = {}) {
  Estimator est;
  std::map<std::string, const WorkItem*> items;
  // Each build's figures as the history of two nights that built it alike (so the margin its
  // reservation carries is the one a steady variant earns).
  for (const auto& w : work) {
    est.record(w.variant, w.kind, w.peak, w.duration);
    est.record(w.variant, w.kind, w.peak, w.duration);
    items[w.variant] = &w;
  }
  Scheduler s(limits, &est);
  s.set_builders(builders);
  // What each build needs is enqueued before it (parse_profile and default_nights refuse
  // cycles and unknown names).
  std::map<std::string, JobId> ids;
  for (size_t before = ~size_t{0}; ids.size() < work.size() && ids.size() != before;) {
    before = ids.size();
    for (const auto& w : work) {
      if (ids.contains(w.variant) || (!w.after.empty() && !ids.contains(w.after))) continue;
      JobSpec spec{w.variant, w.kind, Origin::kBatch, 0};
      if (!w.after.empty()) spec.after = {{ids.at(w.after), w.after}};
      spec.system = w.system;
      ids[w.variant] = s.enqueue(spec).id;
    }
  }

  PolicyResult r;
  r.name = name;
  r.budget = limits.memory_budget;
  r.max_parallel = limits.max_parallel;
  r.builds = work.size();
  if (!builders.empty()) {
    r.budget = 0;
    r.max_parallel = 0;
    for (const auto& b : s.builders()) {
      r.budget += b.budget;
      r.max_parallel += b.slots;
    }
  }
  const Measurements quiet{.memory_pressure = 0.0, .mem_available = std::nullopt, .disks = {}};
  TimePoint now{};
  std::multimap<TimePoint, std::pair<JobId, uint64_t>> ends;  // end -> (job, its reservation)
  uint64_t reserved = 0;
  double reserved_time = 0;  // byte-seconds
  size_t done = 0;
  while (done < work.size()) {
    for (const auto& st : s.next(now, quiet)) {
      const WorkItem& w = *items.at(st.variant);
      // What it holds: its reservation, or for a policy blind to memory, its estimate.
      uint64_t holds =
          limits.memory_aware ? st.reservation : est.estimate(w.variant, w.kind).memory;
      reserved += holds;
      ends.emplace(now + w.duration, std::pair{st.id, holds});
    }
    r.peak_reserved = std::max(r.peak_reserved, reserved);
    if (ends.empty()) break;  // nothing runs and nothing can start: cannot happen, see tests
    auto first = ends.begin();
    reserved_time +=
        static_cast<double>(reserved) * std::chrono::duration<double>(first->first - now).count();
    now = first->first;
    s.finished(first->second.first);
    s.built(first->second.first);
    reserved -= first->second.second;
    ends.erase(first);
    ++done;
  }
  r.makespan = std::chrono::duration_cast<Duration>(now - TimePoint{});
  r.over_budget = r.peak_reserved > r.budget;
  double budget_time = static_cast<double>(r.budget) * static_cast<double>(r.makespan.count());
  r.idle = Duration(static_cast<long long>(std::max(0.0, budget_time - reserved_time) /
                                           static_cast<double>(std::max<uint64_t>(1, r.budget))));
  return r;
}

}  // namespace

namespace {

// A farm's night: tvd's policy, each build on a builder of its platform; the builds no builder
// builds are left out and counted. Its bound is the largest over platforms of what that
// platform's builds need of the builders that build it (memory x time over their budgets, build
// time over their slots; a build counts at most the smallest budget among them), and the longest
// chain.
PolicyResult farm(const std::vector<WorkItem>& all, const std::vector<SimBuilder>& machines) {
  std::vector<Builder> builders;
  for (const auto& m : machines) {
    builders.push_back({m.name,
                        m.systems,
                        {},
                        auto_max_parallel(m.cores),
                        auto_memory_budget(m.memory),
                        false,
                        true});
  }
  auto serves = [&](const std::string& system) {
    JobSpec spec;
    spec.system = system;
    return std::any_of(builders.begin(), builders.end(),
                       [&](const Builder& b) { return b.serves(spec); });
  };
  std::vector<WorkItem> work;
  std::set<std::string> left_out;
  for (const auto& w : all) {  // what waits for a build left out is left out too
    if (!serves(w.system) || (!w.after.empty() && left_out.count(w.after))) {
      left_out.insert(w.variant);
    } else {
      work.push_back(w);
    }
  }
  PolicyResult r = work.empty() ? PolicyResult{"tvd"} : run("tvd", work, {}, builders);
  r.unbuildable = left_out.size();
  std::map<std::string, const WorkItem*> by_name;
  for (const auto& w : work)
    by_name[w.variant] = &w;
  auto up = [](double seconds) { return Duration(static_cast<long long>(std::ceil(seconds))); };
  std::map<std::string, std::pair<double, double>> per_system;  // memory x time, build time
  for (const auto& w : work) {
    uint64_t smallest = ~uint64_t{0};
    JobSpec spec;
    spec.system = w.system;
    for (const auto& b : builders)
      if (b.serves(spec)) smallest = std::min(smallest, b.budget);
    auto& [memory_time, slot_time] = per_system[w.system];
    memory_time +=
        static_cast<double>(std::min(w.peak, smallest)) * static_cast<double>(w.duration.count());
    slot_time += static_cast<double>(w.duration.count());
    Duration chain = w.duration;
    for (const WorkItem* x = &w; !x->after.empty();) {
      x = by_name.at(x->after);
      chain += x->duration;
    }
    r.longest_job = std::max(r.longest_job, chain);
  }
  for (const auto& [system, need] : per_system) {
    JobSpec spec;
    spec.system = system;
    uint64_t budget = 0;
    unsigned slots = 0;
    for (const auto& b : builders) {
      if (!b.serves(spec)) continue;
      budget += b.budget;
      slots += b.slots;
    }
    r.memory_bound = std::max(r.memory_bound, up(need.first / static_cast<double>(budget)));
    r.slot_bound = std::max(r.slot_bound, up(need.second / std::max(1u, slots)));
  }
  r.lower_bound = std::max({r.longest_job, r.memory_bound, r.slot_bound});
  return r;
}

}  // namespace

std::vector<PolicyResult> simulate(const std::vector<WorkItem>& work, const SimulationOptions& o) {
  if (!o.builders.empty()) return {farm(work, o.builders)};
  const uint64_t budget = o.budget.value_or(auto_memory_budget(o.host.memory));
  const unsigned slots = o.max_parallel.value_or(auto_max_parallel(o.host.cores));

  double memory_time = 0, core_time = 0;
  Duration longest{};
  const double cores_per_build = std::min(kCoresPerBuild, o.host.cores);
  double slot_time = 0;
  std::map<std::string, const WorkItem*> by_name;
  for (const auto& w : work)
    by_name[w.variant] = &w;
  for (const auto& w : work) {
    const double held = static_cast<double>(std::min(w.peak, budget));
    memory_time += held * static_cast<double>(w.duration.count());
    core_time += cores_per_build * static_cast<double>(w.duration.count());
    slot_time += static_cast<double>(w.duration.count());
    // Its chain: it cannot end before what it waits for has run, end to end.
    Duration chain = w.duration;
    for (const WorkItem* x = &w; !x->after.empty();) {
      x = by_name.at(x->after);
      chain += x->duration;
    }
    longest = std::max(longest, chain);
  }
  // Rounded up: a bound may not claim less than the work needs.
  auto up = [](double seconds) { return Duration(static_cast<long long>(std::ceil(seconds))); };
  const Duration memory_bound =
      up(memory_time / static_cast<double>(std::max<uint64_t>(1, budget)));
  const Duration cpu_bound = up(core_time / std::max(1u, o.host.cores));

  struct Policy {
    PolicyResult result;
    bool memory_aware;
  };
  std::vector<Policy> policies = {
      {run("tvd", work, {.memory_budget = budget, .max_parallel = slots}), true},
      {run("fifo-2", work,
           {.memory_budget = budget,
            .max_parallel = 2,
            .order = Order::kArrival,
            .memory_aware = false}),
       false},
      {run("serial", work,
           {.memory_budget = budget,
            .max_parallel = 1,
            .order = Order::kArrival,
            .memory_aware = false}),
       false},
  };
  // Each policy against a bound that holds for it: its own slots, and the memory bound only for
  // a policy that keeps to the budget (the others may run over it, so it does not bind them).
  std::vector<PolicyResult> out;
  for (auto& [r, memory_aware] : policies) {
    r.longest_job = longest;
    r.memory_bound = memory_aware ? memory_bound : Duration{};
    r.slot_bound = up(slot_time / std::max(1u, r.max_parallel));
    r.cpu_bound = cpu_bound;
    r.lower_bound = std::max({longest, r.memory_bound, r.slot_bound});
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<WorkItem> default_night(
    const std::vector<std::pair<std::string, BuildKind>>& variants) {
  std::mt19937_64 rng(60);  // fixed: the same night every time
  std::uniform_real_distribution<double> gpu_h(2.5, 4.5), cpu_h(1.5, 2.5), gpu_gib(40, 90),
      cpu_gib(16, 32);
  std::vector<WorkItem> out;
  for (const auto& [name, kind] : variants) {
    bool gpu = kind == BuildKind::kGpu;
    double hours = gpu ? gpu_h(rng) : cpu_h(rng);
    double gib = gpu ? gpu_gib(rng) : cpu_gib(rng);
    out.push_back({name, kind, static_cast<uint64_t>(gib * (1ull << 30)),
                   Duration(static_cast<long long>(hours * 3600))});
  }
  return out;
}

PairedNights default_nights(const std::vector<NightCell>& cells) {
  std::vector<std::pair<std::string, BuildKind>> own;
  for (const auto& c : cells)
    if (c.torch.empty()) own.emplace_back(c.variant, c.kind);
  const std::vector<WorkItem> drawn = default_night(own);
  std::map<std::string, const WorkItem*> by_name;
  for (const auto& w : drawn)
    by_name[w.variant] = &w;
  std::mt19937_64 rng(25);  // the paired builds' own figures, apart: the others' stay as they were
  std::uniform_real_distribution<double> gpu_min(15, 40), cpu_min(10, 20), gpu_gib(8, 20),
      cpu_gib(4, 8);
  PairedNights out;
  size_t next = 0;
  for (const auto& c : cells) {
    if (c.torch.empty()) {
      WorkItem w = drawn[next++];
      w.system = c.system;
      out.once.push_back(w);
      out.today.push_back(w);
      continue;
    }
    const bool gpu = c.kind == BuildKind::kGpu;
    const double minutes = gpu ? gpu_min(rng) : cpu_min(rng);
    const double gib = gpu ? gpu_gib(rng) : cpu_gib(rng);
    WorkItem self{c.variant,
                  c.kind,
                  static_cast<uint64_t>(gib * (1ull << 30)),
                  Duration(static_cast<long long>(minutes * 60)),
                  c.torch,
                  c.system};
    out.once.push_back(self);
    const WorkItem& torch = *by_name.at(c.torch);
    out.today.push_back({c.variant, c.kind, std::max(torch.peak, self.peak),
                         torch.duration + self.duration, "", c.system});
  }
  return out;
}

Result<std::vector<WorkItem>> parse_profile(std::string_view json_text, std::string_view origin) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text, nullptr, true, true);
  } catch (const nlohmann::json::parse_error& e) {
    return fail(ErrorKind::kBadInput, std::string(origin) + ": not valid JSON: " + e.what());
  }
  std::vector<std::string> errors;
  std::vector<WorkItem> out;
  if (!doc.is_array() || doc.empty()) {
    return fail(
        ErrorKind::kBadInput, std::string(origin) + ": expected a non-empty list of builds",
        R"(each: {"variant": "sm89-avx2", "kind": "gpu", "peak": "64GiB", "duration": "3h"})");
  }
  for (size_t i = 0; i < doc.size(); ++i) {
    JsonObject o(doc[i], "[" + std::to_string(i) + "]", errors);
    WorkItem w;
    w.variant = o.string("variant").value_or("");
    auto kind = kBuildKinds.parse(o.string("kind").value_or("gpu"));
    if (!kind) o.error("kind", "expected \"gpu\" or \"cpu\"");
    w.kind = kind.value_or(BuildKind::kGpu);
    if (auto p = o.string("peak")) {
      auto size = parse_size(*p);
      if (size && *size > 0)
        w.peak = *size;
      else
        o.error("peak", "expected a size such as \"64GiB\"");
    }
    if (auto d = o.string("duration")) {
      auto dur = parse_duration(*d);
      if (dur && dur->count() > 0)
        w.duration = *dur;
      else
        o.error("duration", "expected a duration such as \"3h\" or \"2h30m\"");
    }
    w.after = o.string("after", JsonObject::Need::kOptional).value_or("");
    w.system = o.string("system", JsonObject::Need::kOptional).value_or("");
    o.refuse_unknown_keys();
    // One build per variant: a repeated name was simulated as one before.
    for (size_t k = 0; k < out.size(); ++k) {
      if (!w.variant.empty() && out[k].variant == w.variant) {
        o.error("variant", "\"" + w.variant + "\" is also [" + std::to_string(k) +
                               "]'s; a night builds each variant once");
      }
    }
    out.push_back(std::move(w));
  }
  // What a build waits for is another build of the night, and no chain comes back to itself.
  for (size_t i = 0; i < out.size(); ++i) {
    std::vector<std::string> chain = {out[i].variant};
    for (const WorkItem* x = &out[i]; !x->after.empty();) {
      auto it = std::find_if(out.begin(), out.end(),
                             [&](const WorkItem& w) { return w.variant == x->after; });
      if (it == out.end()) {
        if (x == &out[i]) {
          errors.push_back("[" + std::to_string(i) + "].after: \"" + x->after +
                           "\" is no build of this profile");
        }
        break;
      }
      if (std::find(chain.begin(), chain.end(), it->variant) != chain.end()) {
        std::string text;
        for (const auto& v : chain)
          text += v + " -> ";
        errors.push_back("[" + std::to_string(i) + "].after: a cycle: " + text + it->variant);
        break;
      }
      chain.push_back(it->variant);
      x = &*it;
    }
  }
  if (!errors.empty()) return tl::unexpected(problems_error(origin, errors, ""));
  return out;
}

Result<std::vector<SimBuilder>> parse_builders(std::string_view json_text,
                                               std::string_view origin) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text, nullptr, true, true);
  } catch (const nlohmann::json::parse_error& e) {
    return fail(ErrorKind::kBadInput, std::string(origin) + ": not valid JSON: " + e.what());
  }
  const std::string example =
      R"([{"name": "x86-1", "systems": ["x86_64-linux"], "memory": "256GiB", "cores": 64}])";
  if (!doc.is_array() || doc.empty()) {
    return fail(ErrorKind::kBadInput,
                std::string(origin) + ": expected a non-empty list of builders", example);
  }
  std::vector<std::string> errors;
  std::vector<SimBuilder> out;
  for (size_t i = 0; i < doc.size(); ++i) {
    JsonObject o(doc[i], "[" + std::to_string(i) + "]", errors);
    SimBuilder b;
    b.name = o.string("name").value_or("");
    b.systems = o.strings("systems").value_or(std::vector<std::string>{});
    if (b.systems.empty()) o.error("systems", "expected the platforms it builds");
    if (auto m = o.string("memory")) {
      auto size = parse_size(*m);
      if (size && *size > 0)
        b.memory = *size;
      else
        o.error("memory", "expected a size such as \"256GiB\"");
    }
    if (const auto* c = o.get("cores")) {
      if (c->is_number_unsigned() && *c >= 1 && *c <= 4096)
        b.cores = c->get<unsigned>();
      else
        o.error("cores", "expected a whole number from 1 to 4096");
    }
    o.refuse_unknown_keys();
    for (size_t k = 0; k < out.size(); ++k) {
      if (out[k].name == b.name) {
        o.error("name", "\"" + b.name + "\" is also [" + std::to_string(k) + "]'s");
      }
    }
    out.push_back(std::move(b));
  }
  if (!errors.empty()) return tl::unexpected(problems_error(origin, errors, example));
  return out;
}

}  // namespace tvd::sched
