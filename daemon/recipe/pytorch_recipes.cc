#include "daemon/recipe/pytorch_recipes.h"

#include <algorithm>
#include <regex>
#include <system_error>

#include "daemon/base/file.h"

namespace tvd {

namespace {

size_t line_of(std::string_view text, size_t pos) {
  return 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + pos, '\n'));
}

// Whether the `import (fetchTarball { ... url ... }) { ARGS }` around `at` (the URL) passes
// `system` in ARGS: the attribute set after the fetchTarball's closing parenthesis.
bool imports_with_system(const std::string& text, size_t at) {
  // The fetchTarball's argument ends at the `)` that closes the `(` before `builtins.fetchTarball`.
  size_t open = text.rfind("fetchTarball", at);
  if (open == std::string::npos) return true;  // not the shape this reads: say nothing
  open = text.rfind('(', open);
  if (open == std::string::npos) return true;
  int depth = 0;
  size_t i = open;
  for (; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')' && --depth == 0) break;
  }
  size_t args = text.find_first_not_of(" \t\r\n", i + 1);
  if (args == std::string::npos || text[args] != '{') return true;
  depth = 0;
  size_t end = args;
  for (; end < text.size(); ++end) {
    if (text[end] == '{') ++depth;
    if (text[end] == '}' && --depth == 0) break;
  }
  // At the set's own level only: `system = ...;` or `inherit system;` / `inherit (x) system;`.
  std::string top;
  depth = 0;
  for (size_t k = args; k <= end && k < text.size(); ++k) {
    const char c = text[k];
    if (c == '{' || c == '[' || c == '(') ++depth;
    if (depth == 1) top += c;
    if (c == '}' || c == ']' || c == ')') --depth;
  }
  static const std::regex kSystem(
      R"re((^|[{;\s])system\s*=|inherit\s+(\([^)]*\)\s*)?[^;]*\bsystem\b)re");
  return std::regex_search(top, kSystem);
}

}  // namespace

RecipeFacts read_recipe_facts(std::string_view nix_text) {
  RecipeFacts f;
  const std::string text(nix_text);
  std::smatch m;
  // gpuTargets = [ "8.9" ] or gpuTargets = [ gpuArchSM ], then gpuArchSM = "8.9";
  static const std::regex kTargets(R"re(gpuTargets\s*=\s*\[\s*(?:"([^"]*)"|([A-Za-z_][\w'-]*)))re");
  if (std::regex_search(text, m, kTargets)) {
    if (m[1].matched) {
      f.gpu_target = m[1].str();
      f.gpu_target_line = line_of(text, static_cast<size_t>(m.position(1)));
    } else {
      const std::regex var("(^|[^\\w'-])" + m[2].str() + R"re(\s*=\s*"([^"]*)")re");
      std::smatch v;
      if (std::regex_search(text, v, var)) {
        f.gpu_target = v[2].str();
        f.gpu_target_line = line_of(text, static_cast<size_t>(v.position(2)));
      }
    }
  }
  static const std::regex kCommit(
      R"re(github\.com/NixOS/nixpkgs/archive/([0-9a-f]{40})\.tar\.gz)re");
  if (std::regex_search(text, m, kCommit)) {
    f.nixpkgs_commit = m[1].str();
    f.pin_line = line_of(text, static_cast<size_t>(m.position(0)));
    f.pin_without_system = !imports_with_system(text, static_cast<size_t>(m.position(0)));
    static const std::regex kSha(R"re(sha256\s*=\s*"([^"]+)")re");
    std::smatch h;
    auto rest = text.substr(static_cast<size_t>(m.position(0)), 400);
    if (std::regex_search(rest, h, kSha)) f.nixpkgs_sha256 = h[1].str();
  }
  // An overlay's `cudaPackages = final.cudaPackages_12_8;` (or an alias: cudaPackages_13).
  static const std::regex kCuda(
      R"re(cudaPackages\s*=\s*(?:final|prev|self|super|pkgs)\.(cudaPackages(?:_[0-9]+)*)\s*;)re");
  if (std::regex_search(text, m, kCuda)) {
    f.cuda_packages = m[1].str();
    f.cuda_packages_line = line_of(text, static_cast<size_t>(m.position(1)));
  }
  // torchvision's override: `torch = customPytorch;`, and `customPytorch.out` propagated.
  static const std::regex kTorch(R"re((?:^|[^\w'.-])torch\s*=\s*([A-Za-z_][\w'-]*)\s*;)re");
  if (std::regex_search(text, m, kTorch) && m[1].str() != "null") {
    f.torch_variable = m[1].str();
    f.torch_variable_line = line_of(text, static_cast<size_t>(m.position(1)));
    const std::regex out(R"re(propagatedBuildInputs\s*=[^;]*[^\w'-])re" + m[1].str() +
                         R"re(\.out([^\w'-]|$))re");
    f.propagates_torch_out = std::regex_search(text, out);
  }
  return f;
}

PytorchRecipes PytorchRecipes::scan(const std::filesystem::path& pytorch_env) {
  PytorchRecipes r;
  r.dir_ = pytorch_env / ".flox" / "pkgs";
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(r.dir_, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind("pytorch-", 0) == 0 && name.size() > 4 &&
        name.compare(name.size() - 4, 4, ".nix") == 0) {
      r.files_.push_back(std::move(name));
    }
  }
  std::sort(r.files_.begin(), r.files_.end());
  return r;
}

RecipeChoices PytorchRecipes::choose(const Variant& v) const {
  RecipeChoices c;
  if (v.is_gpu()) {
    c.gpu_target = v.gpu->decimal;
    c.gpu_target_source =
        "matrix.json: " + v.gpu->name + " is compute capability " + v.gpu->decimal;
  }
  c.pin = v.nixpkgs;
  if (v.nixpkgs) {
    c.nixpkgs_commit = v.nixpkgs->commit;
    c.nixpkgs_sha256 = v.nixpkgs->sha256;
    c.nixpkgs_source = "nixpkgs pin " + v.nixpkgs->name + " (matrix.json): " + v.nixpkgs->source;
  } else {
    c.nixpkgs_source = "flox's own nixpkgs (no pin in the matrix)";
  }

  // The same Python, CUDA and architecture; the same ISA first.
  const std::string prefix = "pytorch-" + v.qualified().substr(0, v.qualified().rfind('-') + 1);
  const std::string same_isa = prefix + v.isa->token + ".nix";
  std::vector<const std::string*> candidates;
  for (const auto& f : files_) {
    if (f == same_isa)
      candidates.insert(candidates.begin(), &f);
    else if (f.rfind(prefix, 0) == 0)
      candidates.push_back(&f);
  }
  for (const std::string* name : candidates) {
    auto text = read_file(dir_ / *name);
    if (!text) continue;  // unreadable: the next candidate or the matrix decides
    const auto file = dir_ / *name;
    c.pytorch_file = file;
    RecipeFacts facts = read_recipe_facts(*text);
    if (v.is_gpu() && facts.gpu_target) {
      const std::string where = file.string() + ":" + std::to_string(facts.gpu_target_line);
      if (auto problem = cuda_arch_problem(*facts.gpu_target); !problem.empty()) {
        c.pytorch_problems.push_back(where + " passes gpuTargets \"" + *facts.gpu_target +
                                     "\": " + problem + "; tvd uses \"" + c.gpu_target + "\"");
      } else {
        c.gpu_target = *facts.gpu_target;
        c.gpu_target_source = "as " + where + " passes it";
        c.from_pytorch = true;
      }
    }
    if (facts.nixpkgs_commit) {
      c.nixpkgs_commit = *facts.nixpkgs_commit;
      c.nixpkgs_sha256 = facts.nixpkgs_sha256.value_or(
          c.pin && c.pin->commit == *facts.nixpkgs_commit ? c.pin->sha256 : "");
      c.nixpkgs_source = "the nixpkgs " + file.filename().string() + " imports";
    }
    if (v.is_gpu() && facts.cuda_packages) {
      // Only what is known: an alias the matrix does not know at that pin is not a problem.
      const auto selected =
          cuda_selected(*facts.cuda_packages, facts.nixpkgs_commit.value_or(""), v.pins);
      if (selected && *selected != v.cuda->version) {
        c.pytorch_problems.push_back(file.string() + " selects " + *facts.cuda_packages +
                                     " (CUDA " + *selected + "), not CUDA " + v.cuda->version +
                                     " as its name says; fix its overlay");
      }
    }
    break;
  }
  return c;
}

}  // namespace tvd
