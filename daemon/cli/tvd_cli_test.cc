#include "daemon/cli/tvd_cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "tests/support/scratch.h"

namespace tvd {
namespace {

using ::testing::HasSubstr;
using testing::list_files;
using testing::ScratchDir;
using testing::write_text;

class TvdCli : public ::testing::Test {
 protected:
  ScratchDir root;
  std::filesystem::path env = root / "build-torchvision";
  std::filesystem::path config = root / "tvd.json";
  std::string out, err;

  void SetUp() override {
    testing::make_flox_env(env);
    write_text(config, R"({ "flox_env": "build-torchvision" })");
  }
  int run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config.string()});
    std::ostringstream o, e;
    int code = run_tvd(args, o, e);
    out = o.str();
    err = e.str();
    return code;
  }
  std::vector<std::string> recipes() { return list_files(env / ".flox" / "pkgs"); }
};

TEST_F(TvdCli, AnUnknownCommandIsNamedAndVersionIsSaid) {
  EXPECT_EQ(run({"frobnicate"}), 2);
  EXPECT_THAT(err, HasSubstr("tvd: unknown command 'frobnicate'; the commands are generate, "
                             "matrix, check-config, check, serve, simulate"));
  EXPECT_EQ(run({"--version"}), 0);
  EXPECT_THAT(out, ::testing::MatchesRegex("tvd [0-9]+\\.[0-9]+\\.[0-9]+\n"));
}

TEST_F(TvdCli, GeneratesOneVariant) {
  ASSERT_EQ(run({"generate", "sm89-avx512vnni"}), 0) << err;
  EXPECT_THAT(out, HasSubstr("written  torchvision-python313-cuda12_8-sm89-avx512vnni  8.9"));
  EXPECT_EQ(recipes(),
            std::vector<std::string>{"torchvision-python313-cuda12_8-sm89-avx512vnni.nix"});
  ASSERT_EQ(run({"generate", "sm89-avx512vnni"}), 0);
  EXPECT_THAT(out, HasSubstr("unchanged"));
}

TEST_F(TvdCli, ConfigAfterTheSubcommandWorksToo) {
  std::ostringstream o, e;
  EXPECT_EQ(run_tvd({"generate", "--config", config.string(), "cpu-avx2"}, o, e), 0) << e.str();
  EXPECT_EQ(recipes(), std::vector<std::string>{"torchvision-python313-cpu-avx2.nix"});
}

TEST_F(TvdCli, AllWrites42AndReportsTheExcludedAsJson) {
  ASSERT_EQ(run({"generate", "--all", "--json"}), 0) << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["summary"]["written"], 42);
  EXPECT_EQ(j["summary"]["excluded"], 18);
  EXPECT_EQ(j["recipes"].size(), 60u);
  EXPECT_EQ(recipes().size(), 42u);
}

TEST_F(TvdCli, BadInputExitsTwoAndWritesNothing) {
  EXPECT_EQ(run({"generate", "sm89-avx512vnn"}), 2);
  EXPECT_THAT(err, HasSubstr("did you mean sm89-avx512vnni?"));
  EXPECT_EQ(run({"generate", "sm121-avx512"}), 2);
  EXPECT_THAT(err, HasSubstr("sm121 needs CUDA >= 12.9; this variant has 12.8"));
  EXPECT_THAT(err, HasSubstr("hint: pass --force"));
  EXPECT_THAT(err, HasSubstr("Nothing was written."));
  EXPECT_EQ(run({"generate", "python313-cuda11_8-sm89-avx2"}), 2);
  EXPECT_THAT(err, HasSubstr("unknown CUDA version"));
  EXPECT_EQ(run({"generate", "python313-cuda13_0-sm110-armv9"}), 2);
  EXPECT_THAT(err, HasSubstr("CUDA 13.0 is not in the nixpkgs pin pytorch-2.8"));
  EXPECT_EQ(run({"generate", "sm89-avx2", "--all"}), 2);
  EXPECT_EQ(run({"generate"}), 2);
  EXPECT_EQ(run({"generate", "--bogus"}), 2);
  EXPECT_EQ(run({"frobnicate"}), 2);
  EXPECT_TRUE(recipes().empty());
}

TEST_F(TvdCli, ForceGeneratesAnExcludedVariant) {
  ASSERT_EQ(run({"generate", "--force", "sm121-armv9"}), 0) << err;
  EXPECT_EQ(recipes(), std::vector<std::string>{"torchvision-python313-cuda12_8-sm121-armv9.nix"});
}

TEST_F(TvdCli, AStrayPlaceholderInATemplateWritesNothing) {
  for (const char* f : {"gpu.nix.in", "cpu.nix.in"}) {
    write_text(root / "templates" / f,
               testing::read_text(std::filesystem::path(TVD_SOURCE_DIR) / "config" / "templates" /
                                  "torchvision" / f));
  }
  write_text(root / "templates" / "cpu.nix.in", "# {CPU_ISA} {CPU_ARCH}\n");
  write_text(config, R"({ "flox_env": "build-torchvision", "templates": "templates" })");
  EXPECT_EQ(run({"generate", "cpu-avx2", "sm89-avx2"}), 2);
  EXPECT_THAT(err, HasSubstr("unknown placeholder {CPU_ARCH}"));
  EXPECT_TRUE(recipes().empty());
  EXPECT_EQ(run({"check-config"}), 2);
}

TEST_F(TvdCli, AnUnwritableDirectoryExitsOne) {
  write_text(env / ".flox" / "pkgs", "not a directory\n");
  EXPECT_EQ(run({"generate", "cpu-avx2"}), 1);
  EXPECT_THAT(err, HasSubstr("nothing was written"));
}

TEST_F(TvdCli, MatrixListsEveryCell) {
  ASSERT_EQ(run({"generate", "sm89-avx2"}), 0);
  write_text(env / ".flox/pkgs/torchvision-python313-cpu-avx2.nix", "# by hand\n");
  ASSERT_EQ(run({"matrix", "--json"}), 0) << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["cells"].size(), 60u);
  EXPECT_EQ(j["summary"]["buildable"], 42);
  EXPECT_EQ(j["summary"]["excluded"], 18);
  EXPECT_EQ(j["summary"]["recipes"]["current"], 1);
  EXPECT_EQ(j["summary"]["recipes"]["differs"], 1);
  EXPECT_EQ(j["summary"]["recipes"]["missing"], 58);
  ASSERT_EQ(run({"matrix"}), 0);
  EXPECT_THAT(out, HasSubstr("torchvision-python313-cuda12_8-sm121-avx2"));
  EXPECT_THAT(out, HasSubstr("excluded: sm121 needs CUDA >= 12.9"));
  EXPECT_THAT(out, HasSubstr("60 cells: 42 buildable, 18 excluded"));
}

// What would make every recipe fail is refused when the config is loaded, before anything is
// written: a template calling `pytorch`, an sm_ target in the matrix, a CUDA attribute that does
// not select the version it names.
TEST_F(TvdCli, SeedEraInputsAreRefusedAtLoadWithExitTwo) {
  const auto src = std::filesystem::path(TVD_SOURCE_DIR) / "config";
  std::string gpu = testing::read_text(src / "templates" / "torchvision" / "gpu.nix.in");
  gpu.replace(gpu.find("pythonPackages.torch.override"), 20, "pythonPackages.pytorch");
  write_text(root / "templates" / "gpu.nix.in", gpu);
  write_text(root / "templates" / "cpu.nix.in",
             testing::read_text(src / "templates" / "torchvision" / "cpu.nix.in"));
  write_text(config, R"({ "flox_env": "build-torchvision", "templates": "templates" })");
  EXPECT_EQ(run({"generate", "sm89-avx2"}), 2);
  EXPECT_THAT(err,
              HasSubstr("gpu.nix.in: line 34: calls `.pytorch`, which nixpkgs renamed to `torch`"));
  EXPECT_EQ(run({"check-config"}), 2);

  std::string matrix = testing::read_text(src / "matrix.json");
  auto swap = [&](const std::string& from, const std::string& to) {
    matrix.replace(matrix.find(from), from.size(), to);
  };
  swap("\"decimal\": \"8.9\"", "\"decimal\": \"sm_89\"");
  swap("\"packages\": \"cudaPackages_12_9\"", "\"packages\": \"cudaPackages_12_8\"");
  write_text(root / "matrix.json", matrix);
  write_text(config, R"({ "flox_env": "build-torchvision", "matrix": "matrix.json" })");
  EXPECT_EQ(run({"generate", "sm89-avx2"}), 2);
  EXPECT_THAT(err, HasSubstr("gpu_archs[6].decimal: PyTorch's CMake rejects \"sm_89\""));
  EXPECT_THAT(err, HasSubstr("cuda[1].packages: \"cudaPackages_12_8\" is not nixpkgs' attribute "
                             "for CUDA 12.9 (cudaPackages_12_9)"));
  EXPECT_EQ(run({"check-config"}), 2);
  EXPECT_TRUE(recipes().empty());
}

// A hand-written recipe that would fail in flox build is flagged in the matrix, with why.
TEST_F(TvdCli, MatrixShowsARecipeThatWouldFail) {
  write_text(env / ".flox/pkgs/torchvision-python313-cuda12_8-sm90-avx2.nix",
             "  gpuArchSM = \"sm_90\";\n  gpuTargets = [ gpuArchSM ];\n");
  ASSERT_EQ(run({"matrix", "--json"}), 0) << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["summary"]["recipes_with_errors"], 1);
  ASSERT_EQ(run({"matrix"}), 0);
  EXPECT_THAT(out, HasSubstr("recipe would fail: line 1: gpuTargets \"sm_90\": PyTorch's CMake "
                             "rejects \"sm_90\""));
  EXPECT_THAT(out, HasSubstr("1 recipe(s) would fail in flox build ('tvd check' says why)"));
}

TEST_F(TvdCli, CheckConfigChecksTheHostOneLineEach) {
  // env is not a git checkout, flox is nowhere, the group does not exist.
  write_text(config, R"({ "flox_env": "build-torchvision", "flox": "no-such-flox",
                          "socket_group": "no-such-group", "state_dir": "state",
                          "socket": "run/tvd.sock", "publish": {"push": true} })");
  EXPECT_EQ(run({"check-config"}), 2);
  EXPECT_THAT(err, HasSubstr("is not a git checkout: flox builds only recipes git tracks"));
  EXPECT_THAT(err, HasSubstr("flox 'no-such-flox' is not an executable"));
  EXPECT_THAT(err, HasSubstr("socket_group 'no-such-group' does not exist"));
  EXPECT_THAT(err, HasSubstr("3 problems; tvd serve refuses to start"));
  EXPECT_THAT(out, HasSubstr("warning:   pytorch_env"));

  testing::git(root.path(), {"init", "-q", "-b", "main", env.string()});
  testing::git(env, {"add", "."});
  testing::git(env, {"-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "init"});
  write_text(config, R"({ "flox_env": "build-torchvision", "flox": "/bin/true",
                          "socket_group": "root", "state_dir": "state", "socket": "run/tvd.sock",
                          "publish": {"push": true} })");
  EXPECT_EQ(run({"check-config"}), 2);
  EXPECT_THAT(err, HasSubstr("has no upstream, which publish.push needs: run 'git push -u origin"));
  write_text(config, R"({ "flox_env": "build-torchvision", "flox": "/bin/true",
                          "socket_group": "root", "state_dir": "state", "socket": "run/tvd.sock" })");
  ASSERT_EQ(run({"check-config"}), 0) << err;
  EXPECT_THAT(out, HasSubstr("60 cells, 42 buildable, 18 excluded"));
  EXPECT_EQ(out.find("nobody committed"), std::string::npos) << out;
  // A person's work in the checkout: tvd should have a clone of its own (a warning).
  write_text(env / "NOTES.md", "half-written\n");
  ASSERT_EQ(run({"check-config"}), 0) << err;
  EXPECT_THAT(out, HasSubstr("has changes nobody committed (git status: ?? NOTES.md)"));
  EXPECT_THAT(out, HasSubstr("give tvd a clone of its own"));
  std::filesystem::remove(env / "NOTES.md");
  // .flox/pkgs as a symlink out of the checkout: recipes would be written where git does not
  // track them (written through before).
  const auto outside = root.path() / "elsewhere";
  std::filesystem::create_directories(outside);
  std::error_code ec;
  const bool had = std::filesystem::exists(env / ".flox" / "pkgs");
  if (had) std::filesystem::rename(env / ".flox" / "pkgs", root.path() / "pkgs.kept");
  std::filesystem::create_directory_symlink(outside, env / ".flox" / "pkgs");
  write_text(config, R"({ "flox_env": "build-torchvision", "flox": "/bin/true",
                          "socket_group": "root", "state_dir": "state", "socket": "run/tvd.sock" })");
  EXPECT_EQ(run({"check-config"}), 2);
  EXPECT_THAT(err, HasSubstr(", outside the checkout: tvd would write recipes there"));
  std::filesystem::remove(env / ".flox" / "pkgs");
  if (had) std::filesystem::rename(root.path() / "pkgs.kept", env / ".flox" / "pkgs", ec);
  // A socket path that is a directory is an error; a budget over the host's memory a warning.
  std::filesystem::create_directories(root.path() / "run" / "tvd.sock");
  write_text(config, R"({ "flox_env": "build-torchvision", "flox": "/bin/true",
                          "socket_group": "root", "state_dir": "state", "socket": "run/tvd.sock",
                          "scheduler": { "memory_budget": "1000TiB" } })");
  EXPECT_EQ(run({"check-config"}), 2);
  EXPECT_THAT(err, HasSubstr("run/tvd.sock is a directory: tvd listens on a file of that name"));
  EXPECT_THAT(out + err, HasSubstr("is more than this host's memory"));
  std::filesystem::remove(root.path() / "run" / "tvd.sock");
  write_text(config, R"({ "scheduler": { "memory_budget": "lots" } })");
  EXPECT_EQ(run({"check-config"}), 2);
  EXPECT_THAT(err, HasSubstr("scheduler.memory_budget: \"lots\" is not a size"));
}

// check-config asks flox: its version and which publish behaviour that means, and where flox
// finds FloxHub credentials (the environment, flox.toml, or its own login).
TEST_F(TvdCli, CheckConfigReportsFloxsVersionAndCredentials) {
  struct Env {  // the variables this test changes, restored after it
    std::vector<std::pair<std::string, std::optional<std::string>>> saved;
    void set(const char* k, const char* v) {
      const char* old = std::getenv(k);
      saved.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      v ? ::setenv(k, v, 1) : ::unsetenv(k);
    }
    ~Env() {
      for (auto it = saved.rbegin(); it != saved.rend(); ++it)
        it->second ? ::setenv(it->first.c_str(), it->second->c_str(), 1)
                   : ::unsetenv(it->first.c_str());
    }
  } vars;
  vars.set("HOME", root.path().c_str());
  vars.set("XDG_CONFIG_HOME", nullptr);
  vars.set("FLOX_CONFIG_DIR", nullptr);
  vars.set("FLOX_FLOXHUB_TOKEN", nullptr);
  testing::git(root.path(), {"init", "-q", "-b", "main", env.string()});
  // The fake's own knobs reach it through a wrapper, as in the demo: tvd passes flox only the
  // variables flox reads.
  auto flox = [&](const std::string& exports) {
    write_text(root / "flox",
               "#!/bin/sh\n" + exports + "exec " + testing::fake_flox().string() + " \"$@\"\n");
    std::filesystem::permissions(root / "flox", std::filesystem::perms::owner_all);
  };
  flox("");
  write_text(config, R"({ "flox_env": "build-torchvision", "flox": ")" + (root / "flox").string() +
                         R"(", "socket_group": "root", "state_dir": "state",
                         "socket": "run/tvd.sock", "publish": {"enabled": true, "org": "acme"} })");
  EXPECT_EQ(run({"check-config"}), 2);  // no upstream for publishing
  EXPECT_THAT(out, HasSubstr("flox:      1.14.1 (1.12 or later: flox publish skips an upload "
                             "already published from the same upstream, HEAD revision"));
  EXPECT_THAT(out, HasSubstr("but only after building it (1.14.1)"));
  EXPECT_THAT(out, HasSubstr("warning:   no FloxHub credentials for flox publish"));

  write_text(root / ".config/flox/flox.toml", "floxhub_token = \"t0ken\"\n");
  run({"check-config"});
  EXPECT_THAT(out, HasSubstr("publish:   FloxHub credentials: floxhub_token in " +
                             (root / ".config/flox/flox.toml").string()));
  // An exported but empty FLOX_FLOXHUB_TOKEN masks that token (flox: logged out).
  vars.set("FLOX_FLOXHUB_TOKEN", "");
  run({"check-config"});
  EXPECT_THAT(out, HasSubstr("warning:   FLOX_FLOXHUB_TOKEN is set but empty in the service's "
                             "environment: flox takes that as logged out"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("publish:   FloxHub credentials:")));
  vars.set("FLOX_FLOXHUB_TOKEN", nullptr);
  std::filesystem::remove(root / ".config/flox/flox.toml");
  // The system's flox.toml counts, where FLOX_SYSTEM_CONFIG_DIR puts it.
  write_text(root / "etc/flox.toml", "floxhub_token = \"t0ken\"\n");
  vars.set("FLOX_SYSTEM_CONFIG_DIR", (root / "etc").c_str());
  run({"check-config"});
  EXPECT_THAT(out, HasSubstr("publish:   FloxHub credentials: floxhub_token in " +
                             (root / "etc/flox.toml").string()));
  vars.set("FLOX_SYSTEM_CONFIG_DIR", nullptr);
  write_text(root / "keyring", "t0ken\n");  // the fake's stand-in for `flox auth login`
  flox("FAKE_FLOX_KEYRING=" + (root / "keyring").string() + " export FAKE_FLOX_KEYRING\n");
  run({"check-config"});
  EXPECT_THAT(out, HasSubstr("publish:   FloxHub credentials: flox's own login (flox auth status: "
                             "You are logged in as fake-user"));
  vars.set("FLOX_FLOXHUB_TOKEN", "t0ken");
  flox("FAKE_FLOX_VERSION=1.11.2 export FAKE_FLOX_VERSION\n");
  run({"check-config"});
  EXPECT_THAT(out,
              HasSubstr("publish:   FloxHub credentials: FLOX_FLOXHUB_TOKEN in the environment"));
  EXPECT_THAT(out, HasSubstr("flox:      1.11.2 (before 1.12: flox publish has no 'already "
                             "published' check"));

  // A token in the upstream's URL: flox 1.14.1 publishes that URL as the package's source, token
  // and all; flox's main drops it (6536dac28), and an ssh URL's user is only its login.
  flox("");
  testing::git(env, {"remote", "add", "origin",
                     "https://x-access-token:ghs_s3cret@github.com/acme/build-torchvision"});
  testing::git(env, {"config", "branch.main.remote", "origin"});
  testing::git(env, {"config", "branch.main.merge", "refs/heads/main"});
  run({"check-config"});
  EXPECT_THAT(out, HasSubstr("warning:   the upstream remote 'origin' of "));
  EXPECT_THAT(out, HasSubstr("has a credential in its URL "
                             "(https://***@github.com/acme/build-torchvision): flox 1.14.1 sends "
                             "that URL, credential included, to FloxHub"));
  EXPECT_THAT(out, HasSubstr("git remote set-url origin URL-without-it"));
  EXPECT_EQ(out.find("s3cret"), std::string::npos);
  flox("FAKE_FLOX_VERSION=1.14.1-g6536dac export FAKE_FLOX_VERSION\n");
  run({"check-config"});
  EXPECT_EQ(out.find("has a credential in its URL"), std::string::npos);
  flox("");
  testing::git(env, {"remote", "set-url", "origin", "ssh://git@github.com/acme/build-torchvision"});
  run({"check-config"});
  EXPECT_EQ(out.find("has a credential in its URL"), std::string::npos);
  testing::git(env, {"remote", "set-url", "origin", "https://github.com/acme/build-torchvision"});
  run({"check-config"});
  EXPECT_EQ(out.find("has a credential in its URL"), std::string::npos);
}

// Two environments, PyTorch's and TorchVision's, paired: generate writes each product's recipe
// into its own checkout (TorchVision's with its copy of PyTorch's), ENV/SPEC selects in one, and
// matrix and check-config show both.
TEST_F(TvdCli, TwoEnvironmentsPyTorchAndTorchVision) {
  const auto pt = root / "build-pytorch";
  testing::make_flox_env(pt);
  write_text(config, R"({"environments": [
      {"name": "pytorch", "product": "pytorch", "flox_env": "build-pytorch"},
      {"name": "torchvision", "product": "torchvision", "flox_env": "build-torchvision",
       "torch_from": "pytorch"}]})");
  const auto pt_sm89 = pt / ".flox/pkgs/pytorch-python313-cuda12_8-sm89-avx2.nix";
  const auto tv_sm89 = env / ".flox/pkgs/torchvision-python313-cuda12_8-sm89-avx2.nix";
  ASSERT_EQ(run({"generate", "sm89-avx2"}), 0) << err;
  EXPECT_THAT(out, HasSubstr("pytorch/pytorch-python313-cuda12_8-sm89-avx2"));
  EXPECT_THAT(out, HasSubstr("torchvision/torchvision-python313-cuda12_8-sm89-avx2"));
  ASSERT_TRUE(std::filesystem::exists(pt_sm89));
  ASSERT_TRUE(std::filesystem::exists(tv_sm89));
  EXPECT_THAT(testing::read_text(pt_sm89),
              HasSubstr("pname = \"pytorch-python313-cuda12_8-sm89-avx2\";"));
  // Its torch is the PyTorch recipe, copied beside it; what it says itself is the matrix's.
  EXPECT_THAT(
      testing::read_text(tv_sm89),
      HasSubstr("customPytorch = import ../pytorch/pytorch-python313-cuda12_8-sm89-avx2.nix"));
  EXPECT_EQ(testing::read_text(env / ".flox/pytorch/pytorch-python313-cuda12_8-sm89-avx2.nix"),
            testing::read_text(pt_sm89));
  EXPECT_THAT(testing::read_text(tv_sm89), HasSubstr("gpuArchSM = \"8.9\";"));

  ASSERT_EQ(run({"generate", "pytorch/cpu-avx2"}), 0) << err;
  EXPECT_TRUE(std::filesystem::exists(pt / ".flox/pkgs/pytorch-python313-cpu-avx2.nix"));
  EXPECT_FALSE(std::filesystem::exists(env / ".flox/pkgs/torchvision-python313-cpu-avx2.nix"));
  EXPECT_EQ(run({"generate", "nowhere/cpu-avx2"}), 2);
  EXPECT_THAT(err, HasSubstr("'nowhere/cpu-avx2': no environment 'nowhere' (known: pytorch, "
                             "torchvision)"));

  ASSERT_EQ(run({"matrix"}), 0) << err;
  EXPECT_THAT(out, HasSubstr("environment pytorch: PyTorch in " + pt.string()));
  EXPECT_THAT(out, HasSubstr("environment torchvision: TorchVision in " + env.string() +
                             ", torch from pytorch"));
  EXPECT_THAT(out, HasSubstr("120 cells: 84 buildable, 36 excluded"));

  run({"check-config"});
  EXPECT_THAT(out, HasSubstr("environment pytorch: PyTorch (pytorch)\nflox_env:  " + pt.string()));
  EXPECT_THAT(out, HasSubstr("environment torchvision: TorchVision (torchvision), its torch from "
                             "pytorch's recipes"));
  EXPECT_THAT(out, HasSubstr("templates: built-in pytorch templates"));
  EXPECT_THAT(out, HasSubstr("nixpkgs pytorch-2.8 (fe5e41d7ffc0)"));
}

// Builders in the set-up: check-config lists them, the machines tvd does not use and why, and
// the cells no builder builds; tvd matrix marks those cells.
TEST_F(TvdCli, BuildersAreShownAndCellsWithoutOneMarked) {
  write_text(root / "machines", "ssh-ng://big x86_64-linux - 4 1 big-parallel\n");
  write_text(config, R"({"flox_env": "build-torchvision", "builders": {"machines_file": "machines",
      "local": {"systems": ["x86_64-linux"], "features": ["big-parallel"]}}})");
  run({"check-config"});
  EXPECT_THAT(out, HasSubstr("builder:   local: x86_64-linux; features big-parallel; the "
                             "scheduler's slots and budget\n"));
  EXPECT_THAT(out, HasSubstr("note:      ssh-ng://big (" + (root / "machines").string() +
                             ":1): not used by tvd: no memory budget"));
  EXPECT_THAT(out, HasSubstr("warning:   14 buildable cell(s) of aarch64-linux will not be "
                             "queued: no aarch64-linux builder: add one to Nix's machines file"));
  ASSERT_EQ(run({"matrix"}), 0) << err;
  EXPECT_THAT(out, HasSubstr("; 14 buildable cell(s) of aarch64-linux have no builder"));
  EXPECT_THAT(out, HasSubstr("no builder: no aarch64-linux builder"));
  ASSERT_EQ(run({"matrix", "--json"}), 0) << err;
  const auto matrix = nlohmann::json::parse(out);
  for (const auto& cell : matrix["cells"]) {
    if (cell["variant"] == "torchvision-python313-cuda12_8-sm89-armv9") {
      EXPECT_TRUE(cell["builders"].empty()) << cell.dump();
    }
    if (cell["variant"] == "torchvision-python313-cuda12_8-sm89-avx2") {
      EXPECT_EQ(cell["builders"], nlohmann::json::array({"local"})) << cell.dump();
    }
  }
  write_text(config, R"({"flox_env": "build-torchvision", "builders": {"machines_file": "machines",
      "local": {"systems": ["x86_64-linux"]},
      "remote": {"ssh-ng://big": {"memory_budget": "500GiB"}}}})");
  run({"check-config"});
  EXPECT_THAT(out,
              HasSubstr("builder:   ssh-ng://big (" + (root / "machines").string() +
                        ":1): x86_64-linux; features big-parallel; 4 slot(s), budget 500 GiB"));
}

TEST_F(TvdCli, SimulateComparesThePolicies) {
  ASSERT_EQ(run({"simulate", "--json"}), 0) << err;
  auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["policies"].size(), 3u);
  EXPECT_EQ(j["builds"], 60);
  std::vector<std::string> names;
  for (const auto& p : j["policies"]) {
    names.push_back(p["name"]);
    for (const char* key : {"makespan_s", "lower_bound_s", "peak_reserved_bytes", "budget_bytes"}) {
      EXPECT_TRUE(p.contains(key)) << key;
    }
    EXPECT_GE(p["makespan_s"].get<long long>(), p["lower_bound_s"].get<long long>());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"tvd", "fifo-2", "serial"}));
  EXPECT_LE(j["policies"][0]["peak_reserved_bytes"], j["policies"][0]["budget_bytes"]);

  ASSERT_EQ(run({"simulate", "--memory", "512GiB", "--cores", "128"}), 0) << err;
  EXPECT_THAT(out, HasSubstr("POLICY  SLOTS  MAKESPAN"));
}

// Paired environments: the night of both products with torch built once, against today's, where
// each TorchVision build compiles its own torch: same cells, same figures.
TEST_F(TvdCli, SimulateComparesTorchOnceWithToday) {
  testing::make_flox_env(root / "build-pytorch");
  write_text(config, R"({"environments": [
      {"name": "pytorch", "product": "pytorch", "flox_env": "build-pytorch"},
      {"name": "torchvision", "product": "torchvision", "flox_env": "build-torchvision",
       "torch_from": "pytorch"}]})");
  ASSERT_EQ(run({"simulate", "--json"}), 0) << err;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["builds"], 120);
  ASSERT_TRUE(j.contains("today"));
  const auto once = j["policies"][0];
  EXPECT_LT(once["makespan_s"].get<long long>(), j["today"]["makespan_s"].get<long long>());
  EXPECT_LT(j["cpu_hours"].get<double>(), j["today"]["cpu_hours"].get<double>());
  ASSERT_EQ(run({"simulate"}), 0) << err;
  EXPECT_THAT(out, HasSubstr("a TorchVision build after its torch's GPU 15-40 min"));
  EXPECT_THAT(out, HasSubstr("NIGHT       MAKESPAN  LOWER BOUND  LONGEST CHAIN  CPU-HOURS"));
  EXPECT_THAT(out, HasSubstr("torch once"));
  // One environment: no comparison.
  write_text(config, R"({"flox_env": "build-torchvision"})");
  ASSERT_EQ(run({"simulate", "--json"}), 0) << err;
  EXPECT_FALSE(nlohmann::json::parse(out).contains("today"));
}

// Farms side by side: one x86_64 host leaves the aarch64 cells out (counted); two x86_64 hosts
// and an aarch64 one build every cell, sooner.
TEST_F(TvdCli, SimulateComparesFarms) {
  write_text(
      root / "one.json",
      R"([{"name": "x86-1", "systems": ["x86_64-linux"], "memory": "256GiB", "cores": 64}])");
  write_text(root / "three.json",
             R"([{"name": "x86-1", "systems": ["x86_64-linux"], "memory": "256GiB", "cores": 64},
                 {"name": "x86-2", "systems": ["x86_64-linux"], "memory": "256GiB", "cores": 64},
                 {"name": "arm-1", "systems": ["aarch64-linux"], "memory": "256GiB", "cores": 64}])");
  ASSERT_EQ(run({"simulate", "--json", "--builders", (root / "one.json").string(), "--builders",
                 (root / "three.json").string()}),
            0)
      << err;
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["farms"].size(), 2u);
  const auto &one = j["farms"][0], &three = j["farms"][1];
  EXPECT_EQ(one["builds"].get<int>() + one["unbuildable"].get<int>(), 60);
  EXPECT_EQ(one["unbuildable"], 20);  // the matrix's aarch64 cells (all treated as buildable)
  EXPECT_EQ(three["unbuildable"], 0);
  EXPECT_GE(three["makespan_s"].get<long long>(), three["lower_bound_s"].get<long long>());
  EXPECT_LT(three["makespan_s"].get<long long>(), one["makespan_s"].get<long long>());
  write_text(root / "bad.json", R"([{"name": "x", "systems": ["x86_64-linux"], "ram": "1GiB"}])");
  EXPECT_EQ(run({"simulate", "--builders", (root / "bad.json").string()}), 2);
  EXPECT_THAT(err, HasSubstr("[0].ram: unknown key"));
}

TEST_F(TvdCli, SimulateRefusesBadWorkloads) {
  EXPECT_EQ(run({"simulate", "--memory", "lots"}), 2);
  EXPECT_THAT(err, HasSubstr("--memory: \"lots\" is not a size"));
  EXPECT_EQ(run({"simulate", "--max-parallel", "zero"}), 2);
  write_text(root / "night.json",
             R"([{"variant": "a", "kind": "gpu", "peak": "64GiB", "duration": "forever"}])");
  EXPECT_EQ(run({"simulate", "--profile", (root / "night.json").string()}), 2);
  EXPECT_THAT(err, HasSubstr("[0].duration: expected a duration"));
  write_text(root / "night.json",
             R"([{"variant": "a", "kind": "gpu", "peak": "64GiB", "duration": "3h"},
                                      {"variant": "b", "kind": "cpu", "peak": "16GiB", "duration": "1h"}])");
  ASSERT_EQ(run({"simulate", "--json", "--profile", (root / "night.json").string()}), 0) << err;
  EXPECT_EQ(nlohmann::json::parse(out)["policies"][2]["makespan_s"], 4 * 3600);
}

TEST_F(TvdCli, HelpHasExamples) {
  EXPECT_EQ(run({"generate", "--help"}), 0);
  EXPECT_THAT(out, HasSubstr("tvd generate 'sm90-*' cpu-avx2"));
}

}  // namespace
}  // namespace tvd
