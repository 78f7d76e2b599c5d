// A recipe report as JSON: what `tvd matrix --json`, `tvd generate --json` and the daemon's
// matrix and generate ops print for each variant.
#pragma once

#include <nlohmann/json.hpp>

#include "daemon/recipe/generate.h"

namespace tvd {

nlohmann::json report_json(const RecipeReport& r);

}  // namespace tvd
