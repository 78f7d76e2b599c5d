// What tvd check-config checks beyond the file itself, and what tvd serve checks before it
// starts: the host as the config describes it. Each problem is one line that says how to fix it.
#pragma once

#include <string>
#include <vector>

#include "daemon/config/config.h"

namespace tvd {

struct HostProblem {
  bool fatal = true;  // false: a warning, the service still starts
  std::string message;
};

std::vector<HostProblem> check_host(const Config& c);

}  // namespace tvd
