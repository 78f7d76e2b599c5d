// What tvd's and tvctl's command lines share before CLI11 reads them.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tvd {

// The first word of `args` that is no option (skipping the values of `valued` options) when it
// is none of `commands`: it is named, with the commands there are, rather than CLI11's "A
// subcommand is required". nullopt when the command is known (or there is none).
inline std::optional<std::string> unknown_command(const std::vector<std::string>& args,
                                                  const std::vector<std::string>& commands,
                                                  const std::set<std::string>& valued) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (valued.count(args[i])) {
      ++i;
      continue;
    }
    if (args[i].rfind("-", 0) == 0) continue;
    std::string names;
    for (const auto& c : commands) {
      if (c == args[i]) return std::nullopt;
      names += (names.empty() ? "" : ", ") + c;
    }
    return "unknown command '" + args[i] + "'; the commands are " + names;
  }
  return std::nullopt;
}

}  // namespace tvd
