#include "daemon/flox/commands.h"

#include <system_error>

#include "daemon/exec/child_env.h"

namespace tvd::flox {

exec::RunSpec build_run(const std::string& flox, const std::filesystem::path& env_dir,
                        const std::string& package, const std::map<std::string, std::string>& env) {
  exec::RunSpec spec;
  spec.argv = {flox, "build", "-d", env_dir.string(), package};
  spec.cwd = env_dir;
  spec.env = exec::without_secrets(env);
  return spec;
}

std::string built_output(const std::filesystem::path& env_dir, const std::string& package) {
  std::error_code ec;
  auto out = std::filesystem::read_symlink(env_dir / ("result-" + package), ec);
  return ec ? "" : out.string();
}

}  // namespace tvd::flox
