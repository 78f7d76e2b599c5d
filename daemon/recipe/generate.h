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

// A file tvd writes and commits with a recipe: the copy of the paired torch recipe it imports.
struct Companion {
  std::filesystem::path file;  // in the recipe's checkout
  std::string text;
};

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
  std::string text;                   // what the templates give now
  std::string previous;               // the file's text when it differs
  std::vector<Companion> companions;  // written and committed with the recipe (paired)
  // It differs only in the paired torch recipe it names (its text changed): tvd's own recipe,
  // which tvd replaces, with its copy, in one commit (state stays kDiffers, `previous` its text).
  bool outdated_torch = false;
};

// A paired environment's torch: the environment whose recipe of the same cell is this one's
// torch (its checkout, templates and matrix), and the directory under this checkout's .flox/
// where tvd keeps its copies of those recipes (the product's name: .flox/pytorch/).
struct TorchSource {
  std::string environment;
  std::filesystem::path checkout;
  const TemplateSet* templates = nullptr;
  const Matrix* matrix = nullptr;
  std::string dir;
};

struct RecipeEnv {
  std::filesystem::path flox_env;     // holds .flox/pkgs
  std::filesystem::path pytorch_env;  // the checkout of the PyTorch recipes its choices follow
  std::optional<TorchSource> torch = std::nullopt;  // paired: where its torch's recipe is
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
// write removes what this call had written, so an error leaves the directory as it was. The
// companions of every chosen recipe that is written or current are written where they differ
// (they are tvd's own files).
Result<std::vector<RecipeReport>> generate_recipes(const TemplateSet& templates,
                                                   const RecipeEnv& env,
                                                   const std::vector<Selection>& selections,
                                                   GenerateOptions options);

}  // namespace tvd
