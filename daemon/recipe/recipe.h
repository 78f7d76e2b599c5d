// A variant's recipe: the template its kind and pattern pick, filled from the matrix tables.
//
// Where the seed's examples and tables disagree, the tables win, by one rule: {CPU_HARDWARE}
// comes from the ISA table (the compiler flags set what CPU the build needs) and {CHOOSE_THIS_IF}
// from the GPU table for the ISA's platform.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "daemon/matrix/matrix.h"
#include "daemon/recipe/pattern.h"
#include "daemon/recipe/template.h"

namespace tvd {

// The placeholders templates may use.
const std::set<std::string, std::less<>>& known_placeholders();

struct TemplateSet {
  Template gpu_a;  // gpu-pattern-a.nix.in
  Template gpu_b;  // gpu-pattern-b.nix.in
  Template cpu;    // cpu.nix.in
  std::string origin;

  static Result<TemplateSet> embedded();
  // The three files from a directory; a missing one is an error.
  static Result<TemplateSet> load(const std::filesystem::path& dir);
};

Substitutions substitutions(const Variant& v);

// The recipe text; `pattern` is ignored for CPU-only variants.
Result<std::string> render_recipe(const TemplateSet& templates, const Variant& v, Pattern pattern);

// "-mavx2" "-mfma" "-mf16c" laid out as the seed's tables do: each flag but the last padded to
// 15 columns.
std::string format_cpu_flags(const std::vector<std::string>& flags);

}  // namespace tvd
