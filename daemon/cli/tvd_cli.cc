#include "daemon/cli/tvd_cli.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "daemon/app/serve.h"
#include "daemon/base/command_line.h"
#include "daemon/base/file.h"
#include "daemon/base/lines.h"
#include "daemon/base/table.h"
#include "daemon/base/units.h"
#include "daemon/config/setup.h"
#include "daemon/matrix/spec.h"
#include "daemon/recipe/generate.h"
#include "daemon/sched/simulate.h"
#include "daemon/service/engine.h"
#include "daemon/service/host_config.h"
#include "daemon/service/recipe_view.h"

extern char** environ;

namespace tvd {
namespace {

using nlohmann::json;

int report(const Error& e, std::ostream& err) {
  return report_error(e, err);
}

std::string target_text(const RecipeReport& r) {
  return r.variant.is_gpu() ? r.choices.gpu_target : "-";
}

struct Options {
  std::optional<std::filesystem::path> config;
  bool json = false;
};

// The selections of each environment, in the setup's order (each environment's recipes are
// rendered with its own templates into its own checkout).
std::vector<std::pair<const EnvironmentSetup*, std::vector<Selection>>> by_environment(
    const Setup& setup, std::vector<Selection> selections) {
  std::vector<std::pair<const EnvironmentSetup*, std::vector<Selection>>> out;
  for (const auto& e : setup.environments) {
    std::vector<Selection> mine;
    for (auto& s : selections)
      if (s.variant.environment == &e.environment()) mine.push_back(std::move(s));
    if (!mine.empty()) out.emplace_back(&e, std::move(mine));
  }
  return out;
}

// How a table names a variant: its package, ENV/PACKAGE outside the default environment.
std::string shown(const Variant& v) {
  return v.key().text();
}

int cmd_generate(const Options& o, const std::vector<std::string>& specs, bool all, bool force,
                 bool overwrite, bool dry_run, std::ostream& out, std::ostream& err) {
  if (all == !specs.empty()) {
    return report({ErrorKind::kBadInput, "name the variants to generate, or --all (not both)",
                   "tvd generate sm89-avx512vnni cpu-avx2   or   tvd generate --all"},
                  err);
  }
  auto setup = load_setup(o.config);
  if (!setup) return report(setup.error(), err);
  auto selections =
      resolve_specs(setup->matrices(), all ? std::vector<std::string>{"all"} : specs, force);
  if (!selections) return report(nothing_done(selections.error(), "Nothing was written."), err);
  auto reports = std::make_optional<std::vector<RecipeReport>>();
  std::vector<std::filesystem::path> dirs;
  for (auto& [e, mine] : by_environment(*setup, std::move(*selections))) {
    const RecipeEnv env = recipe_env(*e);
    auto written = generate_recipes(e->templates, env, mine, {dry_run, overwrite});
    if (!written) return report(written.error(), err);
    for (auto& r : *written)
      reports->push_back(std::move(r));
    dirs.push_back(env.pkgs_dir());
  }

  std::map<Outcome, int> by_outcome;  // in the enum's order: written first, excluded last
  for (const auto& r : *reports)
    by_outcome[r.outcome]++;
  std::map<std::string, int> counts;
  for (const auto& [outcome, n] : by_outcome)
    counts[std::string(to_string(outcome))] = n;
  if (o.json) {
    json j = {{"recipes", json::array()}, {"summary", counts}, {"dry_run", dry_run}};
    for (const auto& r : *reports)
      j["recipes"].push_back(report_json(r));
    out << j.dump(2) << '\n';
    return 0;
  }
  Table t({"OUTCOME", "VARIANT", "GPU TARGET", "NOTE"});
  for (const auto& r : *reports) {
    std::string note;
    if (r.outcome == Outcome::kExcluded)
      note = join(r.exclusions, "; ");
    else if (r.outcome == Outcome::kKept)
      note =
          "exists and differs (edited by hand or from an older template); --overwrite replaces it";
    else if (r.choices.from_pytorch)
      note = r.choices.gpu_target_source;
    for (const auto& p : r.choices.pytorch_problems)
      note += (note.empty() ? "" : "; ") + ("PyTorch recipe: " + p);
    if (!r.warning.empty()) note += (note.empty() ? "" : "; ") + ("warning: " + r.warning);
    t.add({std::string(to_string(r.outcome)), shown(r.variant), target_text(r), note});
  }
  t.print(out);
  std::string summary;
  for (const auto& [outcome, n] : by_outcome) {
    summary +=
        (summary.empty() ? "" : ", ") + std::to_string(n) + " " + std::string(to_string(outcome));
  }
  out << '\n'
      << reports->size() << (reports->size() == 1 ? " variant: " : " variants: ") << summary;
  if (counts.count("excluded")) out << " (--force generates excluded variants)";
  out << "\nrecipes: ";
  for (size_t i = 0; i < dirs.size(); ++i)
    out << (i ? ", " : "") << dirs[i].string();
  out << '\n';
  return 0;
}

int cmd_matrix(const Options& o, std::ostream& out, std::ostream& err) {
  auto setup = load_setup(o.config);
  if (!setup) return report(setup.error(), err);
  struct Seen {
    const EnvironmentSetup* e;
    RecipeEnv env;
    std::vector<RecipeReport> reports;
  };
  std::vector<Seen> seen;
  for (const auto& e : setup->environments) {
    const RecipeEnv env = recipe_env(e);
    auto reports = inspect_recipes(e.templates, env, e.cells());
    if (!reports) return report(reports.error(), err);
    seen.push_back({&e, env, std::move(*reports)});
  }
  size_t total = 0, buildable = 0, warnings = 0, broken = 0;
  std::map<std::string, int> states;
  std::map<std::string, int> unserved;  // buildable cells no builder builds, by platform
  for (const auto& s : seen) {
    for (const auto& r : s.reports) {
      ++total;
      buildable += r.exclusions.empty();
      if (r.exclusions.empty() && setup->builders_for(r.variant.isa->platform).empty())
        ++unserved[r.variant.isa->platform];
      warnings += !r.warning.empty();
      broken += has_error(r.findings);
      states[std::string(to_string(r.state))]++;
    }
  }
  auto axes_json = [](const Axes& axes) {
    return json{{"python", axes.python},
                {"cuda", axes.cuda},
                {"gpu_archs", axes.gpu_archs},
                {"cpu_isas", axes.cpu_isas},
                {"cpu_only", axes.cpu_only}};
  };
  if (o.json) {
    // The first environment's fields at the top (one environment: as before), every one's in
    // "environments", and every cell in "cells".
    const Seen& first = seen.front();
    json j = {
        {"matrix", first.e->matrix_origin},
        {"axes", axes_json(first.e->matrix.axes())},
        {"flox_env", first.env.flox_env.string()},
        {"pytorch_env", first.env.pytorch_env.string()},
        {"environments", json::array()},
        {"cells", json::array()},
        {"summary",
         {{"cells", total},
          {"buildable", buildable},
          {"excluded", total - buildable},
          {"recipes", states},
          {"gpu_target_warnings", warnings},
          {"recipes_with_errors", broken}}},
    };
    for (const auto& s : seen) {
      j["environments"].push_back({{"name", s.e->name()},
                                   {"product", s.e->product().name},
                                   {"matrix", s.e->matrix_origin},
                                   {"axes", axes_json(s.e->matrix.axes())},
                                   {"flox_env", s.env.flox_env.string()},
                                   {"torch_from", s.e->torch_from},
                                   {"cells", s.reports.size()}});
      for (const auto& r : s.reports) {
        json cell = report_json(r);
        cell["environment"] = s.e->name();
        cell["builders"] = setup->builders_for(r.variant.isa->platform);
        j["cells"].push_back(std::move(cell));
      }
    }
    out << j.dump(2) << '\n';
    return 0;
  }
  for (const auto& s : seen) {
    if (seen.size() > 1) {
      out << "environment " << s.e->name() << ": " << s.e->product().display << " in "
          << s.env.flox_env.string()
          << (s.e->torch_from.empty() ? "" : ", torch from " + s.e->torch_from) << "\n";
    }
    Table t({"VARIANT", "RECIPE", "GPU TARGET", "SOURCE", "NOTE"});
    for (const auto& r : s.reports) {
      std::string source =
          r.variant.is_gpu() ? (r.choices.from_pytorch ? "pytorch" : "matrix.json") : "-";
      std::string note = r.exclusions.empty() ? "" : "excluded: " + join(r.exclusions, "; ");
      if (r.exclusions.empty() && setup->builders_for(r.variant.isa->platform).empty()) {
        note = "no builder: " + no_builder_text(r.variant.isa->platform);
      }
      if (!r.warning.empty()) note += (note.empty() ? "" : "; ") + ("warning: " + r.warning);
      if (auto e = error_summary(r.findings); !e.empty()) note += (note.empty() ? "" : "; ") + e;
      t.add({shown(r.variant), std::string(to_string(r.state)), target_text(r), source, note});
    }
    t.print(out);
    if (seen.size() > 1) out << '\n';
  }
  out << '\n'
      << total << " cells: " << buildable << " buildable, " << total - buildable
      << " excluded; recipes:";
  for (const auto& [name, n] : states)
    out << ' ' << n << ' ' << name;
  if (warnings)
    out << "; " << warnings << " recipe(s) disagree with their PyTorch recipe's GPU target";
  if (broken) out << "; " << broken << " recipe(s) would fail in flox build ('tvd check' says why)";
  for (const auto& [system, n] : unserved)
    out << "; " << n << " buildable cell(s) of " << system << " have no builder";
  out << '\n';
  for (const auto& s : seen) {
    out << (seen.size() > 1 ? s.e->name() + ": " : std::string())
        << "matrix: " << s.e->matrix_origin << "; recipes in " << s.env.pkgs_dir().string();
    if (!s.env.pytorch_env.empty()) {
      out << "; PyTorch recipes in " << (s.env.pytorch_env / ".flox" / "pkgs").string();
    }
    out << '\n';
  }
  return 0;
}

}  // namespace

int report_error(const Error& e, std::ostream& err) {
  err << "tvd: error: " << e.message << '\n';
  if (!e.hint.empty()) err << "  hint: " << e.hint << '\n';
  return exit_code(e);
}

namespace {

// Everything the command line can give; each subcommand declares and reads its own part.
struct Args {
  Options o;
  std::vector<std::string> specs;
  bool all = false, force = false, overwrite = false, dry_run = false, probe = false;
  CheckArgs check;
  SimulateArgs simulate;
};

// The subcommands, as a table (as tvctl's): each declares its options and runs.
struct Tool {
  const char* name;
  const char* help;
  void (*declare)(CLI::App& sub, Args& a);
  int (*run)(Args& a, std::ostream& out, std::ostream& err);
};

const Tool kTools[] = {
    {"generate", "write missing recipes into <flox_env>/.flox/pkgs",
     [](CLI::App& c, Args& a) {
       c.add_option(
           "spec", a.specs,
           "variants: sm89-avx512vnni, cpu-avx2, python312-cuda12_9-sm90-avx2, 'sm90-*', all");
       c.add_flag("--all", a.all, "every variant of the configured matrix");
       c.add_flag("--dry-run", a.dry_run, "report what would be written; write nothing");
       c.add_flag("--force", a.force, "accept excluded variants (they may not build)");
       c.add_flag("--overwrite", a.overwrite, "replace recipes that differ from the templates");
       c.add_flag("--json", a.o.json, "print one JSON document");
       c.footer(
           "Examples:\n"
           "  tvd generate sm89-avx512vnni          one variant, default Python and CUDA\n"
           "  tvd generate 'sm90-*' cpu-avx2         a glob and a CPU-only variant\n"
           "  tvd generate --all --dry-run           what the whole matrix would write\n"
           "A recipe that exists is never replaced unless --overwrite is given.");
     },
     [](Args& a, std::ostream& out, std::ostream& err) {
       return cmd_generate(a.o, a.specs, a.all, a.force, a.overwrite, a.dry_run, out, err);
     }},
    {"matrix", "every cell: recipe state, GPU target and its source, exclusions",
     [](CLI::App& c, Args& a) { c.add_flag("--json", a.o.json, "print one JSON document"); },
     [](Args& a, std::ostream& out, std::ostream& err) { return cmd_matrix(a.o, out, err); }},
    {"check-config", "load the config, matrix and templates and report problems",
     [](CLI::App& c, Args& a) {
       c.add_flag("--probe", a.probe,
                  "also build a trivial derivation on each builder for each of its systems, "
                  "placed as tvd places a build (reachable, systems, features, Nix's trust)");
     },
     [](Args& a, std::ostream& out, std::ostream& err) {
       return cmd_check_config(a.o.config, a.probe, out, err);
     }},
    {"check", "pre-flight checks of recipes: what would fail in flox build, and the fix",
     [](CLI::App& c, Args& a) {
       c.add_option("spec", a.check.specs,
                    "variants (as for generate); default: every cell of the matrix");
       c.add_flag("--json", a.check.json, "print one JSON document");
       c.add_flag("--no-eval", a.check.no_eval,
                  "only the checks of the recipes' text, no evaluation by Nix");
       c.footer(
           "Each finding names the file and line, what would fail and when, and the fix. With\n"
           "nix-instantiate installed (config \"check\"), each recipe is also evaluated for its\n"
           "platform as flox would, up to its derivation. Exit 1 when there is an error finding.");
     },
     [](Args& a, std::ostream& out, std::ostream& err) {
       a.check.config = a.o.config;
       return cmd_check(a.check, out, err);
     }},
    {"serve", "run the service in the foreground (systemd runs this)", [](CLI::App&, Args&) {},
     [](Args& a, std::ostream& out, std::ostream& err) {
       return app::serve(a.o.config, out, err);
     }},
    {"simulate", "a night of builds on a virtual clock: tvd's policy against fifo-2 and serial",
     [](CLI::App& c, Args& a) {
       c.add_option("--memory", a.simulate.memory, "host memory (default 256GiB)");
       c.add_option("--cores", a.simulate.cores, "host cores (default 64)");
       c.add_option("--max-parallel", a.simulate.max_parallel,
                    "tvd's slots: a number, or auto = max(1, cores / 32)");
       c.add_option("--budget", a.simulate.budget,
                    "memory budget: a size, or auto = memory less max(4 GiB, 5 %)");
       c.add_option("--profile", a.simulate.profile,
                    "JSON list of {variant, kind, peak, duration}; default: the matrix with "
                    "realistic figures");
       c.add_option("--builders", a.simulate.builders,
                    "a farm to compare, repeatable: JSON list of {name, systems, memory, cores}");
       c.add_flag("--json", a.o.json, "print one JSON document");
       c.footer(
           "Examples:\n"
           "  tvd simulate                              the default night on a 256 GiB, 64-core "
           "host\n"
           "  tvd simulate --builders one.json --builders three.json   two farms, side by side\n"
           "  tvd simulate --memory 512GiB --cores 128  a bigger host\n"
           "  tvd simulate --profile night.json --json");
     },
     [](Args& a, std::ostream& out, std::ostream& err) {
       return cmd_simulate(a.o.config, a.o.json, a.simulate, out, err);
     }},
};

}  // namespace

int run_tvd(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{"tvd: builds a matrix of TorchVision variants with flox", "tvd"};
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tvd ") + TVD_VERSION);
  Args a;
  std::string config_path;
  app.add_option("--config", config_path,
                 "config file (default: /etc/tvd/tvd.json if it exists, else built-in defaults "
                 "with flox_env the current directory)");
  std::vector<std::pair<const Tool*, CLI::App*>> tools;
  for (const auto& t : kTools) {
    CLI::App* sub = app.add_subcommand(t.name, t.help);
    t.declare(*sub, a);
    tools.emplace_back(&t, sub);
  }

  std::vector<std::string> names;
  for (const auto& t : kTools)
    names.emplace_back(t.name);
  if (auto unknown = unknown_command(args, names, {"--config"})) {
    err << "tvd: " << *unknown << "\n  hint: run 'tvd --help'\n";
    return 2;
  }
  std::vector<std::string> argv_rev(args.rbegin(), args.rend());
  try {
    app.parse(argv_rev);
  } catch (const CLI::CallForVersion&) {
    out << "tvd " << TVD_VERSION << '\n';
    return 0;
  } catch (const CLI::CallForHelp&) {
    out << app.help();  // CLI11 delegates to the subcommand that was named
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "tvd: " << e.what() << "\n  hint: run 'tvd --help' or 'tvd COMMAND --help'\n";
    return 2;
  }
  if (!config_path.empty()) a.o.config = config_path;
  for (const auto& [t, sub] : tools) {
    if (sub->parsed()) return t->run(a, out, err);
  }
  return 2;
}

}  // namespace tvd
