#include "daemon/recipe/recipe_findings.h"

#include <system_error>

#include "daemon/base/file.h"
#include "daemon/exec/host.h"

namespace tvd {

const std::vector<Finding>& RecipeFindings::of(const Variant& v, const RecipeEnv& env) {
  static const std::vector<Finding> kNone;
  const auto file = env.pkgs_dir() / (v.package() + ".nix");
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(file, ec);
  const auto size = ec ? 0 : std::filesystem::file_size(file, ec);
  if (ec) {
    by_file_.erase(file);
    return kNone;
  }
  auto it = by_file_.find(file);
  if (it != by_file_.end() && it->second.mtime == mtime && it->second.size == size) {
    return it->second.findings;
  }
  auto text = read_file(file);
  if (!text) return kNone;
  Entry e{mtime, size,
          check_recipe_text(v, file, *text, PytorchRecipes::scan(env.pytorch_env).choose(v),
                            exec::host_system())};
  return by_file_.insert_or_assign(file, std::move(e)).first->second.findings;
}

}  // namespace tvd
