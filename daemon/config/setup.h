// The configured world every command starts from: the config, the matrix it names (built-in or
// a file) with its axes applied, and the templates.
#pragma once

#include <optional>

#include "daemon/config/config.h"
#include "daemon/matrix/matrix.h"
#include "daemon/recipe/generate.h"
#include "daemon/recipe/recipe.h"

namespace tvd {

struct Setup {
  Config config;
  Matrix matrix;
  TemplateSet templates;
  std::string matrix_origin;  // "built-in" or the file
};

// Where the setup's recipes are: its environment's checkout, and the sibling build-pytorch.
inline RecipeEnv recipe_env(const Setup& s) {
  return {s.matrix.environment().checkout, s.config.pytorch_env};
}

Result<Setup> load_setup(const std::optional<std::filesystem::path>& config_path);

}  // namespace tvd
