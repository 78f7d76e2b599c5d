// tvd, the fake flox building through the real Nix (FAKE_FLOX_NIX=real), and two builders: the
// local host (x86_64-linux only) and a second Nix store over ssh-ng:// on the loopback address
// that builds aarch64-linux (its nix.conf's extra-platforms; the stub's builders are /bin/sh).
// Each build goes where tvd's NIX_CONFIG sends it: the aarch64 cell is built in the remote store
// (and, as Nix does for every remote build, its outputs copied back to the local store, where
// flox links them), the x86_64 cell in the local store and never in the remote one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/daemon_fixture.h"
#include "tests/support/ssh_nix_store.h"

namespace tvd::integration {
namespace {

const fs::path kStub = fs::path(TVD_SOURCE_DIR) / "tests/support/nixpkgs-stub";

class RemoteBuilderTest : public DaemonTest {
 protected:
  // The config: the local host builds x86_64-linux, and `machines` (lines of the machines file)
  // each with a budget in builders.remote.
  void configure(const std::vector<std::string>& machines) {
    std::string lines, remote;
    for (const auto& m : machines) {
      lines += m + "\n";
      const std::string uri = m.substr(0, m.find(' '));
      remote += (remote.empty() ? "\"" : ", \"") + uri + R"(": {"memory_budget": "8GiB"})";
    }
    testing::write_text(dir / "machines", lines);
    testing::write_text(config, R"({
      "flox_env": "build-torchvision", "state_dir": "state", "socket": "run/tvd.sock",
      "flox": "flox", "socket_group": "root",
      "axes": {"cuda": ["12.8"], "gpu_archs": ["sm89"], "cpu_isas": ["avx2", "armv9"]},
      "builders": {"machines_file": "machines", "local": {"systems": ["x86_64-linux"]},
                   "remote": {)" + remote +
                                    R"(}},
      "scheduler": {"max_parallel": 2, "memory_budget": "8GiB",
                    "memory_per_build": {"gpu": "1GiB", "cpu": "512MiB"}, "max_memory_pressure": 100},
      "builds": {"backoff": "1s", "timeout": "5min"}
    })");
  }
  // What the daemon's children get (NIX_*): a root build without build users or sandbox, and ssh
  // through the test's config. tvd adds the builder of each build.
  void nix_environment(const testing::SshNixStore& store) {
    ::setenv("NIX_CONFIG", "build-users-group =\nsandbox = false\nsubstituters =\n", 1);
    ::setenv("NIX_SSHOPTS", ("-F " + store.ssh_config().string()).c_str(), 1);
  }
  void TearDown() override {
    DaemonTest::TearDown();
    ::unsetenv("NIX_CONFIG");
    ::unsetenv("NIX_SSHOPTS");
  }
};

TEST_F(RemoteBuilderTest, EachCellIsBuiltInTheStoreOfTheBuilderTvdPlacedItOn) {
  if (auto why = testing::SshNixStore::unavailable(); !why.empty()) GTEST_SKIP() << why;
  testing::SshNixStore arm(dir / "arm-builder", "tvd-aarch64", "extra-platforms = aarch64-linux");
  ASSERT_EQ(arm.error(), "");
  const fs::path local_nix = dir / "local" / "nix";
  fs::create_directories(local_nix);
  configure({arm.uri() + " aarch64-linux - 1 1 big-parallel"});
  // The fake flox builds through the real Nix, against the stub of nixpkgs.
  testing::write_text(dir / "flox", "#!/bin/sh\nFAKE_FLOX_PLAN='" + plan.string() +
                                        "' FAKE_FLOX_NIX=real FAKE_FLOX_NIXPKGS='" +
                                        kStub.string() + "' exec '" +
                                        testing::fake_flox().string() + "' \"$@\"\n");
  nix_environment(arm);
  // The daemon, and so flox and Nix, in a mount namespace where local/nix is /nix.
  daemon = testing::spawn_with_own_nix(local_nix, {TVD_BIN, "serve", "--config", config.string()},
                                       dir / "serve.log");
  ASSERT_GT(daemon, 0);
  for (int i = 0; i < 200 && tvctl({"status"}).exit_code != 0; ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ(tvctl({"status"}).exit_code, 0) << testing::read_text(dir / "serve.log");

  auto r = tvctl({"enqueue", "cpu-avx2", "cpu-armv9"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json s = settle(300s);
  for (const auto& j : s["jobs"]) {
    auto shown = tvctl({"logs", std::to_string(j["id"].get<int>())});
    EXPECT_EQ(j["state"], "succeeded") << j.dump() << "\n" << shown.out;
  }
  const std::string x86 = "torchvision-python313-cpu-avx2";
  const std::string arm64 = "torchvision-python313-cpu-armv9";
  // tvd's placement, as flox got it.
  EXPECT_EQ(testing::read_text(plan / (arm64 + ".build-env")),
            "token=\nsystem=aarch64-linux\nnix_config=build-users-group =|sandbox = false|"
            "substituters =|builders = ssh-ng://tvd-aarch64 aarch64-linux - 1 1 big-parallel - -|"
            "max-jobs = 0|builders-use-substitutes = true\n");
  EXPECT_EQ(testing::read_text(plan / (x86 + ".build-env")),
            "token=\nsystem=x86_64-linux\nnix_config=build-users-group =|sandbox = false|"
            "substituters =|builders =\n");
  // Where each output was built: flox's result link names it.
  std::error_code ec;
  const std::string arm_out = fs::read_symlink(env_dir / ("result-" + arm64), ec).string();
  ASSERT_FALSE(ec) << "no result link for " << arm64;
  const std::string x86_out = fs::read_symlink(env_dir / ("result-" + x86), ec).string();
  ASSERT_FALSE(ec) << "no result link for " << x86;
  EXPECT_THAT(arm_out, ::testing::StartsWith("/nix/store/"));
  EXPECT_THAT(arm_out, ::testing::EndsWith("-" + arm64 + "-0.23.0"));

  const auto arm_remote = testing::store_path_in(arm.nix(), arm_out);
  const auto arm_local = testing::store_path_in(local_nix, arm_out);
  EXPECT_TRUE(arm_remote.valid && arm_remote.built_here)
      << "the aarch64 cell was not built remotely";
  EXPECT_TRUE(arm_local.valid) << "Nix copies a remote build's outputs back";
  EXPECT_FALSE(arm_local.built_here) << "the aarch64 cell was built on the local host";
  const auto x86_local = testing::store_path_in(local_nix, x86_out);
  const auto x86_remote = testing::store_path_in(arm.nix(), x86_out);
  EXPECT_TRUE(x86_local.valid && x86_local.built_here) << "the x86_64 cell was not built locally";
  EXPECT_FALSE(x86_remote.valid) << "the x86_64 cell reached the aarch64 builder";

  // Each attempt names its builder.
  for (const auto& j : s["jobs"]) {
    const json detail =
        json::parse(tvctl({"--json", "show", std::to_string(j["id"].get<int>())}).out);
    EXPECT_EQ(detail["attempts"][0]["builder"], j["package"] == arm64 ? arm.uri() : "local")
        << detail.dump();
  }
  std::cout << "aarch64 cell: built in the ssh-ng store (" << arm_out
            << "), copied back; x86_64 cell: built in the local store (" << x86_out << ")\n";
}

// `tvd check-config --probe` builds a derivation of each system of each builder, placed as tvd
// places a build: what a machine line claims and the machine does not do is an error naming it.
TEST_F(RemoteBuilderTest, CheckConfigProbeBuildsOnEachBuilderWhatItClaims) {
  if (auto why = testing::SshNixStore::unavailable(); !why.empty()) GTEST_SKIP() << why;
  testing::SshNixStore arm(dir / "arm-builder", "tvd-aarch64", "extra-platforms = aarch64-linux");
  ASSERT_EQ(arm.error(), "");
  const fs::path local_nix = dir / "local" / "nix";
  fs::create_directories(local_nix);
  nix_environment(arm);
  auto check = [&] {
    return testing::run_command(testing::with_own_nix(
        local_nix, {TVD_BIN, "check-config", "--probe", "--config", config.string()}));
  };
  configure({arm.uri() + " aarch64-linux - 1 1 big-parallel"});
  auto r = check();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("probe:     local built x86_64-linux ("));
  EXPECT_THAT(r.out, HasSubstr("probe:     ssh-ng://tvd-aarch64 built aarch64-linux ("));
  // The probe was built on the machine, not on the host.
  size_t probes = 0;
  for (const auto& e : fs::directory_iterator(arm.nix() / "store"))
    probes += e.path().filename().string().ends_with("-tvd-probe");
  EXPECT_EQ(probes, 1u);

  // A machine that claims a system it does not build, a feature it lacks, and one nobody answers.
  configure({arm.uri() + " aarch64-linux,riscv64-linux - 1 1 big-parallel,cuda",
             "ssh-ng://tvd-gone aarch64-linux - 1 1 big-parallel"});
  r = check();
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("probe:     local built x86_64-linux ("));
  // Nix's own words, from the machine: what the probe needs, and what the machine is.
  EXPECT_THAT(r.err,
              HasSubstr("error:     builder ssh-ng://tvd-aarch64 cannot build riscv64-linux: "
                        "a 'riscv64-linux' with features {big-parallel, cuda} is required "
                        "to build '/nix/store/"));
  // (The machine's features are its Nix's: "kvm" among them where /dev/kvm exists.)
  EXPECT_THAT(r.err, HasSubstr("-tvd-probe.drv', but I am a 'x86_64-linux' with features {"));
  EXPECT_THAT(r.err, HasSubstr("big-parallel"));
  EXPECT_THAT(r.err, HasSubstr("} (the machines file's line must name the machine's systems and "
                               "features"));
  EXPECT_THAT(r.err,
              HasSubstr("error:     builder ssh-ng://tvd-aarch64 cannot build aarch64-linux: "
                        "a 'aarch64-linux' with features {big-parallel, cuda} is required"));
  EXPECT_THAT(r.err, HasSubstr("error:     builder ssh-ng://tvd-gone cannot build aarch64-linux: "
                               "cannot open connection to remote store 'ssh-ng://tvd-gone'"));
  EXPECT_THAT(r.err, HasSubstr("(check that the machine answers: nix store ping --store "
                               "ssh-ng://tvd-gone)"));
  EXPECT_THAT(r.err, HasSubstr("3 problems"));
  std::cout << r.out << r.err;
}

}  // namespace
}  // namespace tvd::integration
