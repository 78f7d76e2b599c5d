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

// Where a build runs: `flox build --system SYSTEM` (flox's hidden option: it evaluates and builds
// for that system), and, on a remote builder, Nix pinned to that machine alone through
// NIX_CONFIG (appended to the NIX_CONFIG the child has): `builders = LINE`, `max-jobs = 0`
// (nothing builds on the host), `builders-use-substitutes = true` (the machine fetches what a
// cache has rather than receiving it from the host). On the host: `builders =` (no offloading).
void place_build(exec::RunSpec& spec, const std::string& system, const std::string& nix_line);
// The NIX_CONFIG lines place_build appends for a builder (its machines-file line, "" for the host).
std::string builder_settings(const std::string& nix_line);

// What a build made: flox leaves result-PKG beside .flox/, pointing at the output; "" if none.
std::string built_output(const std::filesystem::path& env_dir, const std::string& package);

}  // namespace tvd::flox
