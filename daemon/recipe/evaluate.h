// A real evaluation of recipes by Nix, as flox evaluates them: `callPackage FILE {}` in a nixpkgs
// for the recipe's platform, up to its derivation (`.drvPath`). An evaluation error here is the
// error `flox build` would stop on; what evaluates may still fail in the builder.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/recipe/check.h"

namespace tvd {

struct EvalSettings {
  std::string nix_instantiate = "nix-instantiate";  // a path, or a name found in PATH
  std::optional<std::string> store;                 // --store (e.g. "dummy://")
  std::vector<std::string> nix_path;                // -I entries: "nixpkgs=/path"
  // Local copies of pinned nixpkgs, by commit: the recipe's fetchTarball of that commit reads
  // the copy instead of the network (offline hosts, and tests with a stub of nixpkgs).
  std::map<std::string, std::filesystem::path> nixpkgs_sources;
  unsigned parallel = 2;
  std::chrono::seconds timeout{300};
  bool inspect = false;  // also report the derivation's attributes (tests)
  // Instantiate rather than evaluate: the .drv files are written into the store (an evaluation
  // only computes their paths) so that `nix-store --realise` can build them; only drv_path is
  // reported.
  bool instantiate = false;
};

// The nix-instantiate command line for one recipe, evaluated for `system`.
std::vector<std::string> evaluation_argv(const EvalSettings& s, const std::filesystem::path& recipe,
                                         const std::string& system);

struct Evaluation {
  std::filesystem::path file;
  bool ok = false;
  std::string drv_path;  // when ok
  std::string system;    // the derivation's `system`, when ok
  // Its propagated inputs (TorchVision's torch): name and system.
  std::vector<std::pair<std::string, std::string>> inputs;
  std::string json;   // stdout: the wrapper's JSON
  std::string error;  // Nix's error, first lines
};

// Evaluates every recipe (file, system) pair; several at once.
std::vector<Evaluation> evaluate_recipes(
    const EvalSettings& s,
    const std::vector<std::pair<std::filesystem::path, std::string>>& recipes,
    const std::map<std::string, std::string>& env);

// The finding for a failed evaluation.
Finding evaluation_finding(const Evaluation& e);

}  // namespace tvd
