// `tvd simulate`: the real scheduler over a night of builds on a virtual clock, its policy
// against fifo-2 and serial.
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "daemon/base/file.h"
#include "daemon/base/table.h"
#include "daemon/base/units.h"
#include "daemon/cli/tvd_cli.h"
#include "daemon/config/setup.h"
#include "daemon/sched/simulate.h"
#include "daemon/service/engine.h"

namespace tvd {
namespace {

using nlohmann::json;

std::string hours(sched::Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f h", static_cast<double>(d.count()) / 3600);
  return buf;
}

// The night on each farm: builds it can run, makespan against its bound.
int farms(const std::vector<sched::WorkItem>& work, const std::string& workload,
          const std::vector<std::string>& files, bool as_json, std::ostream& out,
          std::ostream& err) {
  json j = {{"builds", work.size()}, {"farms", json::array()}};
  Table t({"FARM", "MACHINES", "SLOTS", "BUILDS", "NO BUILDER", "MAKESPAN", "BOUND", "OVER BOUND"});
  for (const auto& file : files) {
    auto text = read_file(file);
    if (!text)
      return report_error({ErrorKind::kBadInput, "--builders: " + text.error().message}, err);
    auto machines = sched::parse_builders(*text, file);
    if (!machines) return report_error(machines.error(), err);
    const auto r = sched::simulate(work, {.builders = *machines}).front();
    char over[32];
    std::snprintf(over, sizeof over, "%+.1f %%",
                  r.lower_bound.count() == 0
                      ? 0.0
                      : 100.0 * (static_cast<double>(r.makespan.count()) /
                                     static_cast<double>(r.lower_bound.count()) -
                                 1));
    std::string names;
    for (const auto& m : *machines)
      names += (names.empty() ? "" : ", ") + m.name;
    t.add({file, names, std::to_string(r.max_parallel), std::to_string(r.builds),
           std::to_string(r.unbuildable), hours(r.makespan), hours(r.lower_bound), over});
    j["farms"].push_back({{"file", file},
                          {"machines", machines->size()},
                          {"slots", r.max_parallel},
                          {"builds", r.builds},
                          {"unbuildable", r.unbuildable},
                          {"makespan_s", r.makespan.count()},
                          {"lower_bound_s", r.lower_bound.count()},
                          {"longest_chain_s", r.longest_job.count()}});
  }
  if (as_json) {
    out << j.dump(2) << '\n';
    return 0;
  }
  out << "workload: " << workload << "\n"
      << "each farm: tvd's policy, every build on a machine of its platform (slots = cores / 32, "
         "budget = memory less max(4 GiB, 5 %)); NO BUILDER: builds of a platform no machine "
         "builds, left out\n\n";
  t.print(out);
  return 0;
}

}  // namespace

int cmd_simulate(const std::optional<std::filesystem::path>& config, bool as_json,
                 const SimulateArgs& a, std::ostream& out, std::ostream& err) {
  sched::SimulationOptions so;
  auto memory = parse_size(a.memory);
  if (!memory)
    return report_error(
        {ErrorKind::kBadInput, "--memory: " + memory.error().message, memory.error().hint}, err);
  so.host = {*memory, a.cores};
  if (a.cores == 0) return report_error({ErrorKind::kBadInput, "--cores must be at least 1"}, err);
  if (a.max_parallel != "auto") {
    unsigned n = 0;
    auto [p, ec] =
        std::from_chars(a.max_parallel.data(), a.max_parallel.data() + a.max_parallel.size(), n);
    if (ec != std::errc() || p != a.max_parallel.data() + a.max_parallel.size() || n == 0) {
      return report_error({ErrorKind::kBadInput, "--max-parallel: expected a whole number or auto"},
                          err);
    }
    so.max_parallel = n;
  }
  if (a.budget != "auto") {
    auto b = parse_size(a.budget);
    if (!b)
      return report_error({ErrorKind::kBadInput, "--budget: " + b.error().message, b.error().hint},
                          err);
    so.budget = *b;
  }

  std::vector<sched::WorkItem> work;
  std::vector<sched::WorkItem> today;  // with paired environments: each compiles its own torch
  std::string workload;
  if (!a.profile.empty()) {
    auto text = read_file(a.profile);
    if (!text)
      return report_error({ErrorKind::kBadInput, "--profile: " + text.error().message}, err);
    auto parsed = sched::parse_profile(*text, a.profile);
    if (!parsed) return report_error(parsed.error(), err);
    work = std::move(*parsed);
    workload = a.profile;
  } else {
    auto setup = load_setup(config);
    if (!setup) return report_error(setup.error(), err);
    std::vector<sched::NightCell> cells;
    std::set<std::string> keys;
    for (const auto& e : setup->environments)
      for (const auto& v : e.matrix.cells())
        keys.insert(v.key().text());
    size_t paired = 0;
    for (const auto& e : setup->environments) {
      for (const auto& v : e.matrix.cells()) {
        sched::NightCell c{v.key().text(), service::kind_of(v)};
        c.system = v.isa->platform;
        auto torch = e.torch ? e.torch->matrix.counterpart(v) : std::nullopt;
        if (torch && keys.contains(torch->key().text())) {
          c.torch = torch->key().text();
          ++paired;
        }
        cells.push_back(std::move(c));
      }
    }
    auto nights = sched::default_nights(cells);
    work = std::move(nights.once);
    if (paired > 0) today = std::move(nights.today);
    workload = "the matrix's " + std::to_string(work.size()) +
               " variants with figures drawn in realistic ranges (GPU 2.5-4.5 h, 40-90 GiB; CPU "
               "1.5-2.5 h, 16-32 GiB" +
               (paired > 0 ? "; a TorchVision build after its torch's GPU 15-40 min, 8-20 GiB, "
                             "CPU 10-20 min, 4-8 GiB"
                           : "") +
               ")";
  }
  if (!a.builders.empty()) return farms(work, workload, a.builders, as_json, out, err);
  auto results = sched::simulate(work, so);
  std::vector<sched::PolicyResult> today_results;
  if (!today.empty()) today_results = sched::simulate(today, so);
  // Core-hours the night's builds keep busy: each build MAX_JOBS cores (at most the host's).
  auto cpu_hours = [&](const std::vector<sched::WorkItem>& w) {
    double seconds = 0;
    for (const auto& x : w)
      seconds += static_cast<double>(x.duration.count());
    return seconds * std::min(sched::kCoresPerBuild, so.host.cores) / 3600;
  };

  if (as_json) {
    json j = {{"host", {{"memory_bytes", so.host.memory}, {"cores", so.host.cores}}},
              {"builds", work.size()},
              {"policies", json::array()}};
    for (const auto& r : results) {
      j["policies"].push_back({{"name", r.name},
                               {"makespan_s", r.makespan.count()},
                               {"lower_bound_s", r.lower_bound.count()},
                               {"longest_job_s", r.longest_job.count()},
                               {"memory_bound_s", r.memory_bound.count()},
                               {"slot_bound_s", r.slot_bound.count()},
                               {"cpu_bound_s", r.cpu_bound.count()},
                               {"peak_reserved_bytes", r.peak_reserved},
                               {"budget_bytes", r.budget},
                               {"max_parallel", r.max_parallel},
                               {"idle_s", r.idle.count()},
                               {"over_budget", r.over_budget}});
    }
    j["cpu_hours"] = cpu_hours(work);
    if (!today.empty()) {
      const auto& t = today_results.front();
      j["today"] = {{"makespan_s", t.makespan.count()},
                    {"lower_bound_s", t.lower_bound.count()},
                    {"cpu_hours", cpu_hours(today)}};
    }
    out << j.dump(2) << '\n';
    return 0;
  }
  out << "workload: " << workload << "\n"
      << "host: " << format_size(so.host.memory) << ", " << so.host.cores << " cores; budget "
      << format_size(results.front().budget) << "\n"
      << "tvd's lower bound " << hours(results.front().lower_bound) << " = max(longest chain "
      << hours(results.front().longest_job) << ", memory x time / budget "
      << hours(results.front().memory_bound) << ", build time / " << results.front().max_parallel
      << " slots " << hours(results.front().slot_bound) << ")\n";
  if (results.front().cpu_bound > results.front().slot_bound) {
    out << "note: " << results.front().max_parallel << " builds at once need more than "
        << so.host.cores << " cores (MAX_JOBS=" << sched::kCoresPerBuild
        << " each); the simulation does not slow them down, so a real night takes at least "
        << hours(results.front().cpu_bound) << " (cores x time / cores)\n";
  }
  out << "\n";
  // Each policy against its own bound: its slots, and memory only where it keeps to the budget.
  Table t({"POLICY", "SLOTS", "MAKESPAN", "ITS BOUND", "OVER BOUND", "PEAK RESERVED", "BUDGET",
           "IDLE"});
  for (const auto& r : results) {
    char over[32];
    std::snprintf(over, sizeof over, "%+.1f %%",
                  100.0 * (static_cast<double>(r.makespan.count()) /
                               static_cast<double>(r.lower_bound.count()) -
                           1));
    t.add({r.name, std::to_string(r.max_parallel), hours(r.makespan), hours(r.lower_bound), over,
           format_size(r.peak_reserved) + (r.over_budget ? " (over budget!)" : ""),
           format_size(r.budget), hours(r.idle)});
  }
  t.print(out);
  if (!today.empty()) {
    // The same cells and figures, with each paired TorchVision build compiling its own torch (as
    // every TorchVision recipe does without pairing) against waiting for its PyTorch cell's.
    out << "\ntorch built once (paired environments) against today (each TorchVision build "
           "compiles its own torch), tvd's policy:\n";
    Table c({"NIGHT", "MAKESPAN", "LOWER BOUND", "LONGEST CHAIN", "CPU-HOURS"});
    auto row = [&](const std::string& name, const sched::PolicyResult& r, double cpu) {
      char h[32];
      std::snprintf(h, sizeof h, "%.0f", cpu);
      c.add({name, hours(r.makespan), hours(r.lower_bound), hours(r.longest_job), h});
    };
    row("torch once", results.front(), cpu_hours(work));
    row("today", today_results.front(), cpu_hours(today));
    c.print(out);
  }
  return 0;
}

}  // namespace tvd
