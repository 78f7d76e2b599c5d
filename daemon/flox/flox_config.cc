#include "daemon/flox/flox_config.h"

#include <fstream>
#include <regex>
#include <vector>

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
  if (flox_token_masked(env)) return std::nullopt;
  if (!var("FLOX_FLOXHUB_TOKEN").empty()) return "FLOX_FLOXHUB_TOKEN in the environment";
  std::vector<std::string> files;
  if (!var("FLOX_CONFIG_DIR").empty()) {
    files.push_back(var("FLOX_CONFIG_DIR") + "/flox.toml");
  } else if (!var("XDG_CONFIG_HOME").empty()) {
    files.push_back(var("XDG_CONFIG_HOME") + "/flox/flox.toml");
  } else if (!var("HOME").empty()) {
    files.push_back(var("HOME") + "/.config/flox/flox.toml");
  }
  const std::string dirs = var("XDG_CONFIG_DIRS");
  for (size_t start = 0; start < dirs.size();) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    if (end > start) files.push_back(dirs.substr(start, end - start) + "/flox/flox.toml");
    start = end + 1;
  }
  files.push_back(var("FLOX_SYSTEM_CONFIG_DIR").empty()
                      ? system_config
                      : var("FLOX_SYSTEM_CONFIG_DIR") + "/flox.toml");
  for (const auto& f : files)
    if (has_token(f)) return "floxhub_token in " + f;
  return std::nullopt;
}

bool flox_token_masked(const std::map<std::string, std::string>& env) {
  auto it = env.find("FLOX_FLOXHUB_TOKEN");
  return it != env.end() && it->second.empty();
}

}  // namespace tvd::flox
