#include "daemon/recipe/check.h"

#include <algorithm>
#include <regex>

namespace tvd {

std::string_view to_string(Severity s) {
  return s == Severity::kError ? "error" : "warning";
}

std::string Finding::to_line() const {
  std::string out = file.string();
  if (line > 0) out += ":" + std::to_string(line);
  out += ": " + std::string(to_string(severity)) + ": " + what;
  if (!fix.empty()) out += " (fix: " + fix + ")";
  return out;
}

bool has_error(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::kError; });
}

std::string error_summary(const std::vector<Finding>& findings) {
  const Finding* first = nullptr;
  size_t errors = 0;
  for (const auto& f : findings) {
    if (f.severity != Severity::kError) continue;
    if (!first) first = &f;
    ++errors;
  }
  if (!first) return "";
  std::string out = "recipe would fail: " +
                    (first->line ? "line " + std::to_string(first->line) + ": " : std::string()) +
                    first->what;
  if (errors > 1) out += " (and " + std::to_string(errors - 1) + " more errors)";
  return out;
}

namespace {

size_t line_at(std::string_view text, size_t pos) {
  return 1 +
         static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
}

// The last match of `re` (the recipe's own pname and meta come after PyTorch's).
std::optional<std::smatch> last_match(const std::string& text, const std::regex& re) {
  std::optional<std::smatch> last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it)
    last = *it;
  return last;
}

}  // namespace

std::vector<Finding> check_recipe_text(const Variant& v, const std::filesystem::path& file,
                                       std::string_view view, const RecipeChoices& choices,
                                       std::string_view host_system) {
  std::vector<Finding> out;
  const std::string text(view);
  auto add = [&](Severity s, std::string code, size_t line, std::string what, std::string fix) {
    out.push_back({s, std::move(code), file, line, std::move(what), std::move(fix)});
  };
  const std::string stem = file.stem().string();

  // nixpkgs removed the alias: pkgs/top-level/python-aliases.nix throws.
  static const std::regex kAlias(R"re(\.pytorch([^\w'-]|$))re");
  std::smatch m;
  if (std::regex_search(text, m, kAlias)) {
    add(Severity::kError, "pytorch-alias", line_at(text, static_cast<size_t>(m.position(0))),
        "calls `pytorch`: evaluation fails at once with \"'pytorch' has been renamed to/replaced "
        "by 'torch'\" (nixpkgs removed the alias)",
        "write `.torch`");
  }

  const RecipeFacts facts = read_recipe_facts(text);
  if (v.is_gpu()) {
    if (!facts.gpu_target) {
      add(Severity::kWarning, "no-gpu-target", 0,
          "passes no gpuTargets: PyTorch is built for every capability nixpkgs lists (hours "
          "longer, larger), not for " +
              v.gpu->name,
          "gpuTargets = [ \"" + v.gpu->decimal + "\" ]");
    } else if (auto problem = cuda_arch_problem(*facts.gpu_target); !problem.empty()) {
      add(Severity::kError, "sm-target", facts.gpu_target_line,
          "gpuTargets \"" + *facts.gpu_target + "\": " + problem.substr(0, problem.find(';')) +
              ", hours into the build",
          "gpuArchSM = \"" + choices.gpu_target + "\"");
    } else if (*facts.gpu_target != choices.gpu_target) {
      add(Severity::kWarning, "gpu-target", facts.gpu_target_line,
          "gpuTargets \"" + *facts.gpu_target + "\" is not " + v.gpu->name + "'s \"" +
              choices.gpu_target + "\" (" + choices.gpu_target_source + ")",
          "gpuArchSM = \"" + choices.gpu_target + "\"");
    }
    if (facts.cuda_packages) {
      const std::string& attr = *facts.cuda_packages;
      const std::string commit = facts.nixpkgs_commit.value_or("");
      const std::string where =
          commit.empty() ? std::string("its nixpkgs") : "nixpkgs " + commit.substr(0, 12);
      if (auto selected = cuda_selected(attr, commit, v.pins)) {
        if (*selected != v.cuda->version) {
          add(Severity::kError, "cuda-mismatch", facts.cuda_packages_line,
              "selects " + attr + " (CUDA " + *selected + " in " + where +
                  ") but the name says CUDA " + v.cuda->version +
                  ": the package would be published as CUDA " + v.cuda->version +
                  " and built with another",
              "cudaPackages = final." + v.cuda->packages);
        }
      } else {
        // An alias moves between nixpkgs releases (cudaPackages_13 was 13.0, later 13.2): what
        // it is here is a fact of that nixpkgs, which matrix.json may not hold.
        add(Severity::kWarning, "cuda-alias", facts.cuda_packages_line,
            "selects " + attr + ", whose CUDA version is whatever " + where +
                " makes it; tvd does not know it there, so it cannot tell whether this is CUDA " +
                v.cuda->version + " as the name says",
            "cudaPackages = final." + v.cuda->packages +
                " names the version (or record the alias in that pin's cuda_aliases in "
                "matrix.json)");
      }
    } else {
      add(Severity::kWarning, "cuda-unselected", 0,
          "selects no CUDA: it builds with whatever cudaPackages its nixpkgs defaults to, not "
          "necessarily CUDA " +
              v.cuda->version + " as the name says",
          "an overlay: (final: prev: { cudaPackages = final." + v.cuda->packages + "; })");
    }
  }

  static const std::regex kPname(R"re(pname\s*=\s*"([^"]*)")re");
  if (auto p = last_match(text, kPname); p && (*p)[1].str() != stem) {
    add(Severity::kError, "pname", line_at(text, static_cast<size_t>(p->position(1))),
        "pname \"" + (*p)[1].str() + "\" is not the file's name \"" + stem +
            "\": flox builds and publishes the package by its file name, so the output, its "
            "result-" +
            stem + " link and the catalog entry do not match",
        "pname = \"" + stem + "\"");
  }
  if (stem.find('.') != std::string::npos) {
    std::string dotless = stem;
    std::replace(dotless.begin(), dotless.end(), '.', '_');
    add(Severity::kError, "dot-in-name", 0,
        "the name has a dot: Nix reads it as an attribute path, so `flox build " + stem +
            "` fails with \"Target '" + stem + "' not found.\"",
        "rename the file to " + dotless + ".nix and its pname to match");
  }

  static const std::regex kPlatforms(R"re(platforms\s*=\s*([^;]*);)re");
  if (auto p = last_match(text, kPlatforms)) {
    const std::string value = (*p)[1].str();
    const size_t line = line_at(text, static_cast<size_t>(p->position(1)));
    static const std::regex kLiteral(R"re(^\[\s*((?:"[^"]*"\s*)*)\]\s*$)re");
    std::smatch lit;
    if (std::regex_match(value, lit, kLiteral)) {
      static const std::regex kItem(R"re("([^"]*)")re");
      std::vector<std::string> listed;
      const std::string items = lit[1].str();
      for (auto it = std::sregex_iterator(items.begin(), items.end(), kItem);
           it != std::sregex_iterator(); ++it)
        listed.push_back((*it)[1].str());
      if (listed != std::vector<std::string>{v.isa->platform}) {
        add(
            Severity::kError, "platforms", line,
            "meta.platforms lists [" +
                [&] {
                  std::string s;
                  for (const auto& l : listed)
                    s += (s.empty() ? "" : " ") + l;
                  return s;
                }() +
                "], but " + v.isa->token + " compiles only for " + v.isa->platform + ": a " +
                (v.isa->platform == "x86_64-linux" ? "aarch64" : "x86-64") +
                " host would try it and fail in the compiler, or " + v.isa->platform +
                " hosts refuse it at evaluation",
            "platforms = [ \"" + v.isa->platform + "\" ];");
      }
    } else {
      add(Severity::kWarning, "platforms", line,
          "meta.platforms is not a literal list, so it may let a host of another system try "
          "this " +
              v.isa->platform + " build",
          "platforms = [ \"" + v.isa->platform + "\" ];");
    }
  } else {
    add(Severity::kWarning, "platforms", 0,
        "no meta.platforms: hosts of every system would try this " + v.isa->platform + " build",
        "platforms = [ \"" + v.isa->platform + "\" ];");
  }

  if (facts.pin_without_system) {
    // flox passes the system it builds for as `--argstr system` (package-builder/flox-build.mk)
    // and nothing else: an import without it evaluates for builtins.currentSystem.
    const std::string& platform = v.isa->platform;
    const bool wrong_here = !host_system.empty() && host_system != platform;
    add(wrong_here ? Severity::kError : Severity::kWarning, "pin-system", facts.pin_line,
        wrong_here
            ? "imports its nixpkgs without `system`, so it takes the evaluating host's "
              "(builtins.currentSystem): from this " +
                  std::string(host_system) + " host, `flox build --system " + platform +
                  "` makes " + std::string(host_system) + " derivations under a " + platform +
                  " name (or check-meta refuses them), and publishes them"
            : "imports its nixpkgs without `system`, so it takes the evaluating host's "
              "(builtins.currentSystem): right on a " +
                  platform +
                  " host, but evaluated on a host of another system (a remote builder's setup), "
                  "it builds that host's code under this " +
                  platform + " name",
        "system = pkgs.stdenv.hostPlatform.system; in the import of its nixpkgs (as tvd's "
        "templates do)");
  }
  if (v.product && v.product->name == "torchvision" && facts.torch_variable &&
      !facts.propagates_torch_out) {
    const std::string& t = *facts.torch_variable;
    add(Severity::kError, "torch-out", facts.torch_variable_line,
        "builds TorchVision against " + t + " but does not propagate " + t +
            ".out: Nix's chooseDevOutputs puts torch's header-only `dev` output in its place, so "
            "an environment that installs this package gets no torch from it, or another one "
            "(the ABI mismatch build-torchvision fixed in 845c4ec)",
        "propagatedBuildInputs = (oldAttrs.propagatedBuildInputs or []) ++ [ " + t +
            ".out ]; in torchvision's overrideAttrs");
  }
  if (text.find("MAX_JOBS") == std::string::npos) {
    add(Severity::kWarning, "max-jobs", 0,
        "no MAX_JOBS: PyTorch's build runs as many compilers as the builder has cores and can "
        "run out of memory hours in",
        "export MAX_JOBS=32 in PyTorch's preConfigure");
  }
  if (text.find("big-parallel") == std::string::npos) {
    add(Severity::kWarning, "big-parallel", 0,
        "no requiredSystemFeatures = [ \"big-parallel\" ]: Nix may place this hours-long build "
        "on a remote builder meant for small ones",
        "requiredSystemFeatures = [ \"big-parallel\" ];");
  }
  if (facts.nixpkgs_commit && !facts.nixpkgs_sha256) {
    static const std::regex kUrl(R"re(github\.com/NixOS/nixpkgs/archive/)re");
    std::regex_search(text, m, kUrl);
    add(Severity::kWarning, "pin-hash", line_at(text, static_cast<size_t>(m.position(0))),
        "the nixpkgs pin " + facts.nixpkgs_commit->substr(0, 12) +
            " has no sha256: the tarball is fetched again whenever Nix's tarball cache expires, "
            "and nothing checks what arrives",
        "sha256 = \"<nix-prefetch-url --unpack URL>\"; (matrix.json: the pin's \"sha256\")");
  }
  for (const auto& p : choices.pytorch_problems) {
    add(Severity::kWarning, "pytorch-recipe", 0, "its PyTorch recipe is broken: " + p,
        "fix the PyTorch recipe in build-pytorch");
  }
  return out;
}

std::vector<Finding> check_tracking(const std::filesystem::path& flox_env, const GitView& git,
                                    const std::vector<std::filesystem::path>& recipes) {
  std::vector<Finding> out;
  for (const auto& path : git.tracked) {
    auto name = std::filesystem::path(path).filename().string();
    if (name.rfind("result-", 0) == 0 || name == "result") {
      out.push_back({Severity::kError, "result-committed", flox_env / path, 0,
                     "a build result link is committed: each `flox build` replaces it, the "
                     "checkout turns dirty, and `flox publish` refuses (\"Build repository must "
                     "be clean\")",
                     "git rm --cached '" + path + "' and ignore result-* in .gitignore"});
    }
  }
  for (const auto& file : recipes) {
    auto rel = std::filesystem::relative(file, flox_env).string();
    if (std::find(git.tracked.begin(), git.tracked.end(), rel) == git.tracked.end()) {
      out.push_back({Severity::kWarning, "untracked", file, 0,
                     "not tracked by git: flox evaluates only tracked files, so a `flox build` "
                     "of it by hand fails at once (\"The Nix expression for '" +
                         file.stem().string() + "' does not appear to be tracked by git.\")",
                     "git add " + rel + " (tvd's jobs commit the recipes they build)"});
    }
  }
  return out;
}

}  // namespace tvd
