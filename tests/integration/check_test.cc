// `tvd check` through the binary, on an environment of hand-written recipes with each of the
// known ways a recipe fails hours into `flox build` (or at publish), and with a real evaluation
// by Nix against tests/support/nixpkgs-stub (which fails where nixpkgs fails).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "tests/support/scratch.h"

namespace tvd {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::read_text;
using testing::run_command;
using testing::write_text;
namespace fs = std::filesystem;

const fs::path kStub = fs::path(TVD_SOURCE_DIR) / "tests/support/nixpkgs-stub";
const std::string kPin = "fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3";  // matrix.json's default

class Check : public ::testing::Test {
 protected:
  testing::ScratchDir root;
  fs::path env = root / "build-torchvision";
  fs::path pkgs = env / ".flox/pkgs";
  fs::path config = root / "tvd.json";
  bool have_nix = run_command({"nix-instantiate", "--version"}).exit_code == 0;

  void SetUp() override {
    testing::make_git_flox_env(env);
    write_text(config, R"({"flox_env": "build-torchvision", "check": {"store": "dummy://",
        "nix_path": ["nixpkgs=)" +
                           kStub.string() + R"("], "nixpkgs_sources": {")" + kPin + R"(": ")" +
                           kStub.string() + R"("}}})");
  }
  testing::CommandResult tvd(std::vector<std::string> args) {
    std::vector<std::string> argv = {TVD_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--config", config.string()});
    return run_command(argv);
  }
  std::string generated(const std::string& spec) {
    auto r = tvd({"generate", "--force", spec});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto files = testing::list_files(pkgs);
    std::string text;
    for (const auto& f : files) {
      if (f.find(spec.substr(spec.find('-'))) != std::string::npos) text = read_text(pkgs / f);
    }
    return text;
  }
  static std::string replaced(std::string text, const std::string& from, const std::string& to) {
    auto pos = text.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) text.replace(pos, from.size(), to);
    return text;
  }
  void commit_all() {
    testing::git(env, {"add", "-A"});
    testing::git(env, {"commit", "-q", "-m", "recipes"});
  }
};

// Every finding, by file name and code.
std::map<std::string, std::vector<json>> by_file(const json& report) {
  std::map<std::string, std::vector<json>> out;
  auto add = [&](const json& f) {
    out[fs::path(f["file"].get<std::string>()).filename()].push_back(f);
  };
  for (const auto& f : report["environment"])
    add(f);
  for (const auto& r : report["recipes"])
    for (const auto& f : r["findings"])
      add(f);
  return out;
}
const json* find(const std::map<std::string, std::vector<json>>& all, const std::string& file,
                 const std::string& code) {
  auto it = all.find(file);
  if (it == all.end()) return nullptr;
  for (const auto& f : it->second)
    if (f["code"] == code) return &f;
  return nullptr;
}

TEST_F(Check, EachFailureModeOfAHandWrittenRecipeIsFound) {
  const std::string good = generated("sm89-avx2");
  std::filesystem::remove(pkgs / "torchvision-python313-cuda12_8-sm89-avx2.nix");
  const std::string cpu = generated("cpu-armv9");
  std::filesystem::remove(pkgs / "torchvision-python313-cpu-armv9.nix");
  auto file = [](const std::string& qualified) {
    return "torchvision-python313-" + qualified + ".nix";
  };
  auto gpu_as = [&](const std::string& core) {
    std::string t = good;
    for (size_t p; (p = t.find("sm89-avx2")) != std::string::npos;)
      t.replace(p, 9, core);
    return t;
  };

  // 1. nixpkgs' removed alias.
  write_text(pkgs / file("cuda12_8-sm100-avx2"),
             replaced(replaced(gpu_as("sm100-avx2"), "pythonPackages.torch.override",
                               "pythonPackages.pytorch.override"),
                      "\"8.9\"", "\"10.0\""));
  // 2. The seed's sm_ target.
  write_text(pkgs / file("cuda12_8-sm90-avx512"),
             replaced(gpu_as("sm90-avx512"), "gpuArchSM = \"8.9\"", "gpuArchSM = \"sm_90\""));
  // 3. A platform that is not the ISA's.
  write_text(pkgs / file("cpu-avx2"),
             replaced(replaced(replaced(cpu, "cpu-armv9", "cpu-avx2"), "cpu-armv9", "cpu-avx2"),
                      "[ \"aarch64-linux\" ]", "[ \"aarch64-linux\" \"x86_64-linux\" ]"));
  // 4. pname different from the file name.
  write_text(pkgs / file("cuda12_8-sm86-avx2"),
             replaced(gpu_as("sm86-avx2"), "pname = \"torchvision-python313-cuda12_8-sm86-avx2\"",
                      "pname = \"torchvision-sm86\""));
  // 5. A dot in the name.
  write_text(pkgs / "torchvision-python313-cpu-armv8.2.nix", replaced(cpu, "armv9", "armv8.2"));
  // 6. The CUDA in the name is not the CUDA selected.
  write_text(
      pkgs / file("cuda12_8-sm80-avx512bf16"),
      replaced(gpu_as("sm80-avx512bf16"), "final.cudaPackages_12_8", "final.cudaPackages_12_9"));
  // 7. No MAX_JOBS, no big-parallel.
  std::string lax = gpu_as("sm120-avx2");
  for (size_t p; (p = lax.find("export MAX_JOBS=32")) != std::string::npos;)
    lax.erase(p, 18);
  for (size_t p;
       (p = lax.find("requiredSystemFeatures = [ \"big-parallel\" ];")) != std::string::npos;)
    lax.erase(p, 45);
  write_text(pkgs / file("cuda12_8-sm120-avx2"), lax);
  // 8. Something only Nix sees: a misspelt attribute.
  write_text(pkgs / file("cuda12_8-sm89-avx512"),
             replaced(gpu_as("sm89-avx512"), "pythonPackages.torchvision.override",
                      "pythonPackages.torchvison.override"));
  // 9. result-* committed.
  fs::create_symlink("/nix/store/x-torchvision", env / "result-torchvision-python313-cpu-avx2");
  commit_all();
  // 10. Not tracked by git.
  write_text(pkgs / file("cuda12_8-sm89-avx512vnni"), gpu_as("sm89-avx512vnni"));

  auto r = tvd({"check", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const json report = json::parse(r.out);
  const auto all = by_file(report);

  struct Want {
    std::string file, code, severity, what, fix;
    size_t line;
  };
  const Want wants[] = {
      {file("cuda12_8-sm100-avx2"), "pytorch-alias", "error",
       "'pytorch' has been renamed to/replaced by 'torch'", "write `.torch`", 35},
      {file("cuda12_8-sm90-avx512"), "sm-target", "error",
       "PyTorch's CMake rejects \"sm_90\" (Unknown CUDA Architecture Name sm_90 in "
       "CUDA_SELECT_NVCC_ARCH_FLAGS, at the configure step), hours into the build",
       "gpuArchSM = \"9.0\"", 27},
      {file("cpu-avx2"), "platforms", "error", "avx2 compiles only for x86_64-linux",
       "platforms = [ \"x86_64-linux\" ];", 0},
      {file("cuda12_8-sm86-avx2"), "pname", "error",
       "flox builds and publishes the package by its file name",
       "pname = \"torchvision-python313-cuda12_8-sm86-avx2\"", 54},
      {"torchvision-python313-cpu-armv8.2.nix", "dot-in-name", "error",
       "fails with \"Target 'torchvision-python313-cpu-armv8.2' not found.\"",
       "rename the file to torchvision-python313-cpu-armv8_2.nix", 0},
      {file("cuda12_8-sm80-avx512bf16"), "cuda-mismatch", "error",
       "selects cudaPackages_12_9 but the name says CUDA 12.8", "final.cudaPackages_12_8", 20},
      {file("cuda12_8-sm120-avx2"), "max-jobs", "warning", "can run out of memory", "MAX_JOBS=32",
       0},
      {file("cuda12_8-sm120-avx2"), "big-parallel", "warning", "remote builder",
       "requiredSystemFeatures", 0},
      {"result-torchvision-python313-cpu-avx2", "result-committed", "error",
       "\"Build repository must be clean\"", "git rm --cached", 0},
      {file("cuda12_8-sm89-avx512vnni"), "untracked", "warning",
       "does not appear to be tracked by git", "git add", 0},
  };
  for (const auto& w : wants) {
    SCOPED_TRACE(w.file + " " + w.code);
    const json* f = find(all, w.file, w.code);
    ASSERT_NE(f, nullptr) << r.out;
    EXPECT_EQ((*f)["severity"], w.severity);
    EXPECT_THAT((*f)["what"].get<std::string>(), HasSubstr(w.what));
    EXPECT_THAT((*f)["fix"].get<std::string>(), HasSubstr(w.fix));
    if (w.line) {
      EXPECT_EQ((*f)["line"], w.line);
    }
  }
  // The pin's missing hash is said once for the environment.
  size_t pin_hash = 0;
  for (const auto& f : report["environment"])
    pin_hash += f["code"] == "pin-hash";
  EXPECT_EQ(pin_hash, 1u);

  if (have_nix) {
    // What only an evaluation shows, and what it confirms.
    const json* typo = find(all, file("cuda12_8-sm89-avx512"), "evaluation");
    ASSERT_NE(typo, nullptr);
    EXPECT_THAT((*typo)["what"].get<std::string>(), HasSubstr("attribute 'torchvison' missing"));
    EXPECT_EQ(find(all, file("cuda12_8-sm89-avx512"), "pytorch-alias"), nullptr);
    const json* alias = find(all, file("cuda12_8-sm100-avx2"), "evaluation");
    ASSERT_NE(alias, nullptr);
    EXPECT_THAT((*alias)["what"].get<std::string>(), HasSubstr("renamed to/replaced by 'torch'"));
    const json* sm = find(all, file("cuda12_8-sm90-avx512"), "evaluation");
    ASSERT_NE(sm, nullptr);
    EXPECT_THAT((*sm)["what"].get<std::string>(),
                HasSubstr("Unknown CUDA Architecture Name sm_90"));
    const json* platform = find(all, file("cpu-avx2"), "evaluation");
    EXPECT_EQ(platform, nullptr) << "evaluated for x86_64-linux, which it lists";
    EXPECT_EQ(report["summary"]["not_evaluated"], nullptr);
  }

  // The text form: one line per finding, file:line: severity: what (fix: ...).
  auto text = tvd({"check", "--no-eval"});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_THAT(text.out,
              HasSubstr(file("cuda12_8-sm90-avx512") + ":27: error: gpuTargets \"sm_90\""));
  EXPECT_THAT(text.out, HasSubstr("not evaluated: --no-eval"));
}

TEST_F(Check, GeneratedRecipesPassAndAreEvaluated) {
  ASSERT_EQ(tvd({"generate", "--all"}).exit_code, 0);
  commit_all();
  auto r = tvd({"check", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(report["summary"]["errors"], 0);
  EXPECT_EQ(report["summary"]["recipes"], 42);
  EXPECT_EQ(report["summary"]["evaluated"], have_nix ? 42 : 0);
  // The only warning: the default pin has no sha256 (the real repositories give none).
  EXPECT_EQ(report["summary"]["warnings"], 1);
  for (const auto& rec : report["recipes"]) {
    if (rec["state"] == "missing" || !have_nix) continue;
    EXPECT_THAT(rec["drv_path"].get<std::string>(), HasSubstr("/nix/store/"));
  }
}

}  // namespace
}  // namespace tvd
