#include "daemon/recipe/preflight.h"

#include <algorithm>
#include <set>

#include "daemon/base/file.h"
#include "daemon/exec/capture.h"
#include "daemon/exec/host.h"

namespace tvd {

namespace {

template <class F>
size_t count_all(const EnvironmentCheck& c, F&& pred) {
  size_t n = 0;
  for (const auto& f : c.environment)
    n += pred(f);
  for (const auto& r : c.recipes)
    for (const auto& f : r.findings)
      n += pred(f);
  return n;
}

// A derivation (or its torch) for another system than the cell's: evaluated as flox evaluates
// it here (`--argstr system PLATFORM`, builtins.currentSystem this host's).
std::optional<Finding> system_finding(const RecipeCheck& c, const Evaluation& e) {
  const std::string& platform = c.report.variant.isa->platform;
  std::string wrong;
  if (!e.system.empty() && e.system != platform) wrong = "it is a derivation for " + e.system;
  std::set<std::string> said;  // an input's outputs (torch's out and dev) are one input
  for (const auto& [name, system] : e.inputs) {
    if (system.empty() || system == platform || !said.insert(name).second) continue;
    wrong += (wrong.empty() ? "its input " : ", and its input ") + name + " is for " + system;
  }
  if (wrong.empty()) return std::nullopt;
  return Finding{Severity::kError,
                 "system",
                 c.report.file,
                 0,
                 "evaluated as `flox build --system " + platform + "` evaluates it on this " +
                     exec::host_system() + " host, " + wrong + ", not " + platform +
                     ": it would build that system's code under a " + platform +
                     " name and publish it (its nixpkgs is imported without `system`)",
                 "system = pkgs.stdenv.hostPlatform.system; in the import of its nixpkgs (as "
                 "tvd's templates do)"};
}

}  // namespace

size_t EnvironmentCheck::errors() const {
  return count_all(*this, [](const Finding& f) { return f.severity == Severity::kError; });
}
size_t EnvironmentCheck::warnings() const {
  return count_all(*this, [](const Finding& f) { return f.severity == Severity::kWarning; });
}

const std::string& text_to_build(const RecipeReport& r) {
  return r.state == FileState::kDiffers && !r.outdated_torch ? r.previous : r.text;
}

Result<EnvironmentCheck> check_environment(const TemplateSet& templates, const RecipeEnv& env,
                                           const std::vector<Selection>& selections,
                                           const std::vector<StrayRecipe>& strays,
                                           const PreflightOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto reports = inspect_recipes(templates, env, selections);
  if (!reports) return tl::unexpected(reports.error());

  EnvironmentCheck out;
  std::vector<std::filesystem::path> present;
  std::map<std::string, size_t> unhashed;  // a pin's missing hash: said once, with a count
  // A finding of the pin (its missing hash) goes to the environment, once; the others stay the
  // recipe's.
  auto keep = [&](std::vector<Finding> findings, RecipeCheck& c) {
    for (auto& f : findings) {
      if (f.code == "pin-hash") {
        if (unhashed[f.what]++ == 0) out.environment.push_back(std::move(f));
      } else {
        c.findings.push_back(std::move(f));
      }
    }
  };
  for (auto& r : *reports) {
    RecipeCheck c;
    if (r.state != FileState::kMissing) {
      keep(std::move(r.findings), c);
      present.push_back(r.file);
    }
    c.report = std::move(r);
    out.recipes.push_back(std::move(c));
  }
  const auto pytorch = PytorchRecipes::scan(env.pytorch_env);
  for (const auto& stray : strays) {
    RecipeCheck c;
    if (!stray.variant) {
      out.environment.push_back(
          {Severity::kWarning, "unknown-package", stray.file, 0,
           "names no cell of the matrix: tvd neither checks nor builds it, and `flox build` of it "
           "builds whatever it says",
           "rename it to a cell's package name, or add its axes to the matrix"});
      continue;
    }
    auto text = read_file(stray.file);
    if (!text) continue;
    c.report.variant = *stray.variant;
    c.report.file = stray.file;
    c.report.state = FileState::kDiffers;
    c.report.previous = *text;
    c.report.choices = pytorch.choose(*stray.variant);
    keep(
        check_recipe_text(*stray.variant, stray.file, *text, c.report.choices, exec::host_system()),
        c);
    present.push_back(stray.file);
    out.recipes.push_back(std::move(c));
  }
  for (auto& f : out.environment) {
    if (f.code == "pin-hash" && unhashed[f.what] > 1)
      f.what += " (and in " + std::to_string(unhashed[f.what] - 1) + " more recipes)";
  }

  // One `git ls-files` for the whole environment.
  auto git = exec::capture_all({{"git", "-C", env.flox_env.string(), "ls-files", "-z"}},
                               options.env, 1, std::chrono::seconds(60));
  if (git[0].started && git[0].exit_code == 0) {
    GitView view;
    const std::string& z = git[0].out;
    for (size_t start = 0; start < z.size();) {
      size_t end = z.find('\0', start);
      if (end == std::string::npos) end = z.size();
      view.tracked.push_back(z.substr(start, end - start));
      start = end + 1;
    }
    for (auto& f : check_tracking(env.flox_env, view, present)) {
      auto it = std::find_if(out.recipes.begin(), out.recipes.end(),
                             [&](const RecipeCheck& c) { return c.report.file == f.file; });
      (it == out.recipes.end() ? out.environment : it->findings).push_back(std::move(f));
    }
  } else {
    out.environment.push_back({Severity::kWarning, "git", env.flox_env, 0,
                               "cannot list the checkout's tracked files (" +
                                   (git[0].started ? git[0].err.substr(0, 200) : git[0].err) +
                                   "): flox builds only git-tracked recipes",
                               "make flox_env a git checkout"});
  }
  const auto t1 = Clock::now();
  out.static_time = std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0);

  if (!options.evaluate) {
    out.not_evaluated = options.why_not_evaluated;
    return out;
  }
  std::vector<std::pair<std::filesystem::path, std::string>> todo;
  std::vector<RecipeCheck*> targets;
  for (auto& c : out.recipes) {
    if (c.report.state == FileState::kMissing) continue;
    todo.emplace_back(c.report.file, c.report.variant.isa->platform);
    targets.push_back(&c);
  }
  auto evaluations = evaluate_recipes(*options.evaluate, todo, options.env);
  for (size_t i = 0; i < evaluations.size(); ++i) {
    RecipeCheck& c = *targets[i];
    c.evaluated = true;
    if (evaluations[i].ok) {
      c.drv_path = evaluations[i].drv_path;
      c.system = evaluations[i].system;
      if (auto f = system_finding(c, evaluations[i])) {
        // What Nix made says it for sure: it replaces what the text suggested.
        std::erase_if(c.findings, [](const Finding& x) { return x.code == "pin-system"; });
        c.findings.push_back(std::move(*f));
      }
    } else {
      c.findings.push_back(evaluation_finding(evaluations[i]));
    }
  }
  out.evaluated = true;
  out.evaluation_time = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t1);
  return out;
}

}  // namespace tvd
