// Looking at recipe files and writing the missing ones. A recipe is never overwritten unless the
// caller says so; every variant gets a report of what its file is and what was done.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "daemon/matrix/spec.h"
#include "daemon/recipe/check.h"
#include "daemon/recipe/recipe.h"

namespace tvd {

enum class FileState {
  kMissing,
  kCurrent,  // exists and equals what the templates give now
  kDiffers,  // exists and differs: edited by hand, or from an older template
};
std::string_view to_string(FileState s);

enum class Outcome {
  kNone,  // inspected only
  kWritten,
  kOverwritten,
  kWouldWrite,      // dry run
  kWouldOverwrite,  // dry run
  kUnchanged,       // already current
  kKept,            // differs, left alone
  kExcluded,        // not buildable and not forced
};
std::string_view to_string(Outcome o);

struct RecipeReport {
  Variant variant;
  std::filesystem::path file;
  std::vector<std::string> exclusions;
  bool chosen = true;
  RecipeChoices choices;  // GPU target, nixpkgs, and where they come from
  FileState state = FileState::kMissing;
  std::optional<std::string> file_target;  // the gpuTargets an existing GPU recipe passes
  std::string warning;            // e.g. the file's GPU target disagrees with its PyTorch recipe's
  std::vector<Finding> findings;  // of the file's text (check.h), when it exists
  Outcome outcome = Outcome::kNone;
  std::string text;      // what the templates give now
  std::string previous;  // the file's text when it differs
};

struct RecipeEnv {
  std::filesystem::path flox_env;     // holds .flox/pkgs
  std::filesystem::path pytorch_env;  // the sibling build-pytorch checkout
  std::filesystem::path pkgs_dir() const { return flox_env / ".flox" / "pkgs"; }
};

// What each selected variant's recipe is and would be. Writes nothing.
Result<std::vector<RecipeReport>> inspect_recipes(const TemplateSet& templates,
                                                  const RecipeEnv& env,
                                                  const std::vector<Selection>& selections);

struct GenerateOptions {
  bool dry_run = false;
  bool overwrite = false;  // replace recipes that differ
};

// inspect_recipes, then writes. Everything is rendered before the first write, and a failed
// write removes what this call had written, so an error leaves the directory as it was.
Result<std::vector<RecipeReport>> generate_recipes(const TemplateSet& templates,
                                                   const RecipeEnv& env,
                                                   const std::vector<Selection>& selections,
                                                   GenerateOptions options);

}  // namespace tvd
