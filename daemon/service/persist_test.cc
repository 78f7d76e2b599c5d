#include "daemon/service/persist.h"

#include <gtest/gtest.h>

#include "daemon/matrix/spec.h"
#include "tests/support/scratch.h"

namespace tvd::service {
namespace {

TEST(Persist, VariantRowsCarryTheMatrixAndRecipeProvenance) {
  auto matrix = Matrix::embedded().value();
  auto templates = TemplateSet::embedded("torchvision").value();
  testing::ScratchDir dir;
  RecipeEnv env{dir / "env", dir / "pytorch"};
  testing::make_flox_env(env.flox_env);
  auto sel = resolve_specs(matrix, {"sm89-avx2", "cpu-avx2"}, false).value();
  ASSERT_TRUE(generate_recipes(templates, env, sel, {}));
  testing::write_text(env.pkgs_dir() / "torchvision-python313-cpu-avx2.nix", "# by hand\n");

  auto rows = variant_rows(matrix, templates, env);
  ASSERT_EQ(rows.size(), 60u);
  std::map<std::string, store::VariantRow> by;
  for (auto& r : rows)
    by[r.package] = r;
  const auto& gpu = by.at("torchvision-python313-cuda12_8-sm89-avx2");
  EXPECT_EQ(gpu.recipe_source, "generated");
  EXPECT_EQ(gpu.template_hash, templates.gpu.hash());
  EXPECT_EQ(gpu.kind, "gpu");
  EXPECT_EQ(by.at("torchvision-python313-cpu-avx2").recipe_source, "hand-written");
  EXPECT_FALSE(by.at("torchvision-python313-cpu-avx2").template_hash);
  const auto& missing = by.at("torchvision-python313-cuda12_8-sm121-armv9");
  EXPECT_FALSE(missing.recipe_source);
  EXPECT_TRUE(missing.excluded);
}

}  // namespace
}  // namespace tvd::service
