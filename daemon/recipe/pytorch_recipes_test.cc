#include "daemon/recipe/pytorch_recipes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch.h"

namespace tvd {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::write_text;

// build-pytorch today (2026-02-05 on): the variable keeps its name, the value is dotted.
const char* kToday =
    "  nixpkgs_pinned = import (builtins.fetchTarball {\n"
    "    url = \"https://github.com/NixOS/nixpkgs/archive/"
    "fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3.tar.gz\";\n  }) {\n"
    "    overlays = [ (final: prev: { cudaPackages = final.cudaPackages_12_8; }) ];\n  };\n"
    "  gpuArchNum = \"89\";  # For CMAKE_CUDA_ARCHITECTURES\n"
    "  gpuArchSM = \"8.9\";  # For TORCH_CUDA_ARCH_LIST (dot notation)\n"
    "  (nixpkgs_pinned.python313Packages.torch.override {\n"
    "    cudaSupport = true;\n    gpuTargets = [ gpuArchSM ];\n";
// The seed's era: Pattern A with an sm_ value, which PyTorch's CMake rejects.
const char* kSeedEra =
    "  gpuArchNum = \"121\";\n  gpuArchSM = \"sm_121\";\n  gpuTargets = [ gpuArchSM ];\n";

class PytorchSibling : public ::testing::Test {
 protected:
  Matrix m = std::move(Matrix::embedded().value());
  ScratchDir env;
  Variant v(std::string_view arch, std::string_view isa, std::string_view cuda = "12.8") {
    return m.variant(&m.default_python(), m.find_cuda(cuda), m.find_gpu_arch(arch),
                     m.find_isa(isa));
  }
  void pytorch(const std::string& name, const std::string& text) {
    write_text(env / (".flox/pkgs/" + name), text);
  }
};

TEST_F(PytorchSibling, WithoutAPytorchEnvironmentTheMatrixDecides) {
  auto r = PytorchRecipes::scan(env / "missing");
  EXPECT_EQ(r.size(), 0u);
  auto c = r.choose(v("sm89", "avx2"));
  EXPECT_EQ(c.gpu_target, "8.9");
  EXPECT_FALSE(c.from_pytorch);
  EXPECT_THAT(c.gpu_target_source, HasSubstr("matrix.json"));
  EXPECT_EQ(c.nixpkgs_commit, "fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3");
  EXPECT_THAT(c.nixpkgs_source, HasSubstr("nixpkgs pin pytorch-2.8"));
}

TEST_F(PytorchSibling, TodaysRecipeGivesItsValueAndPin) {
  std::string other = kToday;
  other.replace(other.find("8.9"), 3, "8.9+PTX");
  other.replace(other.find("fe5e41d7"), 8, "0123abcd");
  pytorch("pytorch-python313-cuda12_8-sm89-avx512vnni.nix", kToday);
  pytorch("pytorch-python313-cuda12_8-sm89-avx2.nix", other);
  auto r = PytorchRecipes::scan(env.path());
  EXPECT_EQ(r.size(), 2u);

  auto same = r.choose(v("sm89", "avx2"));  // the same ISA's file first
  EXPECT_TRUE(same.from_pytorch);
  EXPECT_EQ(same.gpu_target, "8.9+PTX");
  EXPECT_THAT(same.gpu_target_source, HasSubstr("pytorch-python313-cuda12_8-sm89-avx2.nix:7"));
  EXPECT_EQ(same.nixpkgs_commit, "0123abcdffc0421f0913e8472ce6238ed0daf8e3");
  EXPECT_TRUE(same.pytorch_problems.empty());

  // No armv9 file: another ISA's recipe of the same architecture decides.
  auto arm = r.choose(v("sm89", "armv9"));
  EXPECT_TRUE(arm.from_pytorch);
  EXPECT_THAT(arm.pytorch_file->string(), HasSubstr("sm89-avx2.nix"));
}

TEST_F(PytorchSibling, ASeedEraSmValueIsReportedAndNeverCopied) {
  pytorch("pytorch-python313-cuda12_8-sm121-armv9.nix", kSeedEra);
  auto c = PytorchRecipes::scan(env.path()).choose(v("sm121", "armv9"));
  EXPECT_EQ(c.gpu_target, "12.1");
  EXPECT_FALSE(c.from_pytorch);
  ASSERT_EQ(c.pytorch_problems.size(), 1u);
  EXPECT_THAT(c.pytorch_problems[0], HasSubstr("pytorch-python313-cuda12_8-sm121-armv9.nix:2"));
  EXPECT_THAT(c.pytorch_problems[0], HasSubstr("passes gpuTargets \"sm_121\""));
  EXPECT_THAT(c.pytorch_problems[0],
              HasSubstr("Unknown CUDA Architecture Name sm_121 in CUDA_SELECT_NVCC_ARCH_FLAGS"));
  EXPECT_THAT(c.pytorch_problems[0], HasSubstr("write \"12.1\""));
}

TEST_F(PytorchSibling, ACudaMismatchInThePytorchRecipeIsReported) {
  std::string wrong = kToday;
  wrong.replace(wrong.find("cudaPackages_12_8"), 17, "cudaPackages_12_9");
  pytorch("pytorch-python313-cuda12_8-sm89-avx2.nix", wrong);
  auto c = PytorchRecipes::scan(env.path()).choose(v("sm89", "avx2"));
  ASSERT_EQ(c.pytorch_problems.size(), 1u);
  EXPECT_THAT(c.pytorch_problems[0],
              HasSubstr("selects cudaPackages_12_9 (CUDA 12.9), not CUDA 12.8"));
}

TEST_F(PytorchSibling, AnArchitectureIsNotAPrefixOfAnother) {
  pytorch("pytorch-python313-cuda12_8-sm121-armv9.nix", kToday);
  auto r = PytorchRecipes::scan(env.path());
  EXPECT_TRUE(r.choose(v("sm121", "armv9")).from_pytorch);
  EXPECT_FALSE(r.choose(v("sm120", "armv9")).from_pytorch);
}

TEST(RecipeFacts, ReadsLiteralsAndVariables) {
  auto direct = read_recipe_facts("x = 1;\n  gpuTargets = [ \"9.0a\" ];\n");
  EXPECT_EQ(direct.gpu_target, "9.0a");
  EXPECT_EQ(direct.gpu_target_line, 2u);
  auto none = read_recipe_facts("cudaSupport = false;");
  EXPECT_FALSE(none.gpu_target);
  EXPECT_FALSE(none.nixpkgs_commit);
  auto today = read_recipe_facts(kToday);
  EXPECT_EQ(today.gpu_target, "8.9");
  EXPECT_EQ(today.cuda_packages, "cudaPackages_12_8");
  EXPECT_FALSE(today.nixpkgs_sha256);
}

// Whether the pinned nixpkgs is imported with `system`: at the import's own level only.
TEST(RecipeFacts, ThePinsImportWithOrWithoutSystem) {
  const std::string head =
      "let p = import (builtins.fetchTarball {\n  url = \"https://github.com/NixOS/nixpkgs/"
      "archive/fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3.tar.gz\";\n}) {\n";
  auto without =
      read_recipe_facts(head + "  config = { system = 1; };\n  overlays = [ ];\n}; in p");
  EXPECT_TRUE(without.pin_without_system);
  EXPECT_EQ(without.pin_line, 2u);
  EXPECT_FALSE(read_recipe_facts(head + "  system = pkgs.stdenv.hostPlatform.system;\n}; in p")
                   .pin_without_system);
  EXPECT_FALSE(read_recipe_facts(head + "  inherit (pkgs) system;\n}; in p").pin_without_system);
  EXPECT_FALSE(read_recipe_facts("{ pkgs }: pkgs.hello").pin_without_system);  // no pin
}

// A TorchVision recipe's own torch, and whether its `out` propagates.
TEST(RecipeFacts, TheTorchItBuildsAgainstAndWhetherItsOutPropagates) {
  const std::string base = "(tv.override {\n  torch = customPytorch;\n}).overrideAttrs (old: {\n";
  auto lacks = read_recipe_facts(base + "  pname = \"x\";\n})");
  EXPECT_EQ(lacks.torch_variable, "customPytorch");
  EXPECT_EQ(lacks.torch_variable_line, 2u);
  EXPECT_FALSE(lacks.propagates_torch_out);
  EXPECT_TRUE(read_recipe_facts(base +
                                "  propagatedBuildInputs = (old.propagatedBuildInputs or []) ++ [ "
                                "customPytorch.out ];\n})")
                  .propagates_torch_out);
}

TEST(CudaArch, WhatPytorchsCmakeAccepts) {
  for (const char* ok : {"8.9", "12.0", "9.0a", "10.0f", "8.6+PTX", "Ampere", "Hopper+PTX"})
    EXPECT_EQ(cuda_arch_problem(ok), "") << ok;
  for (const char* bad : {"sm_89", "89", "8.9.1", "compute_89", "", "sm89"})
    EXPECT_NE(cuda_arch_problem(bad), "") << bad;
  EXPECT_THAT(cuda_arch_problem("sm_120"), HasSubstr("write \"12.0\""));
}

}  // namespace
}  // namespace tvd
