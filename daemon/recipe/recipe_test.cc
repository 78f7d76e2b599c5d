#include "daemon/recipe/recipe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "config/embedded.h"
#include "tests/support/scratch.h"

namespace tvd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
const std::filesystem::path kGolden = std::filesystem::path(TVD_SOURCE_DIR) / "tests" / "golden";

struct Example {
  Substitutions subs;  // the seed's list plus what the generalized templates also need
  std::string template_name;
  std::string expected;
};

// The seed's Example N, as tests/golden/from_seed.py wrote it.
Example load_example(int n) {
  auto doc = nlohmann::json::parse(
      testing::read_text(kGolden / ("example" + std::to_string(n) + ".json")));
  Example e;
  e.template_name = doc["template"];
  e.expected = testing::read_text(kGolden / ("example" + std::to_string(n) + ".nix"));
  auto add = [&](const std::string& key, const std::string& value) {
    if (key == "{CUDA_MAJOR}_{CUDA_MINOR}") {
      auto sep = value.find('_');
      e.subs["CUDA_MAJOR"] = value.substr(0, sep);
      e.subs["CUDA_MINOR"] = value.substr(sep + 1);
    } else {
      e.subs[key.substr(1, key.size() - 2)] = value;
    }
  };
  for (const auto& [k, v] : doc["substitutions"].items())
    add(k, v);
  for (const auto& [k, v] : doc["added"].items())
    add(k, v);
  return e;
}

// The seed's own templates (Pattern A generalised, Pattern B, CPU), kept as test templates of the
// substitution engine: recipes made from them fail today (`pytorch`, "sm_121"), so tvd no longer
// ships them.
struct SeedTemplates {
  Template a, b, cpu;
  const Template& pick(const std::string& name) const {
    return name == "A" ? a : name == "B" ? b : cpu;
  }
};
SeedTemplates seed_templates() {
  auto load = [](const char* file) {
    return Template::parse(file, testing::read_text(kGolden / "templates" / file),
                           known_placeholders())
        .value();
  };
  return {load("gpu-pattern-a.nix.in"), load("gpu-pattern-b.nix.in"), load("cpu.nix.in")};
}

class Recipes : public ::testing::Test {
 protected:
  Matrix m = std::move(Matrix::embedded().value());
  TemplateSet t = std::move(TemplateSet::embedded("torchvision").value());
  SeedTemplates seed = seed_templates();

  Variant variant(std::string_view arch, std::string_view isa, std::string_view cuda = "12.8") {
    if (arch == "cpu") return m.variant(&m.default_python(), nullptr, nullptr, m.find_isa(isa));
    return m.variant(&m.default_python(), m.find_cuda(cuda), m.find_gpu_arch(arch),
                     m.find_isa(isa));
  }
  std::string render(const Variant& v) {
    return render_recipe(t, v, PytorchRecipes::scan("/nonexistent").choose(v)).value();
  }
};

// The seed's templates, filled with the seed's own substitution lists, give the seed's text.
TEST_F(Recipes, GoldenSeedExamples) {
  for (int n = 1; n <= 4; ++n) {
    SCOPED_TRACE("Example " + std::to_string(n));
    Example e = load_example(n);
    auto text = seed.pick(e.template_name).render(e.subs);
    ASSERT_TRUE(text) << text.error().message;
    EXPECT_EQ(*text, e.expected);
  }
}

// The tables give the seed's values, but where the documented rule says the tables win:
// {CPU_HARDWARE} from the ISA table, {CHOOSE_THIS_IF} from the GPU table, and a CPU build's
// single platform.
TEST_F(Recipes, TablesReproduceTheExamplesButForTheDocumentedRule) {
  const std::pair<int, Variant> cases[] = {
      {1, variant("sm121", "avx512")},
      {2, variant("sm120", "avx2")},
      {3, variant("sm120", "armv9")},
      {4, variant("cpu", "avx2")},
  };
  const std::set<std::string> may_differ = {"CPU_HARDWARE", "CHOOSE_THIS_IF", "PLATFORMS"};
  for (const auto& [n, v] : cases) {
    SCOPED_TRACE("Example " + std::to_string(n));
    Example e = load_example(n);
    Substitutions ours = substitutions(v);
    Substitutions expected_subs = e.subs;
    for (const auto& key : seed.pick(e.template_name).placeholders()) {
      ASSERT_TRUE(ours.count(key)) << key;
      std::string& value = expected_subs.at(key);
      if (ours.at(key) != value) {
        EXPECT_TRUE(may_differ.count(key))
            << "{" << key << "}: seed '" << value << "', tables '" << ours.at(key) << "'";
        value = ours.at(key);
      }
    }
    EXPECT_EQ(seed.pick(e.template_name).render(ours).value(),
              seed.pick(e.template_name).render(expected_subs).value());
  }
  EXPECT_THAT(render(variant("sm121", "avx512")),
              HasSubstr("- CPU: Intel Skylake-X+ (2017+), AMD Zen 4+ (2022+)"));
  EXPECT_THAT(render(variant("cpu", "avx2")), HasSubstr("platforms = [ \"x86_64-linux\" ];"));
}

// Today's recipe, as the real build-pytorch and build-torchvision write theirs (DESIGN.md).
TEST_F(Recipes, TheGpuRecipeFollowsTheRealRepositories) {
  std::string text = render(variant("sm89", "avx512vnni"));
  EXPECT_THAT(text, HasSubstr("{ pkgs ? import <nixpkgs> { } }:"));
  EXPECT_THAT(text, HasSubstr("url = \"https://github.com/NixOS/nixpkgs/archive/"
                              "fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3.tar.gz\";"));
  EXPECT_THAT(text, HasSubstr("system = pkgs.stdenv.hostPlatform.system;"));
  EXPECT_THAT(text, HasSubstr("allowUnfree = true;"));
  EXPECT_THAT(
      text,
      HasSubstr("overlays = [ (final: prev: { cudaPackages = final.cudaPackages_12_8; }) ];"));
  EXPECT_THAT(text, HasSubstr("pythonPackages = nixpkgs.python3Packages;"));
  EXPECT_THAT(text, HasSubstr("customPytorch = (pythonPackages.torch.override {"));
  EXPECT_THAT(text, Not(HasSubstr(".pytorch")));
  EXPECT_THAT(text, HasSubstr("gpuArchSM = \"8.9\";"));
  EXPECT_THAT(text, HasSubstr("gpuTargets = [ gpuArchSM ];"));
  EXPECT_THAT(text, Not(HasSubstr("sm_89")));
  EXPECT_THAT(text, HasSubstr("requiredSystemFeatures = [ \"big-parallel\" ];"));
  EXPECT_THAT(text, HasSubstr("export MAX_JOBS=32"));
  EXPECT_THAT(text, HasSubstr("++ [ customPytorch.out ];"));
  EXPECT_THAT(text, HasSubstr("cpuISA = \"avx512vnni\";"));
  EXPECT_THAT(text, HasSubstr("cudaVersion = \"12.8\";"));
  EXPECT_THAT(text, HasSubstr("pythonVersion = \"3.13\";"));
  EXPECT_THAT(text, HasSubstr("pname = \"torchvision-python313-cuda12_8-sm89-avx512vnni\";"));
  EXPECT_THAT(text, HasSubstr("platforms = [ \"x86_64-linux\" ];"));
  EXPECT_THAT(text, Not(HasSubstr("allowBroken")));
}

TEST_F(Recipes, EveryCudaVersionIsSelectedForTheWholePackageSet) {
  for (const char* cuda : {"12.8", "12.9", "13.0", "13.1"}) {
    SCOPED_TRACE(cuda);
    std::string text = render(variant("sm90", "armv9", cuda));
    const std::string attr = m.find_cuda(cuda)->packages;
    EXPECT_THAT(text, HasSubstr("cudaPackages = final." + attr + ";"));
    EXPECT_THAT(text, HasSubstr("CUDA: " + std::string(cuda)));
  }
  // nixpkgs' torch is marked broken with CUDA 13 (data: the cuda table's allow_broken).
  EXPECT_THAT(render(variant("sm90", "armv9", "13.0")), HasSubstr("allowBroken = true;"));
}

TEST_F(Recipes, WithoutAPinFloxsOwnNixpkgsIsImported) {
  ASSERT_TRUE(m.set_nixpkgs("flox"));
  std::string text = render(variant("sm89", "avx2"));
  EXPECT_THAT(text, HasSubstr("nixpkgs = import pkgs.path {"));
  EXPECT_THAT(text, Not(HasSubstr("fetchTarball")));
  ASSERT_TRUE(m.set_nixpkgs("pytorch-2.9"));
  EXPECT_THAT(render(variant("sm89", "avx2", "12.9")),
              HasSubstr("6a030d535719c5190187c4cec156f335e95e3211"));
}

TEST_F(Recipes, Sm61AndAvxCarryWhatPytorchNeedsWithoutThem) {
  std::string text = render(variant("sm61", "avx"));
  EXPECT_THAT(text, HasSubstr("gpuArchSM = \"6.1\";"));
  EXPECT_THAT(text, HasSubstr("      export USE_CUDNN=0\n"));
  EXPECT_THAT(text, HasSubstr("      export USE_FBGEMM=0\n"));
  EXPECT_THAT(
      text, HasSubstr("cmakeFlags = (oldAttrs.cmakeFlags or [ ]) ++ [ \"-DCXX_AVX2_FOUND=FALSE\""));
  std::string plain = render(variant("sm89", "avx2"));
  EXPECT_THAT(plain, Not(HasSubstr("USE_CUDNN")));
  EXPECT_THAT(plain, Not(HasSubstr("cmakeFlags")));
}

TEST_F(Recipes, CpuFlagsAreLaidOutAsTheSeedDoes) {
  EXPECT_EQ(format_cpu_flags({"-mavx2", "-mfma", "-mf16c"}),
            "\"-mavx2\"       \"-mfma\"        \"-mf16c\"");
  EXPECT_EQ(format_cpu_flags(
                {"-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw", "-mavx512bf16", "-mfma"}),
            "\"-mavx512f\"    \"-mavx512dq\"   \"-mavx512vl\"   \"-mavx512bw\"   \"-mavx512bf16\" "
            "\"-mfma\"");
  EXPECT_EQ(format_cpu_flags({"-march=armv9-a+sve2"}), "\"-march=armv9-a+sve2\"");
}

TEST_F(Recipes, AStrayPlaceholderInTheTablesFailsLoudly) {
  std::string json(embedded::matrix_json());
  auto pos = json.find("NVIDIA Ada Lovelace (RTX 4090, L40)");
  ASSERT_NE(pos, std::string::npos);
  json.replace(pos, 4, "{GPU_NAME}");
  auto bad = Matrix::parse(json, "test");
  ASSERT_TRUE(bad) << bad.error().message;
  Variant v = bad->variant(&bad->default_python(), &bad->default_cuda(), bad->find_gpu_arch("sm89"),
                           bad->find_isa("avx2"));
  auto r = render_recipe(t, v, PytorchRecipes::scan("/nonexistent").choose(v));
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("torchvision-python313-cuda12_8-sm89-avx2"));
  EXPECT_THAT(r.error().message, HasSubstr("{GPU_NAME}"));
}

TEST_F(Recipes, TemplatesLoadFromADirectoryAndRefuseStrayPlaceholders) {
  testing::ScratchDir dir;
  for (const char* f : {"gpu.nix.in", "cpu.nix.in"}) {
    testing::write_text(dir / f, testing::read_text(std::filesystem::path(TVD_SOURCE_DIR) /
                                                    "config" / "templates" / "torchvision" / f));
  }
  ASSERT_TRUE(TemplateSet::load(dir.path()));
  testing::write_text(dir / "cpu.nix.in", "{ {PYTHON_PACKAGES}, {GPU_ARCH_NUMBER} }:\n");
  auto broken = TemplateSet::load(dir.path());
  ASSERT_FALSE(broken);
  EXPECT_THAT(broken.error().message, HasSubstr("cpu.nix.in"));
  EXPECT_THAT(broken.error().message, HasSubstr("line 1: unknown placeholder {GPU_ARCH_NUMBER}"));
  std::filesystem::remove(dir / "gpu.nix.in");
  EXPECT_FALSE(TemplateSet::load(dir.path()));
}

// A template that still calls nixpkgs' removed alias would fail every recipe at evaluation.
TEST_F(Recipes, ATemplateNamingPytorchIsRefusedAtLoad) {
  testing::ScratchDir dir;
  const auto src = std::filesystem::path(TVD_SOURCE_DIR) / "config" / "templates" / "torchvision";
  testing::write_text(dir / "cpu.nix.in", testing::read_text(src / "cpu.nix.in"));
  std::string gpu = testing::read_text(src / "gpu.nix.in");
  auto pos = gpu.find("pythonPackages.torch.override");
  ASSERT_NE(pos, std::string::npos);
  gpu.replace(pos, 20, "pythonPackages.pytorch");
  testing::write_text(dir / "gpu.nix.in", gpu);
  auto r = TemplateSet::load(dir.path());
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("gpu.nix.in: line 34: calls `.pytorch`"));
  EXPECT_THAT(r.error().message, HasSubstr("write `.torch`"));

  // The seed-era directory gets told what changed.
  testing::ScratchDir old;
  testing::write_text(old / "gpu-pattern-a.nix.in", "x");
  auto o = TemplateSet::load(old.path());
  ASSERT_FALSE(o);
  EXPECT_THAT(o.error().hint, HasSubstr("gpu.nix.in and cpu.nix.in"));
  EXPECT_THAT(o.error().hint, HasSubstr("sm_XX"));
}

}  // namespace
}  // namespace tvd
