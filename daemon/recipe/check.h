// Pre-flight checks of recipes, generated or hand-written: the known ways a recipe fails minutes
// or hours into `flox build` (or at publish), found from its text in milliseconds. Each finding
// names the file and line, what would fail and when, and the fix. A real evaluation with Nix
// (evaluate.h) adds what text cannot show.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "daemon/matrix/matrix.h"
#include "daemon/recipe/pytorch_recipes.h"

namespace tvd {

enum class Severity { kError, kWarning };
std::string_view to_string(Severity s);

struct Finding {
  Severity severity = Severity::kError;
  std::string code;  // stable: "pytorch-alias", "sm-target", ...
  std::filesystem::path file;
  size_t line = 0;   // 0: the file as a whole
  std::string what;  // what would fail, and when
  std::string fix;

  // "FILE:LINE: error: WHAT (fix: FIX)", one line.
  std::string to_line() const;
};

// What the text of `v`'s recipe says, against the matrix (and the choices its PyTorch sibling
// makes). `file` names the recipe in findings. `host_system` is the system of the host that
// evaluates it for flox (exec::host_system()); empty: not known.
std::vector<Finding> check_recipe_text(const Variant& v, const std::filesystem::path& file,
                                       std::string_view text, const RecipeChoices& choices,
                                       std::string_view host_system = {});

// What git says of the environment: a recipe flox cannot see, build results committed.
struct GitView {
  std::vector<std::string> tracked;  // paths relative to the checkout, as `git ls-files` gives
};
std::vector<Finding> check_tracking(const std::filesystem::path& flox_env, const GitView& git,
                                    const std::vector<std::filesystem::path>& recipes);

bool has_error(const std::vector<Finding>& findings);
// "recipe would fail: WHAT (and N more errors)", or empty without errors: for one-line notes.
std::string error_summary(const std::vector<Finding>& findings);

}  // namespace tvd
