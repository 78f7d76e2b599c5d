// The flox commands tvd runs itself (publishing goes through the git lane), as runs for the
// runner, and what they leave behind.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "daemon/exec/runner.h"

namespace tvd::flox {

// `flox build -d ENV PKG` in ENV, with `env` minus its secrets (a build needs no FloxHub token).
// The caller sets the log and the limits.
exec::RunSpec build_run(const std::string& flox, const std::filesystem::path& env_dir,
                        const std::string& package, const std::map<std::string, std::string>& env);

// What a build made: flox leaves result-PKG beside .flox/, pointing at the output; "" if none.
std::string built_output(const std::filesystem::path& env_dir, const std::string& package);

}  // namespace tvd::flox
