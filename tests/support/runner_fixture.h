// A real process runner in a scratch directory with a git flox environment and the fake flox of
// tests/support: what the runner's tests and flox's run tests share.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/exec/process_runner.h"
#include "tests/support/scratch.h"

namespace tvd::testing {

class RunnerFixture : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  std::unique_ptr<exec::Runner> runner =
      exec::make_process_runner(io, {.grace = std::chrono::milliseconds(300)});
  ScratchDir dir;
  std::filesystem::path env_dir = dir / "build-torchvision";
  std::filesystem::path plan = dir / "plan";

  std::map<std::string, std::string> env() {
    return {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
            {"HOME", dir.path().string()},
            {"FAKE_FLOX_PLAN", plan.string()}};
  }
  exec::RunSpec spec(std::vector<std::string> argv) {
    exec::RunSpec s;
    s.argv = std::move(argv);
    s.cwd = dir.path();
    s.env = env();
    s.log = dir / ("run" + std::to_string(++n_) + ".log");
    return s;
  }
  exec::RunSpec flox(std::vector<std::string> args) {
    args.insert(args.begin(), fake_flox().string());
    return spec(std::move(args));
  }
  exec::RunResult run(exec::RunSpec s) {
    std::optional<exec::RunResult> out;
    runner->start(std::move(s), [&](const exec::RunResult& r) { out = r; });
    // Until it reports (a runner may keep work of its own pending, e.g. a log's watch).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!out && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(out) << "the run did not finish";
    return out.value_or(exec::RunResult{});
  }
  void recipe(const std::string& pkg, bool track = true) {
    write_text(env_dir / ".flox" / "pkgs" / (pkg + ".nix"), "{ }: { }\n");
    if (track) {
      git(env_dir, {"add", ".flox/pkgs/" + pkg + ".nix"});
      git(env_dir, {"commit", "-q", "-m", "Add " + pkg});
    }
  }
  void behave(const std::string& pkg, const std::string& plan_text, const char* what = "build") {
    write_text(plan / (pkg + "." + what), plan_text);
  }
  void SetUp() override {
    std::filesystem::create_directories(plan);
    make_git_flox_env(env_dir, dir / "upstream.git");
  }

 private:
  int n_ = 0;
};

}  // namespace tvd::testing
