#include "daemon/recipe/recipe.h"

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
      "CHOOSE_THIS_IF", "CUDA_PACKAGES_ARG", "CUDA_PACKAGES_OVERRIDE",
  };
  return kKnown;
}

namespace {

constexpr const char* kFiles[] = {"gpu-pattern-a.nix.in", "gpu-pattern-b.nix.in", "cpu.nix.in"};

Result<TemplateSet> assemble(std::string origin, const std::string_view (&texts)[3]) {
  std::vector<Template> parsed;
  std::string errors, hint;
  for (size_t i = 0; i < 3; ++i) {
    auto t = Template::parse(kFiles[i], texts[i], known_placeholders());
    if (t) {
      parsed.push_back(std::move(*t));
    } else {
      errors += "\n" + t.error().message;
      hint = t.error().hint;
    }
  }
  if (!errors.empty()) return fail(ErrorKind::kBadInput, origin + ":" + errors, hint);
  return TemplateSet{std::move(parsed[0]), std::move(parsed[1]), std::move(parsed[2]),
                     std::move(origin)};
}

}  // namespace

Result<TemplateSet> TemplateSet::embedded() {
  const std::string_view texts[3] = {embedded::template_text(kFiles[0]),
                                     embedded::template_text(kFiles[1]),
                                     embedded::template_text(kFiles[2])};
  return assemble("built-in templates", texts);
}

Result<TemplateSet> TemplateSet::load(const std::filesystem::path& dir) {
  std::string contents[3];
  for (size_t i = 0; i < 3; ++i) {
    auto text = read_file(dir / kFiles[i]);
    if (!text) {
      return fail(ErrorKind::kBadInput, "templates: " + text.error().message,
                  "a template directory holds gpu-pattern-a.nix.in, gpu-pattern-b.nix.in and "
                  "cpu.nix.in; remove \"templates\" from the config to use the built-in ones");
    }
    contents[i] = std::move(*text);
  }
  const std::string_view texts[3] = {contents[0], contents[1], contents[2]};
  return assemble(dir.string(), texts);
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
        // The seed names the CUDA version but never selects it; nixpkgs' default needs nothing.
        {"CUDA_PACKAGES_ARG", v.cuda->nixpkgs_default ? "" : ", " + v.cuda->packages},
        {"CUDA_PACKAGES_OVERRIDE", v.cuda->nixpkgs_default
                                       ? ""
                                       : "cudaPackages = " + v.cuda->packages + ";  # CUDA " +
                                             v.cuda->version + ", not nixpkgs' default"},
    });
  }
  return s;
}

Result<std::string> render_recipe(const TemplateSet& templates, const Variant& v, Pattern pattern) {
  const Template& t = !v.is_gpu()              ? templates.cpu
                      : pattern == Pattern::kA ? templates.gpu_a
                                               : templates.gpu_b;
  auto text = t.render(substitutions(v));
  if (!text) {
    Error e = text.error();
    e.message = v.package() + ": " + e.message;
    return tl::unexpected(std::move(e));
  }
  return text;
}

}  // namespace tvd
