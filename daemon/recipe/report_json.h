// A recipe report as JSON: what `tvd matrix --json`, `tvd generate --json` and the daemon's
// matrix and generate ops print for each variant.
#pragma once

#include <nlohmann/json.hpp>

#include "daemon/recipe/generate.h"

namespace tvd {

nlohmann::json report_json(const RecipeReport& r);
// {severity, code, file, line, what, fix}: a finding as `tvd check --json` and the matrix print it.
nlohmann::json finding_json(const Finding& f);

}  // namespace tvd
