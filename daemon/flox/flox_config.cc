#include "daemon/flox/flox_config.h"

#include <fstream>
#include <regex>

namespace tvd::flox {

namespace {

// A `floxhub_token = "..."` at the top level of a TOML file (before any [table]).
bool has_token(const std::string& file) {
  std::ifstream in(file);
  static const std::regex kToken(R"re(^\s*floxhub_token\s*=\s*"[^"]+")re");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.find_first_not_of(" \t") != std::string::npos &&
        line[line.find_first_not_of(" \t")] == '[')
      return false;
    if (std::regex_search(line, kToken)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> flox_token_source(const std::map<std::string, std::string>& env,
                                             const std::string& system_config) {
  auto var = [&](const char* name) {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  };
  if (!var("FLOX_FLOXHUB_TOKEN").empty()) return "FLOX_FLOXHUB_TOKEN in the environment";
  std::string user;
  if (!var("FLOX_CONFIG_DIR").empty()) {
    user = var("FLOX_CONFIG_DIR") + "/flox.toml";
  } else if (!var("XDG_CONFIG_HOME").empty()) {
    user = var("XDG_CONFIG_HOME") + "/flox/flox.toml";
  } else if (!var("HOME").empty()) {
    user = var("HOME") + "/.config/flox/flox.toml";
  }
  if (!user.empty() && has_token(user)) return "floxhub_token in " + user;
  if (has_token(system_config)) return "floxhub_token in " + system_config;
  return std::nullopt;
}

}  // namespace tvd::flox
