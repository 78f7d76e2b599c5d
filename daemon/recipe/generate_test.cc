#include "daemon/recipe/generate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch.h"

namespace tvd {
namespace {

using ::testing::HasSubstr;
using testing::list_files;
using testing::read_text;
using testing::ScratchDir;
using testing::write_text;

class Generate : public ::testing::Test {
 protected:
  Matrix m = std::move(Matrix::embedded().value());
  TemplateSet t = std::move(TemplateSet::embedded("torchvision").value());
  ScratchDir root;
  RecipeEnv env{root / "build-torchvision", root / "build-pytorch"};

  void SetUp() override { testing::make_flox_env(env.flox_env); }

  std::vector<Selection> select(std::vector<std::string> specs, bool force = false) {
    return resolve_specs(m, specs, force).value();
  }
  std::map<Outcome, int> outcomes(const std::vector<RecipeReport>& reports) {
    std::map<Outcome, int> out;
    for (const auto& r : reports)
      out[r.outcome]++;
    return out;
  }
  std::vector<std::string> recipes() { return list_files(env.pkgs_dir()); }
};

TEST_F(Generate, AllWritesThe42BuildableRecipesThenNothing) {
  auto first = generate_recipes(t, env, select({"all"}), {});
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(outcomes(*first),
            (std::map<Outcome, int>{{Outcome::kWritten, 42}, {Outcome::kExcluded, 18}}));
  EXPECT_EQ(recipes().size(), 42u);
  for (const auto& r : *first) {
    if (r.outcome == Outcome::kWritten) {
      EXPECT_EQ(read_text(r.file), r.text);
    }
  }
  auto again = generate_recipes(t, env, select({"all"}), {});
  ASSERT_TRUE(again);
  EXPECT_EQ(outcomes(*again),
            (std::map<Outcome, int>{{Outcome::kUnchanged, 42}, {Outcome::kExcluded, 18}}));
}

TEST_F(Generate, AHandEditedRecipeIsKeptUnlessOverwriteIsGiven) {
  ASSERT_TRUE(generate_recipes(t, env, select({"sm89-avx2"}), {}));
  auto file = env.pkgs_dir() / "torchvision-python313-cuda12_8-sm89-avx2.nix";
  write_text(file, "# edited by hand\n");

  auto kept = generate_recipes(t, env, select({"sm89-avx2"}), {});
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->front().state, FileState::kDiffers);
  EXPECT_EQ(kept->front().outcome, Outcome::kKept);
  EXPECT_EQ(read_text(file), "# edited by hand\n");

  auto dry = generate_recipes(t, env, select({"sm89-avx2"}), {.dry_run = true, .overwrite = true});
  ASSERT_TRUE(dry);
  EXPECT_EQ(dry->front().outcome, Outcome::kWouldOverwrite);
  EXPECT_EQ(read_text(file), "# edited by hand\n");

  auto replaced = generate_recipes(t, env, select({"sm89-avx2"}), {.overwrite = true});
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->front().outcome, Outcome::kOverwritten);
  EXPECT_EQ(read_text(file), replaced->front().text);
}

TEST_F(Generate, DryRunWritesNothing) {
  auto r = generate_recipes(t, env, select({"sm90-*"}), {.dry_run = true});
  ASSERT_TRUE(r);
  EXPECT_EQ(outcomes(*r), (std::map<Outcome, int>{{Outcome::kWouldWrite, 6}}));
  EXPECT_FALSE(std::filesystem::exists(env.pkgs_dir()));
}

TEST_F(Generate, RefusesADirectoryThatIsNotAFloxEnvironment) {
  RecipeEnv bare{root / "nothing-here", root / "build-pytorch"};
  auto r = generate_recipes(t, bare, select({"sm89-avx2"}), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kBadInput);
  EXPECT_THAT(r.error().message, HasSubstr("is not a flox environment"));
}

TEST_F(Generate, AnUnwritableDirectoryIsAClearErrorAndNothingIsWritten) {
  write_text(env.pkgs_dir(), "a file where the directory should be\n");
  auto r = generate_recipes(t, env, select({"sm89-avx2", "cpu-avx2"}), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kIo);
  EXPECT_THAT(r.error().message, HasSubstr(env.pkgs_dir().string()));
  EXPECT_THAT(r.error().message, HasSubstr("nothing was written"));
  EXPECT_EQ(list_files(env.flox_env / ".flox"),
            (std::vector<std::string>{"env/manifest.toml", "pkgs"}));
}

TEST_F(Generate, APermissionDeniedDirectoryIsAClearError) {
  if (testing::running_as_root()) GTEST_SKIP() << "root may write anywhere";
  std::filesystem::create_directories(env.pkgs_dir());
  std::filesystem::permissions(
      env.pkgs_dir(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  auto r = generate_recipes(t, env, select({"sm89-avx2"}), {});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("Permission denied"));
}

TEST_F(Generate, AFailureHalfwayRemovesWhatThisCallWrote) {
  // The fourth recipe's name is taken by a dangling link: the no-replace rename refuses it after
  // three recipes were written.
  std::filesystem::create_directories(env.pkgs_dir());
  auto blocked = env.pkgs_dir() / "torchvision-python313-cuda12_8-sm90-avx2.nix";
  std::filesystem::create_symlink(root / "nowhere", blocked);
  write_text(env.pkgs_dir() / "torchvision-python313-cuda12_8-sm90-avx512.nix", "# by hand\n");
  auto r = generate_recipes(t, env, select({"sm90-*"}), {.overwrite = true});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("nothing was written"));
  EXPECT_EQ(list_files(env.pkgs_dir()),
            std::vector<std::string>{"torchvision-python313-cuda12_8-sm90-avx512.nix"});
  EXPECT_EQ(read_text(env.pkgs_dir() / "torchvision-python313-cuda12_8-sm90-avx512.nix"),
            "# by hand\n");
}

TEST_F(Generate, FlagsARecipeWhoseGpuTargetDisagreesWithPytorch) {
  write_text(env.pytorch_env / ".flox/pkgs/pytorch-python313-cuda12_8-sm89-avx2.nix",
             "gpuArchSM = \"8.9+PTX\";\ngpuTargets = [ gpuArchSM ];\n");
  write_text(env.pkgs_dir() / "torchvision-python313-cuda12_8-sm89-avx2.nix",
             "gpuArchNum = \"8.9\";\ngpuTargets = [ gpuArchNum ];\n");
  auto r = inspect_recipes(t, env, select({"sm89-avx2", "sm89-avx512"}));
  ASSERT_TRUE(r);
  EXPECT_THAT((*r)[0].warning, HasSubstr("the recipe passes gpuTargets \"8.9\" but its PyTorch "
                                         "recipe passes \"8.9+PTX\""));
  EXPECT_TRUE((*r)[1].warning.empty());
  // What is generated passes the PyTorch recipe's value.
  EXPECT_THAT((*r)[0].text, HasSubstr("gpuArchSM = \"8.9+PTX\";"));
}

}  // namespace
}  // namespace tvd
