// Which GPU pattern a recipe uses. The seed says: check the PyTorch pattern first. So the sibling
// PyTorch environment's recipe for the same Python, CUDA and architecture decides (the same ISA's
// file first), and matrix.json's "pattern" is only the fallback. Every choice says its source.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "daemon/matrix/matrix.h"

namespace tvd {

struct PatternChoice {
  Pattern pattern = Pattern::kB;
  std::string source;  // "pytorch: <file>" or "matrix.json: <reason>"
  bool from_pytorch = false;
};

// A: the text names gpuArchSM. B: it does not.
Pattern pattern_of_text(std::string_view nix_text);

class PytorchRecipes {
 public:
  // Lists <pytorch_env>/.flox/pkgs once; no directory means no recipes.
  static PytorchRecipes scan(const std::filesystem::path& pytorch_env);

  // For a GPU variant.
  PatternChoice choose(const Variant& v) const;

  const std::filesystem::path& dir() const { return dir_; }
  size_t size() const { return files_.size(); }

 private:
  std::filesystem::path dir_;
  std::vector<std::string> files_;  // sorted file names
};

}  // namespace tvd
