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
       "selects cudaPackages_12_9 (CUDA 12.9 in nixpkgs fe5e41d7ffc0) but the name says CUDA 12.8",
       "final.cudaPackages_12_8", 20},
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

// The real repositories' recipes, in shapes written for these tests (tests/integration/
// real_shapes: each file cites the real file and commit it reproduces): their real defects are
// found, with the cause and the fix, and nothing false is said of them (issue 23).
TEST_F(Check, TheRealRepositoriesShapesAreJudgedAsTheyAre) {
  const std::string pin29 = "6a030d535719c5190187c4cec156f335e95e3211";
  const std::string pin210 = "2017d6d515f8a7b289fe06d3a880a7ec588c3900";
  write_text(config, R"({"flox_env": "build-torchvision", "check": {"store": "dummy://",
        "nix_path": ["nixpkgs=)" +
                         kStub.string() + R"("], "nixpkgs_sources": {")" + kPin + R"(": ")" +
                         kStub.string() + R"(", ")" + pin29 + R"(": ")" + kStub.string() +
                         R"(", ")" + pin210 + R"(": ")" + kStub.string() + R"("}}})");
  const fs::path shapes = fs::path(TVD_SOURCE_DIR) / "tests/integration/real_shapes";
  fs::create_directories(pkgs);
  for (const auto& name : testing::list_files(shapes))
    fs::copy_file(shapes / name, pkgs / name);
  // The same CUDA 13.0 recipe named for CUDA 13.1: the alias is 13.0 at its pin, a true error.
  const std::string cuda13 = read_text(pkgs / "torchvision-python313-cuda13_0-sm120-avx512.nix");
  std::string named_13_1 = cuda13;
  for (size_t p; (p = named_13_1.find("cuda13_0")) != std::string::npos;)
    named_13_1.replace(p, 8, "cuda13_1");
  write_text(pkgs / "torchvision-python313-cuda13_1-sm120-avx512.nix", named_13_1);
  // And on a pin whose alias matrix.json does not know: tvd cannot tell, and says so.
  write_text(pkgs / "torchvision-python313-cuda13_0-sm120-avx2.nix",
             replaced(replaced(cuda13, pin29, pin210), "sm120-avx512\";", "sm120-avx2\";"));
  commit_all();

  auto r = tvd({"check", "--json"});
  const json report = json::parse(r.out);
  const auto all = by_file(report);
  auto codes = [&](const std::string& file) {  // the recipe's own (not its pin's) findings
    std::vector<std::string> out;
    for (const auto& rec : report["recipes"]) {
      if (fs::path(rec["file"].get<std::string>()).filename() != file) continue;
      for (const auto& f : rec["findings"])
        out.push_back(f["code"].get<std::string>() + " " + f["severity"].get<std::string>());
    }
    return out;
  };
  const bool x86 = run_command({"uname", "-m"}).out == "x86_64\n";

  // 1. cudaPackages_13 at 6a030d5 is CUDA 13.0: nothing to say of its CUDA, and the stub
  // evaluates today's 2.10 recipe (the Python set's override, fetchFromGitHub, fetchpatch).
  const std::string ok13 = "torchvision-python313-cuda13_0-sm120-avx512.nix";
  EXPECT_THAT(codes(ok13), ::testing::IsEmpty()) << r.out;
  const json* mismatch =
      find(all, "torchvision-python313-cuda13_1-sm120-avx512.nix", "cuda-mismatch");
  ASSERT_NE(mismatch, nullptr) << r.out;
  EXPECT_EQ((*mismatch)["severity"], "error");
  EXPECT_EQ((*mismatch)["line"], 15);
  EXPECT_THAT((*mismatch)["what"].get<std::string>(),
              HasSubstr("selects cudaPackages_13 (CUDA 13.0 in nixpkgs 6a030d535719) but the name "
                        "says CUDA 13.1"));
  EXPECT_EQ((*mismatch)["fix"], "cudaPackages = final.cudaPackages_13_1");
  const json* alias = find(all, "torchvision-python313-cuda13_0-sm120-avx2.nix", "cuda-alias");
  ASSERT_NE(alias, nullptr) << r.out;
  EXPECT_EQ((*alias)["severity"], "warning");
  EXPECT_THAT((*alias)["what"].get<std::string>(),
              HasSubstr("whatever nixpkgs 2017d6d515f8 makes it; tvd does not know it there"));
  EXPECT_EQ(find(all, "torchvision-python313-cuda13_0-sm120-avx2.nix", "cuda-mismatch"), nullptr);

  // 3. TorchVision against a torch it does not propagate.
  const json* out = find(all, "torchvision-python313-cuda12_8-sm75-avx2.nix", "torch-out");
  ASSERT_NE(out, nullptr) << r.out;
  EXPECT_EQ((*out)["severity"], "error");
  EXPECT_EQ((*out)["line"], 27);
  EXPECT_THAT((*out)["what"].get<std::string>(),
              HasSubstr("does not propagate customPytorch.out: Nix's chooseDevOutputs puts "
                        "torch's header-only `dev` output in its place"));
  EXPECT_THAT((*out)["fix"].get<std::string>(), HasSubstr("++ [ customPytorch.out ]"));
  for (const char* fine :
       {"torchvision-python313-cuda13_0-sm120-avx512.nix",
        "torchvision-python313-cuda12_8-sm90-armv9.nix", "torchvision-python313-cpu-armv9.nix"}) {
    EXPECT_EQ(find(all, fine, "torch-out"), nullptr) << fine;
  }

  // 2. aarch64 cells whose nixpkgs is imported without `system`, judged from this host.
  if (!x86) GTEST_SKIP() << "the system findings below are those of an x86_64 host";
  const std::string gpu = "torchvision-python313-cuda12_8-sm90-armv9.nix";
  const std::string cpu = "torchvision-python313-cpu-armv9.nix";
  const json* text = find(all, cpu, "pin-system");
  ASSERT_NE(text, nullptr) << r.out;
  EXPECT_EQ((*text)["severity"], "error");
  EXPECT_EQ((*text)["line"], 9);
  EXPECT_THAT((*text)["what"].get<std::string>(),
              HasSubstr("from this x86_64-linux host, `flox build --system aarch64-linux` makes "
                        "x86_64-linux derivations under a aarch64-linux name"));
  EXPECT_EQ((*text)["fix"],
            "system = pkgs.stdenv.hostPlatform.system; in the import of its nixpkgs (as tvd's "
            "templates do)");
  if (have_nix) {
    // The GPU cell evaluates, to an x86_64 derivation: the system tvd saw says it for sure.
    const json* seen = find(all, gpu, "system");
    ASSERT_NE(seen, nullptr) << r.out;
    EXPECT_EQ((*seen)["severity"], "error");
    EXPECT_THAT((*seen)["what"].get<std::string>(),
                HasSubstr("evaluated as `flox build --system aarch64-linux` evaluates it on this "
                          "x86_64-linux host, it is a derivation for x86_64-linux, and its input "
                          "torch-2.8.0 is for x86_64-linux, not aarch64-linux"));
    EXPECT_EQ(find(all, gpu, "pin-system"), nullptr) << "said once, by what Nix made";
    for (const auto& rec : report["recipes"]) {
      if (fs::path(rec["file"].get<std::string>()).filename() == gpu) {
        EXPECT_EQ(rec["system"], "x86_64-linux");
      }
    }
    // The CPU cell's platforms make check-meta refuse it, for the same cause.
    const json* refused = find(all, cpu, "evaluation");
    ASSERT_NE(refused, nullptr) << r.out;
    EXPECT_THAT((*refused)["what"].get<std::string>(),
                HasSubstr("hostPlatform.config = \"x86_64-unknown-linux-gnu\""));
  } else {
    EXPECT_NE(find(all, gpu, "pin-system"), nullptr);
  }
  // Recipes that pass `system` say nothing of it.
  EXPECT_EQ(find(all, ok13, "pin-system"), nullptr);
  EXPECT_EQ(find(all, ok13, "system"), nullptr);
}

}  // namespace
}  // namespace tvd
