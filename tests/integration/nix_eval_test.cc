// Every recipe tvd can write, through the real Nix parser and evaluator: `nix-instantiate
// --parse`, then `--eval --strict --json` against tests/support/nixpkgs-stub.nix, which checks
// pname, meta.platforms, the PyTorch override's cudaSupport, gpuTargets and cudaPackages, and the
// CPU flags in both preConfigure hooks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon/config/setup.h"
#include "daemon/matrix/spec.h"
#include "daemon/recipe/pattern.h"
#include "tests/support/scratch.h"

namespace tvd {
namespace {

using nlohmann::json;
using testing::run_command;

const std::string kStub = std::string(TVD_SOURCE_DIR) + "/tests/support/nixpkgs-stub.nix";

// What the matrix says a variant's recipe means.
json expected(const Variant& v, Pattern pattern) {
  json flags = v.isa->flags;
  json j = {{"pname", v.package()},
            {"platforms", {v.isa->platform}},
            {"pythonPackages", v.python->packages},
            {"cudaSupport", v.is_gpu()},
            {"flags", flags},
            {"gpuTargets", nullptr},
            {"cudaPackages", nullptr}};
  if (v.is_gpu()) {
    j["gpuTargets"] = {pattern == Pattern::kA ? "sm_" + v.gpu->num : v.gpu->decimal};
    if (!v.cuda->nixpkgs_default) j["cudaPackages"] = v.cuda->packages;
  }
  return j;
}

class NixEval : public ::testing::Test {
 protected:
  testing::ScratchDir root;
  std::filesystem::path env = root / "build-torchvision";
  std::filesystem::path config = root / "tvd.json";

  void SetUp() override {
    if (run_command({"nix-instantiate", "--version"}).exit_code != 0) {
      GTEST_SKIP() << "nix-instantiate is not installed (scripts/deps.sh installs nix-bin)";
    }
    testing::make_flox_env(env);
  }

  // Generates `specs` with the real binary, then parses and evaluates every recipe it wrote.
  size_t generate_and_evaluate(const std::string& axes_json,
                               const std::vector<std::string>& specs) {
    testing::write_text(config, R"({"flox_env": "build-torchvision", "axes": )" + axes_json + "}");
    std::vector<std::string> argv = {TVD_BIN,  "generate", "--force",
                                     "--json", "--config", config.string()};
    argv.insert(argv.end(), specs.begin(), specs.end());
    auto gen = run_command(argv);
    EXPECT_EQ(gen.exit_code, 0) << gen.err;
    auto setup = load_setup(config).value();
    auto pytorch = PytorchRecipes::scan(setup.config.pytorch_env);

    size_t evaluated = 0;
    const json report = json::parse(gen.out);
    for (const auto& r : report["recipes"]) {
      const std::string file = r["file"];
      SCOPED_TRACE(file);
      auto parse = run_command({"nix-instantiate", "--store", "dummy://", "--parse", file});
      EXPECT_EQ(parse.exit_code, 0) << parse.err;

      Variant v = resolve_specs(setup.matrix, {r["variant"].get<std::string>()}, true)
                      .value()
                      .front()
                      .variant;
      json want = expected(v, v.is_gpu() ? pytorch.choose(v).pattern : Pattern::kB);
      auto eval =
          run_command({"nix-instantiate", "--store", "dummy://", "--eval", "--strict", "--json",
                       kStub, "--arg", "recipe", file, "--argstr", "expected", want.dump()});
      EXPECT_EQ(eval.exit_code, 0) << eval.err;
      if (eval.exit_code != 0) continue;
      json seen = json::parse(eval.out);
      EXPECT_EQ(seen["pname"], want["pname"]);
      EXPECT_EQ(seen["platforms"], want["platforms"]);
      EXPECT_EQ(seen["gpuTargets"], want["gpuTargets"]);
      EXPECT_EQ(seen["cudaPackages"], want["cudaPackages"]);
      ++evaluated;
    }
    return evaluated;
  }
};

TEST_F(NixEval, EveryRecipeOfTheFull60CellMatrix) {
  EXPECT_EQ(generate_and_evaluate("{}", {"all"}), 60u);
}

TEST_F(NixEval, OtherPythonsAndANonDefaultCudaAreReallySelected) {
  EXPECT_EQ(generate_and_evaluate(R"({"python": ["python312", "python311"], "cuda": ["12.9"],
                                      "gpu_archs": ["sm121", "sm90", "sm86"], "cpu_isas": ["armv9", "avx2", "armv8.2"]})",
                                  {"all"}),
            2u * 3 * 3 + 2 * 3);
}

TEST_F(NixEval, TheStubCatchesARecipeThatLies) {
  // A recipe whose flags and platform are wrong must fail the evaluation: the stub's checks bite.
  auto file = root / "liar.nix";
  testing::write_text(file, R"({ python3Packages, lib, openblas }:
(python3Packages.torchvision.override {
  torch = python3Packages.pytorch.override { cudaSupport = false; };
}).overrideAttrs (old: { pname = "torchvision-python313-cpu-avx2"; preConfigure = "";
  meta = old.meta // { platforms = [ "aarch64-linux" ]; }; }))");
  json want = {{"pname", "torchvision-python313-cpu-avx2"},
               {"platforms", {"x86_64-linux"}},
               {"pythonPackages", "python3Packages"},
               {"cudaSupport", false},
               {"flags", {"-mavx2"}},
               {"gpuTargets", nullptr},
               {"cudaPackages", nullptr}};
  auto eval =
      run_command({"nix-instantiate", "--store", "dummy://", "--eval", "--strict", "--json", kStub,
                   "--arg", "recipe", file.string(), "--argstr", "expected", want.dump()});
  EXPECT_NE(eval.exit_code, 0);
  EXPECT_THAT(eval.err,
              ::testing::HasSubstr("meta.platforms is [aarch64-linux], expected [x86_64-linux]"));
}

}  // namespace
}  // namespace tvd
