#include "daemon/recipe/pattern.h"

#include <algorithm>
#include <system_error>

#include "daemon/base/file.h"

namespace tvd {

Pattern pattern_of_text(std::string_view nix_text) {
  return nix_text.find("gpuArchSM") != std::string_view::npos ? Pattern::kA : Pattern::kB;
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

PatternChoice PytorchRecipes::choose(const Variant& v) const {
  const std::string prefix =
      "pytorch-" + v.python->name + "-cuda" + v.cuda->token() + "-" + v.gpu->name + "-";
  const std::string same_isa = prefix + v.isa->token + ".nix";
  std::vector<const std::string*> candidates;
  for (const auto& f : files_) {
    if (f == same_isa)
      candidates.insert(candidates.begin(), &f);
    else if (f.rfind(prefix, 0) == 0)
      candidates.push_back(&f);
  }
  for (const std::string* f : candidates) {
    auto text = read_file(dir_ / *f);
    if (!text) continue;  // unreadable: the next candidate or the table decides
    return {pattern_of_text(*text), "pytorch: " + (dir_ / *f).string(), true};
  }
  return {v.gpu->pattern, "matrix.json: " + v.gpu->pattern_reason, false};
}

}  // namespace tvd
