// The config's "notify" list (config.h, Config::Notify), read as config.cc reads the other
// sections: every problem added to `errors` with its path.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/config/config.h"

namespace tvd {

void read_notify(const nlohmann::json& v, std::vector<Config::Notify>& out,
                 std::vector<std::string>& errors);

}  // namespace tvd
