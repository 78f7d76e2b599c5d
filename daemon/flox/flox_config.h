// What flox reads from its own configuration, read the way flox 1.14 reads it, so that tvd can
// say where flox will find FloxHub credentials (DESIGN.md; flox cli/flox/doc/flox-config.md).
#pragma once

#include <map>
#include <optional>
#include <string>

namespace tvd::flox {

// Where a flox started with `env` as its environment finds a FloxHub token: the variable
// FLOX_FLOXHUB_TOKEN first, then `floxhub_token` in the user's flox.toml
// ($FLOX_CONFIG_DIR/flox.toml, else $XDG_CONFIG_HOME/flox/flox.toml, XDG_CONFIG_HOME defaulting to
// $HOME/.config), then in each $XDG_CONFIG_DIRS entry's flox/flox.toml, then in the system's
// ($FLOX_SYSTEM_CONFIG_DIR/flox.toml, else `system_config`). A login kept in the keyring (`flox
// auth login`) only flox can see: nullopt then means "ask flox" (`flox auth status`).
std::optional<std::string> flox_token_source(const std::map<std::string, std::string>& env,
                                             const std::string& system_config = "/etc/flox.toml");

// FLOX_FLOXHUB_TOKEN exported but empty: flox takes that as logged out, and it masks every other
// store, the keyring included (cli/flox/src/utils/credential_store/mod.rs, resolve_into).
bool flox_token_masked(const std::map<std::string, std::string>& env);

}  // namespace tvd::flox
