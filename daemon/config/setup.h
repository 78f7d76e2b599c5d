// The configured world every command starts from: the config, and each environment it serves
// with its own matrix (built-in or a file, with its pin and axes applied) and its product's
// templates.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/matrix/matrix.h"
#include "daemon/recipe/generate.h"
#include "daemon/recipe/recipe.h"

namespace tvd {

// One environment as tvd serves it: its checkout and product (its matrix holds both), its cells,
// its product's templates, and where its torch comes from.
struct EnvironmentSetup {
  Matrix matrix;
  TemplateSet templates;
  std::string matrix_origin;  // "built-in" or the file
  std::string org;            // the FloxHub organisation it publishes to
  // Where its recipes' torch choices (GPU target, nixpkgs) are read: the shorthand's
  // pytorch_env, or nothing (PyTorch's own environment, and a paired one: the matrix decides, its
  // torch is the copy of the paired recipe).
  std::filesystem::path pytorch_env;
  std::string torch_from;  // the paired PyTorch environment's name; empty: not paired
  // That environment, in the same Setup (whose environments never move once loaded).
  const EnvironmentSetup* torch = nullptr;

  const Environment& environment() const { return matrix.environment(); }
  const std::string& name() const { return matrix.environment().name; }
  const Product& product() const { return matrix.product(); }
  // Every cell, as a selection: an excluded one not chosen, with its reasons.
  std::vector<Selection> cells() const;
};

// A machine builds run on, as tvd places them: the local host, or a Nix remote builder of the
// machines file that tvd's config gives a memory budget.
struct BuilderSetup {
  std::string name;                   // "local", or the machine's URI as the file writes it
  std::vector<std::string> systems;   // what it builds
  std::vector<std::string> features;  // supported and mandatory
  unsigned slots = 0;                 // remote: its max-jobs; local: the scheduler's
  uint64_t budget = 0;                // remote: tvd's config; local: the scheduler's
  bool local = true;
  std::string nix_line;  // remote: the machine as a line of Nix's `builders` setting
  std::string origin;    // remote: FILE:LINE
};

struct Setup {
  Config config;
  std::vector<EnvironmentSetup> environments;   // the config's, in its order; never empty
  std::vector<BuilderSetup> builders = {};      // the local host first (unless off)
  std::vector<std::string> builder_notes = {};  // machines of the file tvd does not use, and why

  const EnvironmentSetup* find(std::string_view name) const;
  // The builders that build for `system`, by name; empty: none does.
  std::vector<std::string> builders_for(const std::string& system) const;

  // Each environment's matrix, in order: what specs are resolved against.
  std::vector<const Matrix*> matrices() const;
};

// Where an environment's recipes are: its checkout, the checkout its torch choices come from,
// and, paired, the environment whose recipes are its torch (copied under .flox/<product>/).
inline RecipeEnv recipe_env(const EnvironmentSetup& e) {
  RecipeEnv out{e.environment().checkout, e.pytorch_env};
  if (e.torch) {
    out.torch = TorchSource{e.torch->name(), e.torch->environment().checkout, &e.torch->templates,
                            &e.torch->matrix, e.torch->product().name};
  }
  return out;
}

Result<Setup> load_setup(const std::optional<std::filesystem::path>& config_path);

// Why a cell of `system` has no builder, and what to do about it.
std::string no_builder_text(const std::string& system);

}  // namespace tvd
