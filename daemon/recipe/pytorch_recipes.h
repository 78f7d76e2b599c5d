// What a TorchVision recipe takes from its sibling PyTorch recipe in build-pytorch: the value it
// passes as gpuTargets and the nixpkgs it imports, so that both build against the same PyTorch
// configuration. The seed's "check the PyTorch pattern first" was about variable names; since
// build-pytorch writes `gpuArchSM = "8.9"` what matters is the value, and it must be one that
// PyTorch's CMake accepts: a PyTorch recipe passing "sm_89" is reported as broken, never copied.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "daemon/matrix/matrix.h"

namespace tvd {

// What a recipe's text says, read without evaluating it.
struct RecipeFacts {
  std::optional<std::string> gpu_target;      // the first of gpuTargets, variables followed
  size_t gpu_target_line = 0;                 // where that value is written (1-based)
  std::optional<std::string> nixpkgs_commit;  // github.com/NixOS/nixpkgs/archive/<commit>
  std::optional<std::string> nixpkgs_sha256;  // the fetchTarball's sha256, when given
  std::optional<std::string> cuda_packages;   // cudaPackages = final.<attr> (an overlay)
  size_t cuda_packages_line = 0;
  // Its pinned nixpkgs is imported without `system`: it takes builtins.currentSystem, the
  // evaluating host's, not the system flox builds for.
  bool pin_without_system = false;
  size_t pin_line = 0;
  // A TorchVision recipe's custom torch (`torch = customPytorch;` in torchvision's override) and
  // whether its `out` is in propagatedBuildInputs (else only torch's header-only `dev` is).
  std::optional<std::string> torch_variable;
  size_t torch_variable_line = 0;
  bool propagates_torch_out = false;
};
RecipeFacts read_recipe_facts(std::string_view nix_text);

// The choices a variant's recipe is rendered with, each with where it came from.
struct RecipeChoices {
  std::string gpu_target;  // GPU variants: "8.9"
  std::string gpu_target_source;
  const NixpkgsPin* pin = nullptr;  // the matrix's; null: flox's own nixpkgs
  std::string nixpkgs_commit;       // empty: flox's own nixpkgs
  std::string nixpkgs_sha256;
  std::string nixpkgs_source;
  std::optional<std::filesystem::path> pytorch_file;  // the sibling recipe that was read
  bool from_pytorch = false;                          // the sibling decided the GPU target
  // What is wrong in the sibling PyTorch recipe (it passes "sm_89", its CUDA is another one): a
  // sentence each, with the fix. Such a value is never taken.
  std::vector<std::string> pytorch_problems;
  // Paired: the PyTorch recipe this one imports for its torch, as a path from .flox/pkgs/
  // ("../pytorch/pytorch-python313-cpu-avx2.nix"), and a line saying whence and which text.
  std::string torch_recipe;
  std::string torch_note;
};

class PytorchRecipes {
 public:
  // Lists <pytorch_env>/.flox/pkgs once; no directory means no recipes.
  static PytorchRecipes scan(const std::filesystem::path& pytorch_env);

  // The sibling recipe for the same Python, CUDA and GPU architecture decides (the same ISA's file
  // first, then CPU-only's for CPU variants); the matrix decides what it does not say.
  RecipeChoices choose(const Variant& v) const;

  const std::filesystem::path& dir() const { return dir_; }
  size_t size() const { return files_.size(); }

 private:
  std::filesystem::path dir_;
  std::vector<std::string> files_;  // sorted file names
};

}  // namespace tvd
