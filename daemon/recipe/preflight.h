// `tvd check`: every selected recipe of an environment through the checks of check.h, what git
// says of the environment, and (when asked) a real evaluation by Nix for each recipe's platform.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/recipe/check.h"
#include "daemon/recipe/evaluate.h"
#include "daemon/recipe/generate.h"

namespace tvd {

struct RecipeCheck {
  RecipeReport report;
  std::vector<Finding> findings;
  bool evaluated = false;
  std::string drv_path;  // when it evaluated
  std::string system;    // the derivation's system, when it evaluated
};

struct EnvironmentCheck {
  std::vector<RecipeCheck> recipes;
  std::vector<Finding> environment;  // not one recipe's: committed result links
  bool evaluated = false;
  std::string not_evaluated;  // why not, when not
  std::chrono::milliseconds static_time{}, evaluation_time{};
  size_t errors() const;
  size_t warnings() const;
};

struct PreflightOptions {
  std::optional<EvalSettings> evaluate;  // nullopt: no evaluation
  std::string why_not_evaluated;
  std::map<std::string, std::string> env;  // for git and nix-instantiate
};

// Files of .flox/pkgs that are not a selected cell's own file: a hand-written recipe under
// another spelling (a dot in its name), checked as the variant it names; or none.
struct StrayRecipe {
  std::filesystem::path file;
  std::optional<Variant> variant;  // nullopt: it names no cell of the matrix
};

Result<EnvironmentCheck> check_environment(const TemplateSet& templates, const RecipeEnv& env,
                                           const std::vector<Selection>& selections,
                                           const std::vector<StrayRecipe>& strays,
                                           const PreflightOptions& options);

// The text a build of this report's variant would use: the file's when it exists, else what the
// templates give (the engine writes that first).
const std::string& text_to_build(const RecipeReport& r);

}  // namespace tvd
