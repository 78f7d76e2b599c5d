// What a child gets of the daemon's environment: the variables flox, Nix and git need, and no
// more. Anything else (the daemon's own settings, stray secrets) stays behind.
#pragma once

#include <map>
#include <string>

namespace tvd::exec {

// Kept by name: PATH HOME USER LOGNAME LANG TZ TMPDIR SSL_CERT_FILE GIT_SSH_COMMAND SSH_AUTH_SOCK;
// kept by prefix: NIX_*, FLOX_*, LC_*, XDG_*. FLOX_FLOXHUB_TOKEN passes (flox needs it) and is
// never logged or shown: it is only ever in this map.
std::map<std::string, std::string> child_environment(char** environ_vars);

// True for a variable whose value must never be printed.
bool is_secret(const std::string& name);

// `env` without its secrets: what a child that needs none gets (flox build, git, whose hooks are
// code from the repository). Only flox publish needs the FloxHub token.
std::map<std::string, std::string> without_secrets(std::map<std::string, std::string> env);

}  // namespace tvd::exec
