// A variant's recipe: the template its kind picks (gpu.nix.in or cpu.nix.in), filled from the
// matrix tables and the choices its sibling PyTorch recipe makes (GPU target, nixpkgs).
//
// Where the seed's examples and tables disagree, the tables win, by one rule: {CPU_HARDWARE}
// comes from the ISA table (the compiler flags set what CPU the build needs) and {CHOOSE_THIS_IF}
// from the GPU table for the ISA's platform.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "daemon/matrix/matrix.h"
#include "daemon/recipe/pytorch_recipes.h"
#include "daemon/recipe/template.h"

namespace tvd {

// The placeholders templates may use.
const std::set<std::string, std::less<>>& known_placeholders();

struct TemplateSet {
  Template gpu;  // gpu.nix.in
  Template cpu;  // cpu.nix.in
  std::string origin;
  // gpu-paired.nix.in and cpu-paired.nix.in: a dependent product's recipes when its torch is the
  // paired environment's recipe (RecipeChoices::torch_recipe); none for other products.
  std::optional<Template> gpu_paired, cpu_paired;

  // A built-in product's (builtin_products()): its two templates compiled into tvd.
  static Result<TemplateSet> embedded(std::string_view product);
  // The two files from a directory; a missing one is an error. A template that still calls
  // PyTorch `pytorch` (nixpkgs' removed alias) is refused with its line.
  static Result<TemplateSet> load(const std::filesystem::path& dir);
};

// The seed's placeholders from the tables alone (what its own templates use).
Substitutions substitutions(const Variant& v);
// Those plus what today's templates need: GPU target, CUDA attribute, nixpkgs source, PyTorch
// build tweaks.
Substitutions substitutions(const Variant& v, const RecipeChoices& choices);

// The recipe text.
Result<std::string> render_recipe(const TemplateSet& templates, const Variant& v,
                                  const RecipeChoices& choices);

// "-mavx2" "-mfma" "-mf16c" laid out as the seed's tables do: each flag but the last padded to
// 15 columns.
std::string format_cpu_flags(const std::vector<std::string>& flags);

}  // namespace tvd
