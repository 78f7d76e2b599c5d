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

std::string builder_settings(const std::string& nix_line) {
  if (nix_line.empty()) return "builders =\n";
  return "builders = " + nix_line + "\nmax-jobs = 0\nbuilders-use-substitutes = true\n";
}

void place_build(exec::RunSpec& spec, const std::string& system, const std::string& nix_line) {
  // flox build -d ENV --system SYSTEM PKG
  spec.argv.insert(spec.argv.end() - 1, {"--system", system});
  std::string& nix = spec.env["NIX_CONFIG"];
  if (!nix.empty() && nix.back() != '\n') nix += '\n';
  nix += builder_settings(nix_line);
}

std::string built_output(const std::filesystem::path& env_dir, const std::string& package) {
  std::error_code ec;
  auto out = std::filesystem::read_symlink(env_dir / ("result-" + package), ec);
  return ec ? "" : out.string();
}

}  // namespace tvd::flox
