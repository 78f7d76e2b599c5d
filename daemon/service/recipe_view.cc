#include "daemon/service/recipe_view.h"

namespace tvd {

using nlohmann::json;

proto::FindingView finding_view(const Finding& f) {
  proto::FindingView out;
  out.severity = to_string(f.severity);
  out.code = f.code;
  out.file = f.file.string();
  out.line = static_cast<int64_t>(f.line);
  out.what = f.what;
  out.fix = f.fix;
  return out;
}

proto::RecipeView recipe_view(const RecipeReport& r) {
  const Variant& v = r.variant;
  const bool gpu = v.is_gpu();
  proto::RecipeView out;
  out.package = v.package();
  out.file = r.file.string();
  out.kind = gpu ? "gpu" : "cpu";
  out.python = v.python->name;
  if (gpu) {
    out.cuda = v.cuda->version;
    out.gpu_arch = v.gpu->name;
    out.gpu_target = r.choices.gpu_target;
    out.gpu_target_source = r.choices.gpu_target_source;
  }
  out.cpu_isa = v.isa->token;
  out.platform = v.isa->platform;
  out.state = std::string(to_string(r.state));
  out.excluded = r.exclusions;
  out.buildable = r.exclusions.empty();
  if (r.outcome != Outcome::kNone) out.outcome = std::string(to_string(r.outcome));
  out.file_gpu_target = r.file_target;
  out.nixpkgs = r.choices.nixpkgs_commit.empty() ? "flox" : r.choices.nixpkgs_commit;
  out.nixpkgs_source = r.choices.nixpkgs_source;
  if (r.choices.pytorch_file) out.pytorch_recipe = r.choices.pytorch_file->string();
  out.pytorch_problems = r.choices.pytorch_problems;
  out.warning = r.warning;
  for (const auto& f : r.findings)
    out.findings.push_back(finding_view(f));
  return out;
}

json finding_json(const Finding& f) {
  return finding_view(f);
}

json report_json(const RecipeReport& r) {
  return recipe_view(r);
}

}  // namespace tvd
