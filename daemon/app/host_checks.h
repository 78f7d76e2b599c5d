// What tvd check-config checks beyond the file itself, and what tvd serve checks before it
// starts: the host as the config describes it. Each problem is one line that says how to fix it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "daemon/config/config.h"

namespace tvd {

struct HostProblem {
  bool fatal = true;  // false: a warning, the service still starts
  std::string message;
};

std::vector<HostProblem> check_host(const Config& c);

// What flox itself says, for check-config: its version and which publish behaviour that means,
// and where flox will find FloxHub credentials (asking `flox auth status` when neither the
// environment nor flox.toml has a token). Lines to print; problems go to `problems`.
std::vector<std::string> describe_flox(const Config& c,
                                       const std::map<std::string, std::string>& child_env,
                                       std::vector<HostProblem>& problems);

}  // namespace tvd
