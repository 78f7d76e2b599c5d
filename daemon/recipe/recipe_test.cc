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
  // The examples use CUDA 12.8, nixpkgs' default: nothing selects it.
  e.subs["CUDA_PACKAGES_ARG"] = "";
  e.subs["CUDA_PACKAGES_OVERRIDE"] = "";
  return e;
}

const Template& pick(const TemplateSet& t, const std::string& name) {
  return name == "A" ? t.gpu_a : name == "B" ? t.gpu_b : t.cpu;
}

class Recipes : public ::testing::Test {
 protected:
  Matrix m = std::move(Matrix::embedded().value());
  TemplateSet t = std::move(TemplateSet::embedded().value());

  Variant variant(std::string_view arch, std::string_view isa, std::string_view cuda = "12.8") {
    if (arch == "cpu") return {&m.default_python(), nullptr, nullptr, m.find_isa(isa)};
    return {&m.default_python(), m.find_cuda(cuda), m.find_gpu_arch(arch), m.find_isa(isa)};
  }
  std::string render(const Variant& v) {
    return render_recipe(t, v, v.is_gpu() ? v.gpu->pattern : Pattern::kB).value();
  }
};

// The templates, filled with the seed's own substitution lists, give the seed's text.
TEST_F(Recipes, GoldenSeedExamples) {
  for (int n = 1; n <= 4; ++n) {
    SCOPED_TRACE("Example " + std::to_string(n));
    Example e = load_example(n);
    auto text = pick(t, e.template_name).render(e.subs);
    ASSERT_TRUE(text) << text.error().message;
    EXPECT_EQ(*text, e.expected);
  }
}

// Generated from the tables, each example differs from its golden only where the documented
// rule says the tables win: {CPU_HARDWARE} from the ISA table, {CHOOSE_THIS_IF} from the GPU
// table, and a CPU build's single platform.
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
    for (const auto& key : pick(t, e.template_name).placeholders()) {
      ASSERT_TRUE(ours.count(key)) << key;
      std::string& value = expected_subs.at(key);
      if (ours.at(key) != value) {
        EXPECT_TRUE(may_differ.count(key))
            << "{" << key << "}: seed '" << value << "', tables '" << ours.at(key) << "'";
        value = ours.at(key);
      }
    }
    EXPECT_EQ(render(v), pick(t, e.template_name).render(expected_subs).value());
  }
  EXPECT_THAT(render(variant("sm121", "avx512")),
              HasSubstr("- CPU: Intel Skylake-X+ (2017+), AMD Zen 4+ (2022+)"));
  EXPECT_THAT(render(variant("cpu", "avx2")), HasSubstr("platforms = [ \"x86_64-linux\" ];"));
}

TEST_F(Recipes, PatternAIsTheSm121TemplateMadeGeneral) {
  std::string text = render_recipe(t, variant("sm89", "avx512vnni"), Pattern::kA).value();
  EXPECT_THAT(text, HasSubstr("gpuArchNum = \"89\";"));
  EXPECT_THAT(text, HasSubstr("gpuArchSM = \"sm_89\";"));
  EXPECT_THAT(text, HasSubstr("gpuTargets = [ gpuArchSM ];"));
  EXPECT_THAT(text, HasSubstr("(Compute Capability 8.9)"));
  EXPECT_THAT(text, HasSubstr("GPU Target: SM89 (NVIDIA Ada Lovelace (RTX 4090, L40))"));
  EXPECT_THAT(text, HasSubstr("pname = \"torchvision-python313-cuda12_8-sm89-avx512vnni\";"));
  EXPECT_THAT(text, Not(HasSubstr("121")));

  std::string b = render_recipe(t, variant("sm89", "avx512vnni"), Pattern::kB).value();
  EXPECT_THAT(b, HasSubstr("gpuArchNum = \"8.9\";"));
  EXPECT_THAT(b, HasSubstr("gpuTargets = [ gpuArchNum ];"));
  EXPECT_THAT(b, Not(HasSubstr("gpuArchSM")));
}

TEST_F(Recipes, ANonDefaultCudaIsReallySelected) {
  std::string text = render(variant("sm121", "armv9", "12.9"));
  EXPECT_THAT(text, HasSubstr("\n, cudaPackages_12_9\n"));
  EXPECT_THAT(text, HasSubstr("    cudaPackages = cudaPackages_12_9;"));
  EXPECT_THAT(text, HasSubstr("pname = \"torchvision-python313-cuda12_9-sm121-armv9\";"));
  EXPECT_THAT(render(variant("sm121", "armv9", "12.8")), Not(HasSubstr("cudaPackages_")));
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
  Variant v{&bad->default_python(), &bad->default_cuda(), bad->find_gpu_arch("sm89"),
            bad->find_isa("avx2")};
  auto r = render_recipe(t, v, Pattern::kA);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("torchvision-python313-cuda12_8-sm89-avx2"));
  EXPECT_THAT(r.error().message, HasSubstr("{GPU_NAME}"));
}

TEST_F(Recipes, TemplatesLoadFromADirectoryAndRefuseStrayPlaceholders) {
  testing::ScratchDir dir;
  for (const char* f : {"gpu-pattern-a.nix.in", "gpu-pattern-b.nix.in", "cpu.nix.in"}) {
    testing::write_text(dir / f, testing::read_text(std::filesystem::path(TVD_SOURCE_DIR) /
                                                    "config" / "templates" / f));
  }
  ASSERT_TRUE(TemplateSet::load(dir.path()));
  testing::write_text(dir / "cpu.nix.in", "{ {PYTHON_PACKAGES}, {GPU_ARCH_NUMBER} }:\n");
  auto broken = TemplateSet::load(dir.path());
  ASSERT_FALSE(broken);
  EXPECT_THAT(broken.error().message, HasSubstr("cpu.nix.in"));
  EXPECT_THAT(broken.error().message, HasSubstr("line 1: unknown placeholder {GPU_ARCH_NUMBER}"));
  std::filesystem::remove(dir / "gpu-pattern-a.nix.in");
  EXPECT_FALSE(TemplateSet::load(dir.path()));
}

}  // namespace
}  // namespace tvd
