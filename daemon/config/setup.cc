#include "daemon/config/setup.h"

#include "daemon/base/file.h"

namespace tvd {

Result<Setup> load_setup(const std::optional<std::filesystem::path>& config_path) {
  auto config = load_config(config_path);
  if (!config) return tl::unexpected(config.error());

  std::string origin = "built-in";
  auto matrix = [&]() -> Result<Matrix> {
    if (!config->matrix) return Matrix::embedded();
    origin = config->matrix->string();
    auto text = read_file(*config->matrix);
    if (!text) {
      return fail(ErrorKind::kBadInput, "matrix: " + text.error().message,
                  "fix \"matrix\" in " + config->source + ", or remove it to use the built-in one");
    }
    return Matrix::parse(*text, origin);
  }();
  if (!matrix) return tl::unexpected(matrix.error());
  TRY(apply_axes(*config, *matrix));
  // The one environment a config names today: its flox_env checkout.
  matrix->set_environment(Environment{std::string(kDefaultEnvironment), config->flox_env});

  auto templates =
      config->templates ? TemplateSet::load(*config->templates) : TemplateSet::embedded();
  if (!templates) return tl::unexpected(templates.error());
  return Setup{std::move(*config), std::move(*matrix), std::move(*templates), origin};
}

}  // namespace tvd
