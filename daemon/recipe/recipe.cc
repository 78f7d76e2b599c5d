#include "daemon/recipe/recipe.h"

#include <cctype>
#include <system_error>

#include "config/embedded.h"
#include "daemon/base/file.h"

namespace tvd {

const std::set<std::string, std::less<>>& known_placeholders() {
  static const std::set<std::string, std::less<>> kKnown = {
      "PYTHON",         "PYTHON_PACKAGES",   "PYTHON_VERSION",
      "CUDA_MAJOR",     "CUDA_MINOR",        "CUDA_VERSION",
      "GPU_ARCH",       "GPU_ARCH_UPPER",    "GPU_ARCH_DECIMAL",
      "GPU_ARCH_NUM",   "GPU_DESC",          "GPU_HARDWARE",
      "CPU_ISA",        "CPU_ISA_DESC",      "CPU_FLAGS",
      "CPU_HARDWARE",   "PLATFORM",          "PLATFORMS",
      "CHOOSE_THIS_IF", "GPU_TARGET",        "GPU_TARGET_SOURCE",
      "CUDA_PACKAGES",  "NIXPKGS_SOURCE",    "NIXPKGS_NOTE",
      "TORCH_EXPORTS",  "TORCH_CMAKE_FLAGS", "ALLOW_BROKEN",
      "TORCH_RECIPE",   "TORCH_NOTE",
  };
  return kKnown;
}

namespace {

constexpr const char* kFiles[] = {"gpu.nix.in", "cpu.nix.in"};
// A dependent product's templates when its torch comes from a paired environment's recipe.
constexpr const char* kPairedFiles[] = {"gpu-paired.nix.in", "cpu-paired.nix.in"};

// nixpkgs renamed pythonXPackages.pytorch to torch; the alias now throws "'pytorch' has been
// renamed to/replaced by 'torch'" (pkgs/top-level/python-aliases.nix), so a template calling it
// would fail every recipe at evaluation.
std::string removed_alias_problem(std::string_view name, std::string_view text) {
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') ++line;
    if (text.compare(i, 8, ".pytorch") == 0) {
      char next = i + 8 < text.size() ? text[i + 8] : ' ';
      bool word_end = !(std::isalnum(static_cast<unsigned char>(next)) || next == '_' ||
                        next == '-' || next == '\'');
      if (word_end) {
        return std::string(name) + ": line " + std::to_string(line) +
               ": calls `.pytorch`, which nixpkgs renamed to `torch` (evaluation fails with "
               "\"'pytorch' has been renamed to/replaced by 'torch'\"); write `.torch`";
      }
    }
  }
  return "";
}

// The two templates, and the two paired ones when `paired` has them (empty texts: none).
Result<TemplateSet> assemble(std::string origin, const std::string_view (&texts)[2],
                             const std::string_view (&paired)[2]) {
  std::vector<std::optional<Template>> parsed;
  std::string errors, hint;
  const bool has_paired = !paired[0].empty() || !paired[1].empty();
  for (size_t i = 0; i < (has_paired ? 4u : 2u); ++i) {
    const char* name = i < 2 ? kFiles[i] : kPairedFiles[i - 2];
    const std::string_view text = i < 2 ? texts[i] : paired[i - 2];
    if (auto problem = removed_alias_problem(name, text); !problem.empty()) {
      errors += "\n" + problem;
      continue;
    }
    auto t = Template::parse(name, text, known_placeholders());
    if (t) {
      parsed.emplace_back(std::move(*t));
    } else {
      errors += "\n" + t.error().message;
      hint = t.error().hint;
    }
  }
  if (!errors.empty()) return fail(ErrorKind::kBadInput, origin + ":" + errors, hint);
  TemplateSet set{std::move(*parsed[0]), std::move(*parsed[1]), std::move(origin), {}, {}};
  if (has_paired) {
    set.gpu_paired = std::move(parsed[2]);
    set.cpu_paired = std::move(parsed[3]);
  }
  return set;
}

}  // namespace

Result<TemplateSet> TemplateSet::embedded(std::string_view product) {
  const std::string_view texts[2] = {embedded::template_text(product, kFiles[0]),
                                     embedded::template_text(product, kFiles[1])};
  const std::string_view paired[2] = {embedded::template_text(product, kPairedFiles[0]),
                                      embedded::template_text(product, kPairedFiles[1])};
  if (texts[0].empty() || texts[1].empty()) {
    return fail(ErrorKind::kBadInput,
                "no built-in templates for the product '" + std::string(product) + "'",
                "give the product a \"templates\" directory with gpu.nix.in and cpu.nix.in");
  }
  return assemble("built-in " + std::string(product) + " templates", texts, paired);
}

Result<TemplateSet> TemplateSet::load(const std::filesystem::path& dir) {
  std::string contents[2];
  for (size_t i = 0; i < 2; ++i) {
    auto text = read_file(dir / kFiles[i]);
    if (!text) {
      std::error_code ec;
      bool old = std::filesystem::exists(dir / "gpu-pattern-a.nix.in", ec);
      return fail(ErrorKind::kBadInput, "templates: " + text.error().message,
                  std::string(old ? "gpu-pattern-a/b.nix.in are the seed's templates, whose "
                                    "recipes fail today (pytorch alias, sm_XX targets); "
                                  : "") +
                      "a template directory holds gpu.nix.in and cpu.nix.in (start from "
                      "/usr/share/tvd/templates); remove \"templates\" from the config to use "
                      "the built-in ones");
    }
    contents[i] = std::move(*text);
  }
  // The paired templates are optional; one without the other is an error.
  std::string paired_contents[2];
  for (size_t i = 0; i < 2; ++i) {
    if (auto text = read_file(dir / kPairedFiles[i])) paired_contents[i] = std::move(*text);
  }
  if (paired_contents[0].empty() != paired_contents[1].empty()) {
    return fail(ErrorKind::kBadInput,
                "templates: " + dir.string() + " has " +
                    (paired_contents[0].empty() ? kPairedFiles[1] : kPairedFiles[0]) + " but not " +
                    (paired_contents[0].empty() ? kPairedFiles[0] : kPairedFiles[1]),
                "a product that takes its torch from a paired environment needs both");
  }
  const std::string_view texts[2] = {contents[0], contents[1]};
  const std::string_view paired[2] = {paired_contents[0], paired_contents[1]};
  return assemble(dir.string(), texts, paired);
}

std::string format_cpu_flags(const std::vector<std::string>& flags) {
  constexpr size_t kColumn = 15;
  std::string out;
  for (size_t i = 0; i < flags.size(); ++i) {
    std::string quoted = "\"" + flags[i] + "\"";
    if (i + 1 < flags.size()) quoted.resize(std::max(kColumn, quoted.size() + 1), ' ');
    out += quoted;
  }
  return out;
}

Substitutions substitutions(const Variant& v) {
  Substitutions s = {
      {"PYTHON", v.python->name},
      {"PYTHON_PACKAGES", v.python->packages},
      {"PYTHON_VERSION", v.python->version},
      {"CPU_ISA", v.isa->token},
      {"CPU_ISA_DESC", v.isa->description},
      {"CPU_FLAGS", format_cpu_flags(v.isa->flags)},
      {"CPU_HARDWARE", v.isa->hardware},
      {"PLATFORM", v.isa->platform},
      {"PLATFORMS", "\"" + v.isa->platform + "\""},
  };
  if (v.is_gpu()) {
    auto choose = v.gpu->choose_this_if.find(v.isa->platform);
    s.insert({
        {"CUDA_MAJOR", std::to_string(v.cuda->major)},
        {"CUDA_MINOR", std::to_string(v.cuda->minor)},
        {"CUDA_VERSION", v.cuda->version},
        {"GPU_ARCH", v.gpu->name},
        {"GPU_ARCH_UPPER", v.gpu->upper},
        {"GPU_ARCH_DECIMAL", v.gpu->decimal},
        {"GPU_ARCH_NUM", v.gpu->num},
        {"GPU_DESC", v.gpu->description},
        {"GPU_HARDWARE", v.gpu->hardware},
        {"CHOOSE_THIS_IF", choose == v.gpu->choose_this_if.end() ? "" : choose->second},
    });
  }
  return s;
}

namespace {

// The lines a recipe adds to PyTorch's build: exports in its preConfigure (one per line, at the
// placeholder's indentation) and flags appended to its cmakeFlags, each group under its reason.
void add_torch_tweaks(Substitutions& s, const Variant& v) {
  std::vector<const TorchTweaks*> tweaks;
  if (v.is_gpu()) tweaks.push_back(&v.gpu->torch);
  tweaks.push_back(&v.isa->torch);
  std::string exports, flags, reasons;
  for (const TorchTweaks* t : tweaks) {
    if (t->exports.empty() && t->cmake_flags.empty()) continue;
    if (!t->exports.empty()) {
      exports += (exports.empty() ? "" : "\n      ") + ("# " + t->reason);
      for (const auto& e : t->exports)
        exports += "\n      export " + e;
    }
    for (const auto& f : t->cmake_flags)
      flags += (flags.empty() ? "" : " ") + ("\"" + f + "\"");
    if (!t->cmake_flags.empty()) reasons += (reasons.empty() ? "" : "; ") + t->reason;
  }
  s["TORCH_EXPORTS"] = exports;
  s["TORCH_CMAKE_FLAGS"] =
      flags.empty() ? ""
                    : "# " + reasons + "\n    cmakeFlags = (oldAttrs.cmakeFlags or [ ]) ++ [ " +
                          flags + " ];";
}

}  // namespace

Substitutions substitutions(const Variant& v, const RecipeChoices& c) {
  Substitutions s = substitutions(v);
  if (c.nixpkgs_commit.empty()) {
    s["NIXPKGS_SOURCE"] = "pkgs.path";
  } else {
    std::string fetch =
        "(builtins.fetchTarball {\n    url = \"https://github.com/NixOS/nixpkgs/archive/" +
        c.nixpkgs_commit + ".tar.gz\";\n";
    if (!c.nixpkgs_sha256.empty()) fetch += "    sha256 = \"" + c.nixpkgs_sha256 + "\";\n";
    s["NIXPKGS_SOURCE"] = fetch + "  })";
  }
  s["NIXPKGS_NOTE"] = c.nixpkgs_source;
  s["TORCH_EXPORTS"] = "";
  s["TORCH_CMAKE_FLAGS"] = "";
  s["ALLOW_BROKEN"] = "";
  if (v.is_gpu()) {
    s["GPU_TARGET"] = c.gpu_target;
    s["GPU_TARGET_SOURCE"] = c.gpu_target_source;
    s["CUDA_PACKAGES"] = v.cuda->packages;
    if (!v.cuda->allow_broken.empty()) {
      s["ALLOW_BROKEN"] = "allowBroken = true; # " + v.cuda->allow_broken;
    }
  }
  add_torch_tweaks(s, v);
  s["TORCH_RECIPE"] = c.torch_recipe;
  s["TORCH_NOTE"] = c.torch_note;
  return s;
}

Result<std::string> render_recipe(const TemplateSet& templates, const Variant& v,
                                  const RecipeChoices& choices) {
  const bool paired = !choices.torch_recipe.empty();
  const std::optional<Template>& paired_template =
      v.is_gpu() ? templates.gpu_paired : templates.cpu_paired;
  if (paired && !paired_template) {
    return fail(ErrorKind::kBadInput,
                v.package() + ": its torch comes from a paired environment, but " +
                    templates.origin + " has no " +
                    (v.is_gpu() ? kPairedFiles[0] : kPairedFiles[1]),
                "add the paired templates, or remove torch_from from the environment");
  }
  const Template& t = paired ? *paired_template : (v.is_gpu() ? templates.gpu : templates.cpu);
  auto text = t.render(substitutions(v, choices));
  if (!text) {
    Error e = text.error();
    e.message = v.package() + ": " + e.message;
    return tl::unexpected(std::move(e));
  }
  return text;
}

}  // namespace tvd
