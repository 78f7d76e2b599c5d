#include "daemon/exec/child_env.h"

#include <array>
#include <string_view>

namespace tvd::exec {

std::map<std::string, std::string> child_environment(char** environ_vars) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "PATH", "HOME",   "USER",          "LOGNAME",         "LANG",
      "TZ",   "TMPDIR", "SSL_CERT_FILE", "GIT_SSH_COMMAND", "SSH_AUTH_SOCK"};
  static constexpr std::array<std::string_view, 4> kPrefixes = {"NIX_", "FLOX_", "LC_", "XDG_"};
  std::map<std::string, std::string> out;
  for (char** e = environ_vars; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    auto name = kv.substr(0, eq);
    bool keep = false;
    for (auto n : kNames)
      keep = keep || name == n;
    for (auto p : kPrefixes)
      keep = keep || name.substr(0, p.size()) == p;
    if (keep) out.emplace(std::string(name), std::string(kv.substr(eq + 1)));
  }
  if (!out.count("PATH")) out["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  return out;
}

std::map<std::string, std::string> without_secrets(std::map<std::string, std::string> env) {
  for (auto it = env.begin(); it != env.end();)
    it = is_secret(it->first) ? env.erase(it) : std::next(it);
  return env;
}

bool is_secret(const std::string& name) {
  return name.find("TOKEN") != std::string::npos || name.find("SECRET") != std::string::npos ||
         name.find("PASSWORD") != std::string::npos;
}

}  // namespace tvd::exec
