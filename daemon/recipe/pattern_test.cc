#include "daemon/recipe/pattern.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch.h"

namespace tvd {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::write_text;

const char* kPatternA =
    "  gpuArchNum = \"89\";\n  gpuArchSM = \"sm_89\";\n  gpuTargets = [ gpuArchSM ];\n";
const char* kPatternB = "  gpuArchNum = \"8.9\";\n  gpuTargets = [ gpuArchNum ];\n";

class Patterns : public ::testing::Test {
 protected:
  Matrix m = std::move(Matrix::embedded().value());
  ScratchDir env;
  Variant v(std::string_view arch, std::string_view isa) {
    return {&m.default_python(), &m.default_cuda(), m.find_gpu_arch(arch), m.find_isa(isa)};
  }
  void pytorch(const std::string& name, const char* text) {
    write_text(env / (".flox/pkgs/" + name), text);
  }
};

TEST_F(Patterns, WithoutAPytorchEnvironmentTheTableDecides) {
  auto r = PytorchRecipes::scan(env / "missing");
  EXPECT_EQ(r.size(), 0u);
  auto sm89 = r.choose(v("sm89", "avx2"));
  EXPECT_EQ(sm89.pattern, Pattern::kA);
  EXPECT_FALSE(sm89.from_pytorch);
  EXPECT_THAT(sm89.source, HasSubstr("matrix.json: build-pytorch's recipes use gpuArchSM"));
  EXPECT_EQ(r.choose(v("sm120", "avx2")).pattern, Pattern::kB);
}

TEST_F(Patterns, ThePytorchRecipeDecidesSameIsaFirst) {
  pytorch("pytorch-python313-cuda12_8-sm89-avx2.nix", kPatternB);
  pytorch("pytorch-python313-cuda12_8-sm89-avx512.nix", kPatternA);
  pytorch("pytorch-python313-cuda12_8-sm120-avx2.nix", kPatternA);
  auto r = PytorchRecipes::scan(env.path());
  EXPECT_EQ(r.size(), 3u);

  auto same = r.choose(v("sm89", "avx512"));
  EXPECT_EQ(same.pattern, Pattern::kA);
  EXPECT_TRUE(same.from_pytorch);
  EXPECT_THAT(same.source, HasSubstr("pytorch-python313-cuda12_8-sm89-avx512.nix"));

  // No armv9 recipe: the first of the architecture's recipes decides.
  auto other = r.choose(v("sm89", "armv9"));
  EXPECT_EQ(other.pattern, Pattern::kB);
  EXPECT_THAT(other.source, HasSubstr("pytorch-python313-cuda12_8-sm89-avx2.nix"));

  // The PyTorch recipe overrides the table's B for sm120.
  EXPECT_EQ(r.choose(v("sm120", "armv9")).pattern, Pattern::kA);
}

TEST_F(Patterns, AnArchitectureIsNotAPrefixOfAnother) {
  pytorch("pytorch-python313-cuda12_8-sm121-armv9.nix", kPatternB);
  auto r = PytorchRecipes::scan(env.path());
  // sm121's recipe says B; it must not decide for sm12x or others.
  EXPECT_TRUE(r.choose(v("sm121", "armv9")).from_pytorch);
  EXPECT_FALSE(r.choose(v("sm120", "armv9")).from_pytorch);
}

TEST_F(Patterns, PatternOfText) {
  EXPECT_EQ(pattern_of_text(kPatternA), Pattern::kA);
  EXPECT_EQ(pattern_of_text(kPatternB), Pattern::kB);
}

}  // namespace
}  // namespace tvd
