#include "daemon/recipe/report_json.h"

namespace tvd {

using nlohmann::json;

json report_json(const RecipeReport& r) {
  json j = {
      {"variant", r.variant.package()},
      {"file", r.file.string()},
      {"kind", r.variant.is_gpu() ? "gpu" : "cpu"},
      {"python", r.variant.python->name},
      {"cuda", r.variant.is_gpu() ? json(r.variant.cuda->version) : json(nullptr)},
      {"gpu_arch", r.variant.is_gpu() ? json(r.variant.gpu->name) : json(nullptr)},
      {"cpu_isa", r.variant.isa->token},
      {"platform", r.variant.isa->platform},
      {"state", to_string(r.state)},
      {"excluded", r.exclusions},
      {"buildable", r.exclusions.empty()},
  };
  if (r.outcome != Outcome::kNone) j["outcome"] = to_string(r.outcome);
  if (r.pattern) {
    j["pattern"] = pattern_name(r.pattern->pattern);
    j["pattern_source"] = r.pattern->source;
  } else {
    j["pattern"] = nullptr;
    j["pattern_source"] = nullptr;
  }
  j["file_pattern"] = r.file_pattern ? json(pattern_name(*r.file_pattern)) : json(nullptr);
  if (!r.warning.empty()) j["warning"] = r.warning;
  return j;
}

}  // namespace tvd
