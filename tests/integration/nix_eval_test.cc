// Every recipe tvd writes, through the real Nix evaluator (Debian's nix-bin) for its own platform,
// as flox evaluates it (callPackage FILE {}), against tests/support/nixpkgs-stub: a stub that
// fails where nixpkgs fails (the `pytorch` alias, gpuTargets as PyTorch's CMake checks them,
// meta.platforms, broken, unfree), so that an evaluation here stands for one on a real host.
// The pinned nixpkgs' fetchTarball is served the stub by `check.nixpkgs_sources`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon/config/setup.h"
#include "daemon/exec/capture.h"
#include "daemon/matrix/spec.h"
#include "daemon/recipe/evaluate.h"
#include "daemon/recipe/recipe.h"
#include "tests/support/scratch.h"

namespace tvd {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::run_command;

const std::filesystem::path kStub =
    std::filesystem::path(TVD_SOURCE_DIR) / "tests/support/nixpkgs-stub";
const std::filesystem::path kSeedTemplates =
    std::filesystem::path(TVD_SOURCE_DIR) / "tests/golden/templates";

std::map<std::string, std::string> env_for_nix() {
  return {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/tmp"}};
}

EvalSettings stub_settings(const Matrix& m) {
  EvalSettings s;
  s.store = "dummy://";
  s.nix_path = {"nixpkgs=" + kStub.string()};
  for (const auto& pin : m.pins())
    s.nixpkgs_sources[pin.commit] = kStub;
  s.inspect = true;
  return s;
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

  // Generates with the real binary, then evaluates every recipe written for its own platform
  // and checks that it means what the matrix says. Returns how many evaluated.
  size_t generate_and_evaluate(const std::string& extra_config,
                               const std::vector<std::string>& specs) {
    testing::write_text(config, R"({"flox_env": "build-torchvision")" + extra_config + "}");
    std::vector<std::string> argv = {TVD_BIN,  "generate", "--force",
                                     "--json", "--config", config.string()};
    argv.insert(argv.end(), specs.begin(), specs.end());
    auto gen = run_command(argv);
    EXPECT_EQ(gen.exit_code, 0) << gen.err;
    auto setup = load_setup(config).value();
    const json report = json::parse(gen.out);

    std::vector<std::pair<std::filesystem::path, std::string>> todo;
    std::vector<Variant> variants;
    for (const auto& r : report["recipes"]) {
      Variant v = resolve_specs(setup.matrices(), {r["package"].get<std::string>()}, true)
                      .value()
                      .front()
                      .variant;
      todo.emplace_back(r["file"].get<std::string>(), v.isa->platform);
      variants.push_back(v);
    }
    auto results =
        evaluate_recipes(stub_settings(setup.environments.front().matrix), todo, env_for_nix());
    size_t evaluated = 0;
    for (size_t i = 0; i < results.size(); ++i) {
      const Variant& v = variants[i];
      SCOPED_TRACE(v.package());
      EXPECT_TRUE(results[i].ok) << results[i].error;
      if (!results[i].ok) continue;
      json seen = json::parse(results[i].json);
      EXPECT_THAT(seen["drvPath"].get<std::string>(), HasSubstr("-" + v.package() + "-0.23.0.drv"));
      EXPECT_EQ(seen["pname"], v.package());
      EXPECT_EQ(seen["platforms"], json::array({v.isa->platform}));
      EXPECT_EQ(seen["requiredSystemFeatures"], json::array({"big-parallel"}));
      EXPECT_EQ(seen["passthru"]["cpuISA"], v.isa->token);
      EXPECT_EQ(seen["passthru"]["pythonVersion"], v.python->version);
      // torch's `out` is propagated (not only the header-only `dev`), built for this variant.
      const json* torch_out = nullptr;
      for (const auto& p : seen["propagated"])
        if (p["pname"] == "torch" && p["outputName"] == "out") torch_out = &p;
      EXPECT_NE(torch_out, nullptr) << seen.dump();
      if (!torch_out) continue;
      const std::string pre = (*torch_out)["preConfigure"];
      std::string flags;
      for (const auto& f : v.isa->flags)
        flags += (flags.empty() ? "" : " ") + f;
      EXPECT_THAT(pre, HasSubstr("export CXXFLAGS=\"" + flags + " $CXXFLAGS\""));
      EXPECT_THAT(pre, HasSubstr("export MAX_JOBS=32"));
      EXPECT_EQ((*torch_out)["requiredSystemFeatures"], json::array({"big-parallel"}));
      if (v.is_gpu()) {
        EXPECT_THAT(pre, HasSubstr("export TORCH_CUDA_ARCH_LIST=\"" + v.gpu->decimal + "\""));
        EXPECT_THAT((*torch_out)["cmakeFlags"].dump(),
                    HasSubstr("-DCUDAToolkit_VERSION=" + v.cuda->version));
        EXPECT_EQ(seen["passthru"]["cudaVersion"], v.cuda->version);
        EXPECT_EQ(seen["passthru"]["gpuArch"], v.gpu->decimal);
      } else {
        EXPECT_THAT(pre, ::testing::Not(HasSubstr("TORCH_CUDA_ARCH_LIST")));
        EXPECT_THAT(pre, HasSubstr("export USE_CUDA=0"));
      }
      ++evaluated;
    }
    return evaluated;
  }

  // `environments` (JSON list items, checkouts under root): generates `specs` with the real
  // binary, commits each checkout and copies what git tracks (what flox evaluates) to
  // root/ENV-tracked. The setup, and each environment's copy.
  std::pair<tvd::Setup, std::map<std::string, std::filesystem::path>> tracked(
      const std::string& environments, std::vector<std::string> specs) {
    testing::write_text(config, R"({"environments": [)" + environments + "]}");
    auto setup = load_setup(config).value();
    for (const auto& e : setup.environments)
      testing::make_git_flox_env(e.environment().checkout, root / (e.name() + ".git"));
    std::vector<std::string> argv = {TVD_BIN, "generate", "--json", "--config", config.string()};
    argv.insert(argv.end(), specs.begin(), specs.end());
    auto gen = run_command(argv);
    EXPECT_EQ(gen.exit_code, 0) << gen.err;
    std::map<std::string, std::filesystem::path> copies;
    for (const auto& e : setup.environments) {
      const auto dir = e.environment().checkout;
      testing::git(dir, {"add", "-A"});
      testing::git(dir, {"commit", "-q", "-m", "tvd's recipes"});
      copies[e.name()] = root / (e.name() + "-tracked");
      std::filesystem::create_directories(copies[e.name()]);
      auto archive = run_command({"sh", "-c",
                                  "git -C '" + dir.string() + "' archive HEAD | tar -x -C '" +
                                      copies[e.name()].string() + "'"});
      EXPECT_EQ(archive.exit_code, 0) << archive.err;
    }
    return {std::move(setup), std::move(copies)};
  }

  // Every cell of every environment through tracked(); for each (PyTorch, TorchVision) pair, how
  // many buildable TorchVision cells have the PyTorch recipe's drvPath as their torch, by
  // "ENV PLATFORM"; every one must.
  std::map<std::string, int> paired_torches(
      const std::string& environments,
      const std::vector<std::pair<std::string, std::string>>& pairs) {
    auto [setup, copies] = tracked(environments, {"--all"});
    std::map<std::string, int> same;
    for (const auto& [pt_name, tv_name] : pairs) {
      const auto& pytorch = *setup.find(pt_name);
      const auto& torchvision = *setup.find(tv_name);
      std::vector<std::pair<std::filesystem::path, std::string>> todo;
      std::vector<Variant> cells;
      for (const auto& v : torchvision.matrix.cells()) {
        if (!torchvision.matrix.exclusions(v).empty()) continue;
        const Variant p = pytorch.matrix.counterpart(v).value();
        todo.emplace_back(copies[pt_name] / ".flox/pkgs" / (p.package() + ".nix"), v.isa->platform);
        todo.emplace_back(copies[tv_name] / ".flox/pkgs" / (v.package() + ".nix"), v.isa->platform);
        cells.push_back(v);
      }
      auto results = evaluate_recipes(stub_settings(pytorch.matrix), todo, env_for_nix());
      for (size_t i = 0; i < cells.size(); ++i) {
        SCOPED_TRACE(tv_name + "/" + cells[i].package());
        const Evaluation& torch = results[2 * i];
        const Evaluation& vision = results[2 * i + 1];
        EXPECT_TRUE(torch.ok) << torch.error;
        EXPECT_TRUE(vision.ok) << vision.error;
        if (!torch.ok || !vision.ok) continue;
        std::string inside;
        const json seen = json::parse(vision.json);
        for (const auto& p : seen["propagated"])
          if (p["outputName"] == "out" && p["pname"].is_string() &&
              p["pname"].get<std::string>().rfind("pytorch-", 0) == 0)
            inside = p["drvPath"];
        EXPECT_EQ(inside, torch.drv_path);
        same[tv_name + " " + cells[i].isa->platform] += inside == torch.drv_path;
      }
    }
    return same;
  }

  // Evaluates one file for `system` with the stub; Nix's error when it fails.
  Evaluation evaluate(const std::filesystem::path& file, const std::string& system) {
    auto m = Matrix::embedded().value();
    return evaluate_recipes(stub_settings(m), {{file, system}}, env_for_nix()).front();
  }
};

TEST_F(NixEval, EveryRecipeOfTheFull60CellMatrix) {
  EXPECT_EQ(generate_and_evaluate("", {"all"}), 60u);
}

// The real repositories' other cells: sm75 on every ISA, sm61 on avx and avx2 (without cuDNN),
// the avx ISA, and CUDA 12.9, 13.0 and 13.1 on the pins that have them.
TEST_F(NixEval, TheRealRepositoriesCellsOnTheirPins) {
  EXPECT_EQ(generate_and_evaluate(R"(, "axes": {"gpu_archs": ["sm75", "sm61"], "cpu_isas":
      ["avx512bf16", "avx512vnni", "avx512", "avx2", "avx", "armv9", "armv8_2"], "cpu_only": false})",
                                  {"python313-cuda12_8-sm75-*", "sm61-avx", "sm61-avx2"}),
            7u + 2);
  EXPECT_EQ(generate_and_evaluate(R"(, "nixpkgs": "pytorch-2.9", "axes": {"python": ["python313",
      "python312"], "cuda": ["12.9", "13.0"], "gpu_archs": ["sm121", "sm110", "sm90"],
      "cpu_isas": ["armv9", "avx2"], "cpu_only": true})",
                                  {"all"}),
            2u * 2 * 3 * 2 + 2 * 2);
  EXPECT_EQ(
      generate_and_evaluate(R"(, "nixpkgs": "pytorch-2.10-cuda13.1", "axes": {"cuda": ["13.1"],
      "gpu_archs": ["sm121", "sm100"], "cpu_isas": ["armv9"], "cpu_only": false})",
                            {"all"}),
      2u);
}

TEST_F(NixEval, ARecipeEvaluatedForAnotherPlatformIsRefused) {
  generate_and_evaluate("", {"sm89-avx2"});
  auto e =
      evaluate(env / ".flox/pkgs/torchvision-python313-cuda12_8-sm89-avx2.nix", "aarch64-linux");
  ASSERT_FALSE(e.ok);
  EXPECT_THAT(e.error, HasSubstr("is not available on the requested hostPlatform"));
  EXPECT_THAT(e.error, HasSubstr("hostPlatform.config = \"aarch64-unknown-linux-gnu\""));
}

// PyTorch's recipes (the pytorch product's templates, after build-pytorch's): every cell of the
// full matrix evaluates for its platform, and the derivation is torch itself, named after the
// file, built for the cell's GPU target and ISA.
TEST_F(NixEval, EveryPyTorchRecipeOfTheFull60CellMatrix) {
  auto m = Matrix::embedded().value();
  m.set_product(*find_builtin_product("pytorch"));
  const auto templates = TemplateSet::embedded("pytorch").value();
  std::vector<std::pair<std::filesystem::path, std::string>> todo;
  std::vector<Variant> variants;
  for (const auto& v : m.cells()) {
    // No sibling PyTorch recipe: the matrix decides.
    const RecipeChoices choices = PytorchRecipes::scan(root / "none").choose(v);
    const auto file = root / (v.package() + ".nix");
    auto text = render_recipe(templates, v, choices);
    ASSERT_TRUE(text) << text.error().message;
    testing::write_text(file, *text);
    todo.emplace_back(file, v.isa->platform);
    variants.push_back(v);
  }
  ASSERT_EQ(variants.size(), 60u);
  auto results = evaluate_recipes(stub_settings(m), todo, env_for_nix());
  for (size_t i = 0; i < results.size(); ++i) {
    const Variant& v = variants[i];
    SCOPED_TRACE(v.package());
    ASSERT_TRUE(results[i].ok) << results[i].error;
    json seen = json::parse(results[i].json);
    EXPECT_THAT(v.package(), ::testing::StartsWith("pytorch-python"));
    EXPECT_THAT(seen["drvPath"].get<std::string>(), HasSubstr("-" + v.package() + "-"));
    EXPECT_EQ(seen["pname"], v.package());
    EXPECT_EQ(seen["platforms"], json::array({v.isa->platform}));
    EXPECT_EQ(seen["requiredSystemFeatures"], json::array({"big-parallel"}));
    EXPECT_EQ(seen["passthru"]["cpuISA"], v.isa->token);
    const std::string pre = seen["preConfigure"];
    EXPECT_THAT(pre, HasSubstr("export MAX_JOBS=32"));
    if (v.is_gpu()) {
      EXPECT_THAT(pre, HasSubstr("export TORCH_CUDA_ARCH_LIST=\"" + v.gpu->decimal + "\""));
      EXPECT_THAT(seen["cmakeFlags"].dump(), HasSubstr("-DCUDAToolkit_VERSION=" + v.cuda->version));
      EXPECT_EQ(seen["passthru"]["gpuArch"], v.gpu->decimal);
      EXPECT_EQ(seen["passthru"]["blasProvider"], "cublas");
    } else {
      EXPECT_THAT(pre, HasSubstr("export USE_CUDA=0"));
      EXPECT_EQ(seen["passthru"]["blasProvider"], "openblas");
    }
  }
}

// build-pytorch and build-torchvision as two environments, paired: for every buildable cell of
// the default matrix, evaluated by the real Nix from what git tracks in each repository (as flox
// evaluates), the torch inside the TorchVision recipe is the PyTorch recipe's derivation: the
// same drvPath, so that Nix builds it once. Unpaired (today's recipes), it is another one.
TEST_F(NixEval, APairedTorchVisionRecipesTorchIsThePyTorchRecipesDerivation) {
  auto same = paired_torches(R"(
      {"name": "pytorch", "product": "pytorch", "flox_env": "build-pytorch"},
      {"name": "torchvision", "product": "torchvision", "flox_env": "build-torchvision",
       "torch_from": "pytorch"})",
                             {{"pytorch", "torchvision"}});
  EXPECT_EQ(same["torchvision x86_64-linux"], 28);
  EXPECT_EQ(same["torchvision aarch64-linux"], 14);
  std::cout << "same torch drvPath: " << same["torchvision x86_64-linux"] << " x86_64-linux, "
            << same["torchvision aarch64-linux"] << " aarch64-linux cells\n";

  // The unpaired recipe of a cell builds a torch of its own.
  auto setup = load_setup(config).value();
  const auto& tv = *setup.find("torchvision");
  const Variant v = resolve_specs(tv.matrix, {"sm89-avx2"}, false).value().front().variant;
  const auto templates = TemplateSet::embedded("torchvision").value();
  const auto file = root / "unpaired.nix";
  testing::write_text(
      file,
      render_recipe(templates, v, PytorchRecipes::scan(root / "build-pytorch").choose(v)).value());
  auto own = evaluate(file, "x86_64-linux");
  ASSERT_TRUE(own.ok) << own.error;
  const json seen = json::parse(own.json);
  std::string inside;
  for (const auto& p : seen["propagated"])
    if (p["pname"] == "torch" && p["outputName"] == "out") inside = p["drvPath"];
  EXPECT_FALSE(inside.empty()) << own.json;
  auto theirs = evaluate(
      root / "pytorch-tracked/.flox/pkgs/pytorch-python313-cuda12_8-sm89-avx2.nix", "x86_64-linux");
  ASSERT_TRUE(theirs.ok) << theirs.error;
  EXPECT_NE(inside, theirs.drv_path);
}

// The real Nix builds a pair (Debian's nix-bin, as any user: a local store of the test's own at
// another path, `local?store=…`, no sandbox, no build users): PyTorch's recipe, then
// TorchVision's, each as flox evaluates it from what git tracks. The torch's builder runs once:
// building TorchVision builds TorchVision alone, on top of the PyTorch recipe's output. Today's
// unpaired recipe of the same cell builds a torch of its own again. (The stub's builders print
// "stub builder: NAME"; Nix prints "building '….drv'" for every derivation it builds.)
TEST_F(NixEval, TheRealNixBuildsThePairsTorchOnce) {
  if (run_command({"nix-store", "--version"}).exit_code != 0) {
    GTEST_SKIP() << "nix-store is not installed (scripts/deps.sh installs nix-bin)";
  }
  auto [setup, copies] = tracked(
      R"(
      {"name": "pytorch", "product": "pytorch", "flox_env": "build-pytorch"},
      {"name": "torchvision", "product": "torchvision", "flox_env": "build-torchvision",
       "torch_from": "pytorch"})",
      {"pytorch/sm89-avx2", "pytorch/cpu-avx2", "torchvision/sm89-avx2", "torchvision/cpu-avx2"});
  const auto nix = root / "nix";
  const std::string store = "local?store=" + (nix / "store").string() +
                            "&state=" + (nix / "var").string() + "&log=" + (nix / "log").string();
  EvalSettings eval = stub_settings(setup.find("pytorch")->matrix);
  eval.store = store;
  eval.instantiate = true;  // the .drv files are written into it
  auto nix_env = env_for_nix();
  nix_env["NIX_CONFIG"] = "build-users-group =\nsandbox = false\nsubstituters =\n";
  // A new store is made by the first Nix that opens it, and two at once race on its directories
  // ("creating symlink from …/gcroots/profiles …: File exists"): one makes it before the
  // evaluations run side by side.
  {
    auto made = exec::capture_all({{"nix-store", "--store", store, "--init"}}, nix_env, 1,
                                  std::chrono::seconds(60))
                    .front();
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  // The derivations one realisation built, by the names their builders printed.
  auto realise = [&](const std::string& drv) {
    auto r = exec::capture_all({{"nix-store", "--store", store, "--realise", drv}}, nix_env, 1,
                               std::chrono::seconds(300))
                 .front();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> built;
    std::istringstream lines(r.err);
    for (std::string l; std::getline(lines, l);)
      if (l.rfind("stub builder: ", 0) == 0) built.push_back(l.substr(14));
    return built;
  };
  const auto& tv = *setup.find("torchvision");
  const auto& pt = *setup.find("pytorch");
  for (const std::string spec : {"sm89-avx2", "cpu-avx2"}) {
    SCOPED_TRACE(spec);
    const Variant v = resolve_specs(tv.matrix, {spec}, false).value().front().variant;
    const Variant p = pt.matrix.counterpart(v).value();
    auto evaluated = evaluate_recipes(
        eval,
        {{copies["pytorch"] / ".flox/pkgs" / (p.package() + ".nix"), "x86_64-linux"},
         {copies["torchvision"] / ".flox/pkgs" / (v.package() + ".nix"), "x86_64-linux"}},
        nix_env);
    ASSERT_TRUE(evaluated[0].ok) << evaluated[0].error;
    ASSERT_TRUE(evaluated[1].ok) << evaluated[1].error;
    const auto torch = realise(evaluated[0].drv_path);
    EXPECT_THAT(torch, ::testing::Contains(p.package() + "-2.8.0"));
    const auto vision = realise(evaluated[1].drv_path);
    EXPECT_EQ(vision, std::vector<std::string>{v.package() + "-0.23.0"});
    // It is built on the PyTorch recipe's derivation, not beside it.
    auto requisites = exec::capture_all(
        {{"nix-store", "--store", store, "--query", "--requisites", evaluated[1].drv_path}},
        nix_env, 1, std::chrono::seconds(60));
    EXPECT_THAT(requisites.front().out, HasSubstr(evaluated[0].drv_path));
    std::cout << spec << ": building PyTorch ran " << torch.size()
              << " builder(s) (the torch and what it needs); TorchVision then ran " << vision.size()
              << "\n";
  }

  // Today's recipe of the cell (unpaired, its own customPytorch): its torch is built again.
  const Variant v = resolve_specs(tv.matrix, {"sm89-avx2"}, false).value().front().variant;
  const auto file = root / "unpaired.nix";
  testing::write_text(file, render_recipe(TemplateSet::embedded("torchvision").value(), v,
                                          PytorchRecipes::scan(root / "build-pytorch").choose(v))
                                .value());
  auto own = evaluate_recipes(eval, {{file, "x86_64-linux"}}, nix_env).front();
  ASSERT_TRUE(own.ok) << own.error;
  const auto today = realise(own.drv_path);
  EXPECT_EQ(today.size(), 2u) << ::testing::PrintToString(today);  // a torch, then TorchVision
  EXPECT_THAT(today, ::testing::Contains(v.package() + "-0.23.0"));
}

// Two branches of each repository as four environments, each TorchVision branch paired with its
// PyTorch branch: PyTorch 2.8 on its pin with CUDA 12.8, PyTorch 2.9 on another pin with CUDA 12.9
// and 13.0. Each pair shares its torch.
TEST_F(NixEval, TwoBranchesOfEachRepositoryEachPairedWithItsOwnPin) {
  auto same =
      paired_torches(R"(
      {"name": "pytorch-2.8", "product": "pytorch", "flox_env": "build-pytorch"},
      {"name": "torchvision-2.8", "product": "torchvision", "flox_env": "build-torchvision",
       "torch_from": "pytorch-2.8"},
      {"name": "pytorch-2.9", "product": "pytorch", "flox_env": "build-pytorch-2.9",
       "nixpkgs": "pytorch-2.9", "axes": {"cuda": ["12.9", "13.0"], "gpu_archs": ["sm90", "sm120"],
       "cpu_isas": ["avx512", "armv9"]}},
      {"name": "torchvision-2.9", "product": "torchvision", "flox_env": "build-torchvision-2.9",
       "nixpkgs": "pytorch-2.9", "axes": {"cuda": ["12.9", "13.0"], "gpu_archs": ["sm90", "sm120"],
       "cpu_isas": ["avx512", "armv9"]}, "torch_from": "pytorch-2.9"})",
                     {{"pytorch-2.8", "torchvision-2.8"}, {"pytorch-2.9", "torchvision-2.9"}});
  EXPECT_EQ(same["torchvision-2.8 x86_64-linux"] + same["torchvision-2.8 aarch64-linux"], 42);
  // 2 CUDA x 2 archs x 2 ISAs, and 2 CPU-only cells.
  EXPECT_EQ(same["torchvision-2.9 x86_64-linux"] + same["torchvision-2.9 aarch64-linux"], 10);
  std::cout << "same torch drvPath, 2.9 pair: " << same["torchvision-2.9 x86_64-linux"]
            << " x86_64-linux, " << same["torchvision-2.9 aarch64-linux"] << " aarch64-linux\n";
  // Each branch's recipes import its own pin.
  EXPECT_THAT(testing::read_text(root / "build-torchvision-2.9/.flox/pytorch/"
                                        "pytorch-python313-cuda12_9-sm90-avx512.nix"),
              HasSubstr("6a030d535719c5190187c4cec156f335e95e3211"));
  EXPECT_THAT(testing::read_text(env / ".flox/pytorch/pytorch-python313-cuda12_8-sm89-avx2.nix"),
              HasSubstr("fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3"));
}

// The seed's templates as tvd shipped them until now: the stub must be strict enough to reject
// what they make, as nixpkgs and PyTorch's CMake would.
TEST_F(NixEval, TheSeedEraTemplatesFailWithTheStub) {
  auto m = Matrix::embedded().value();
  auto known = known_placeholders();
  auto load = [&](const char* f) {
    return Template::parse(f, testing::read_text(kSeedTemplates / f), known).value();
  };
  Variant v = m.variant(&m.default_python(), &m.default_cuda(), m.find_gpu_arch("sm89"),
                        m.find_isa("avx512vnni"));
  // Pattern A: `pytorch` and "sm_89".
  std::string a = load("gpu-pattern-a.nix.in").render(substitutions(v)).value();
  testing::write_text(root / "a.nix", a);
  auto ea = evaluate(root / "a.nix", "x86_64-linux");
  ASSERT_FALSE(ea.ok);
  EXPECT_THAT(ea.error, HasSubstr("'pytorch' has been renamed to/replaced by 'torch'"));

  // With the alias fixed, "sm_89" still fails as PyTorch's configure step would.
  std::string fixed = a;
  fixed.replace(fixed.find(".pytorch.override"), 8, ".torch");
  testing::write_text(root / "a-torch.nix", fixed);
  auto et = evaluate(root / "a-torch.nix", "x86_64-linux");
  ASSERT_FALSE(et.ok);
  EXPECT_THAT(et.error,
              HasSubstr("Unknown CUDA Architecture Name sm_89 in CUDA_SELECT_NVCC_ARCH_FLAGS"));

  // Pattern B and the CPU template call `pytorch` too.
  Variant cpu = m.variant(&m.default_python(), nullptr, nullptr, m.find_isa("avx2"));
  testing::write_text(root / "cpu.nix", load("cpu.nix.in").render(substitutions(cpu)).value());
  auto ec = evaluate(root / "cpu.nix", "x86_64-linux");
  ASSERT_FALSE(ec.ok);
  EXPECT_THAT(ec.error, HasSubstr("'pytorch' has been renamed to/replaced by 'torch'"));
}

}  // namespace
}  // namespace tvd
