// `tvd check`: the pre-flight checks of recipes (daemon/recipe/preflight.h), printed.
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "daemon/base/table.h"
#include "daemon/cli/tvd_cli.h"
#include "daemon/config/setup.h"
#include "daemon/exec/capture.h"
#include "daemon/exec/child_env.h"
#include "daemon/matrix/spec.h"
#include "daemon/recipe/preflight.h"
#include "daemon/service/recipe_view.h"

extern char** environ;

namespace tvd {

namespace {

using nlohmann::json;

std::vector<std::string> list_nix_files(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->path().extension() == ".nix") out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The evaluation settings the config asks for, or why there is no evaluation.
std::optional<EvalSettings> evaluation(const Config& c, bool no_eval,
                                       const std::map<std::string, std::string>& env,
                                       std::string& why_not) {
  if (no_eval) {
    why_not = "--no-eval";
    return std::nullopt;
  }
  if (c.check.evaluate == false) {
    why_not = "check.evaluate is false in the config";
    return std::nullopt;
  }
  EvalSettings s;
  s.nix_instantiate = c.check.nix_instantiate;
  s.store = c.check.store;
  s.nix_path = c.check.nix_path;
  s.nixpkgs_sources = c.check.nixpkgs_sources;
  s.parallel = c.check.parallel;
  s.timeout = c.check.timeout;
  auto probe =
      exec::capture_all({{s.nix_instantiate, "--version"}}, env, 1, std::chrono::seconds(30));
  if (!probe[0].started || probe[0].exit_code != 0) {
    why_not = "'" + s.nix_instantiate + "' cannot run (" +
              (probe[0].started ? probe[0].err.substr(0, 200) : probe[0].err) +
              "); install nix (Debian: nix-bin) or set check.nix_instantiate";
    if (c.check.evaluate == true) why_not = "check.evaluate is true but " + why_not;
    return std::nullopt;
  }
  return s;
}

}  // namespace

int cmd_check(const CheckArgs& a, std::ostream& out, std::ostream& err) {
  auto setup = load_setup(a.config);
  if (!setup) return report_error(setup.error(), err);

  std::vector<Selection> selections;
  if (a.specs.empty()) {
    for (const auto& e : setup->environments) {
      auto cells = e.cells();
      selections.insert(selections.end(), cells.begin(), cells.end());
    }
  } else {
    auto sel = resolve_specs(setup->matrices(), a.specs, /*force=*/true);
    if (!sel) return report_error(nothing_done(sel.error(), "Nothing was checked."), err);
    selections = std::move(*sel);
  }

  const auto env = exec::without_secrets(exec::child_environment(environ));
  PreflightOptions options;
  options.env = env;
  options.evaluate = evaluation(setup->config, a.no_eval, env, options.why_not_evaluated);

  // Each environment with its own templates and checkout; the results in one report.
  std::optional<EnvironmentCheck> checked;
  for (const auto& e : setup->environments) {
    std::vector<Selection> mine;
    for (const auto& s : selections)
      if (s.variant.environment == &e.environment()) mine.push_back(s);
    if (mine.empty()) continue;
    const RecipeEnv renv = recipe_env(e);
    // Without specs, every recipe file is looked at: one that is no cell's own file is checked
    // as the variant its name spells (a dot where the name needs an underscore), if any.
    std::vector<StrayRecipe> strays;
    if (a.specs.empty()) {
      std::set<std::filesystem::path> own;
      for (const auto& s : mine)
        own.insert(renv.pkgs_dir() / (s.variant.package() + ".nix"));
      for (const auto& name : list_nix_files(renv.pkgs_dir())) {
        auto file = renv.pkgs_dir() / name;
        if (own.count(file)) continue;
        auto sel = resolve_specs(e.matrix, {file.stem().string()}, /*force=*/true);
        strays.push_back({file, sel ? std::optional<Variant>(sel->front().variant) : std::nullopt});
      }
    }
    auto one = check_environment(e.templates, renv, mine, strays, options);
    if (!one) return report_error(one.error(), err);
    if (!checked) {
      checked = std::move(*one);
      continue;
    }
    for (auto& r : one->recipes)
      checked->recipes.push_back(std::move(r));
    for (auto& f : one->environment)
      checked->environment.push_back(std::move(f));
    checked->evaluated = checked->evaluated && one->evaluated;
    if (checked->not_evaluated.empty()) checked->not_evaluated = one->not_evaluated;
    checked->static_time += one->static_time;
    checked->evaluation_time += one->evaluation_time;
  }
  if (!checked) return report_error({ErrorKind::kBadInput, "no cell to check"}, err);

  size_t present = 0, evaluated = 0;
  for (const auto& r : checked->recipes) {
    present += r.report.state != FileState::kMissing;
    evaluated += r.evaluated;
  }
  const int code = checked->errors() > 0 ? 1 : 0;
  if (a.json) {
    json j = {
        {"recipes", json::array()},
        {"environment", json::array()},
        {"summary",
         {{"cells", checked->recipes.size()},
          {"recipes", present},
          {"evaluated", evaluated},
          {"errors", checked->errors()},
          {"warnings", checked->warnings()},
          {"static_ms", checked->static_time.count()},
          {"evaluation_ms", checked->evaluation_time.count()},
          {"not_evaluated", checked->evaluated ? json(nullptr) : json(checked->not_evaluated)}}}};
    for (const auto& f : checked->environment)
      j["environment"].push_back(finding_json(f));
    for (const auto& r : checked->recipes) {
      json item = {{"package", r.report.variant.package()},
                   {"variant", r.report.variant.package()},  // its name before schema 10
                   {"file", r.report.file.string()},
                   {"state", to_string(r.report.state)},
                   {"excluded", r.report.exclusions},
                   {"evaluated", r.evaluated},
                   {"drv_path", r.drv_path.empty() ? json(nullptr) : json(r.drv_path)},
                   {"system", r.system.empty() ? json(nullptr) : json(r.system)},
                   {"findings", json::array()}};
      for (const auto& f : r.findings)
        item["findings"].push_back(finding_json(f));
      j["recipes"].push_back(std::move(item));
    }
    out << j.dump(2) << '\n';
    return code;
  }

  auto print = [&](const Finding& f) { out << f.to_line() << '\n'; };
  for (const auto& f : checked->environment)
    print(f);
  for (const auto& r : checked->recipes)
    for (const auto& f : r.findings)
      print(f);
  if (checked->errors() + checked->warnings() > 0) out << '\n';
  out << checked->recipes.size() << " cells, " << present << " recipes";
  if (checked->evaluated) {
    out << ", " << evaluated << " evaluated by Nix";
  }
  out << ": " << checked->errors() << " errors, " << checked->warnings() << " warnings ("
      << checked->static_time.count() << " ms";
  if (checked->evaluated) out << " + " << checked->evaluation_time.count() << " ms evaluating";
  out << ")\n";
  if (!checked->evaluated) out << "not evaluated: " << checked->not_evaluated << '\n';
  if (present < checked->recipes.size()) {
    out << checked->recipes.size() - present
        << " cells have no recipe yet ('tvd generate' writes them; jobs write their own)\n";
  }
  return code;
}

}  // namespace tvd
