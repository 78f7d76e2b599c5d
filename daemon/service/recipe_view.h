// A recipe report as its view: what `tvd matrix --json`, `tvd generate --json` and the daemon's
// matrix and generate ops print for each variant. It sits with the service, which builds the
// views; recipe/ knows nothing of the wire format.
#pragma once

#include <nlohmann/json.hpp>

#include "daemon/recipe/generate.h"
#include "proto/views.h"

namespace tvd {

// The report as its view (proto/views.h), and as that view's JSON.
proto::RecipeView recipe_view(const RecipeReport& r);
proto::FindingView finding_view(const Finding& f);
nlohmann::json report_json(const RecipeReport& r);
// {severity, code, file, line, what, fix}: a finding as `tvd check --json` and the matrix print it.
nlohmann::json finding_json(const Finding& f);

}  // namespace tvd
