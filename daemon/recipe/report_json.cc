#include "daemon/recipe/report_json.h"

namespace tvd {

using nlohmann::json;

json finding_json(const Finding& f) {
  return {{"severity", to_string(f.severity)},
          {"code", f.code},
          {"file", f.file.string()},
          {"line", f.line},
          {"what", f.what},
          {"fix", f.fix}};
}

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
  const bool gpu = r.variant.is_gpu();
  j["gpu_target"] = gpu ? json(r.choices.gpu_target) : json(nullptr);
  j["gpu_target_source"] = gpu ? json(r.choices.gpu_target_source) : json(nullptr);
  j["file_gpu_target"] = r.file_target ? json(*r.file_target) : json(nullptr);
  j["nixpkgs"] = r.choices.nixpkgs_commit.empty() ? json("flox") : json(r.choices.nixpkgs_commit);
  j["nixpkgs_source"] = r.choices.nixpkgs_source;
  j["pytorch_recipe"] =
      r.choices.pytorch_file ? json(r.choices.pytorch_file->string()) : json(nullptr);
  j["pytorch_problems"] = r.choices.pytorch_problems;
  if (!r.warning.empty()) j["warning"] = r.warning;
  j["findings"] = json::array();
  for (const auto& f : r.findings)
    j["findings"].push_back(finding_json(f));
  return j;
}

}  // namespace tvd
