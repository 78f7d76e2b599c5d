// The engine on fakes: a clock the test moves, a runner and a lane scripted by tables, and the
// outputs flox 1.14 and Nix print (tests/support/fake-flox cites them). Shared by the engine's
// state-machine tests.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/service/engine.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fake_lane.h"
#include "tests/support/fake_runner.h"
#include "tests/support/scratch.h"

namespace tvd::service {

using ::testing::ElementsAre;
using testing::FakeRun;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
inline constexpr uint64_t GiB = 1ull << 30;

// What flox 1.14 and Nix print (tests/support/fake-flox, with its sources).
inline const std::string kBuildError =
    "torch> torch/csrc/Module.cpp:42:7: error: 'foo' was not declared in this scope\n"
    "error: Cannot build '/nix/store/aaaa-torch-2.8.0.drv'.\n"
    "       Reason: builder failed with exit code 2.\n"
    "error: Cannot build '/nix/store/bbbb-torchvision.drv'.\n"
    "       Reason: 1 dependency failed.\n"
    "✘ ERROR: Build failed\n";
inline const std::string kOutOfMemory =
    "error: Cannot build '/nix/store/aaaa-torch-2.8.0.drv'.\n"
    "       Reason: builder failed due to signal 9 (Killed).\n"
    "error: Cannot build '/nix/store/bbbb-torchvision.drv'.\n"
    "       Reason: 1 dependency failed.\n"
    "✘ ERROR: Build failed\n";
inline const std::string kNetwork =
    "error: unable to download 'https://github.com/NixOS/nixpkgs/archive/fe5e41d7.tar.gz': "
    "Couldn't resolve host name (6)\n"
    "✘ ERROR: Build failed\n";
inline const std::string kUploadFailed =
    "✘ ERROR: Failed to publish package: Failed to upload to cache: error sending request for url "
    "(https://api.flox.dev/api/v1/catalog/catalogs/acme/packages/p/builds): client error "
    "(Connect)\n";
inline const std::string kNotLoggedIn = "✘ ERROR: You are not logged in to FloxHub.\n";
inline const std::string kPublished = "Package published successfully.\n";

class EngineMachine : public ::testing::Test {
 protected:
  testing::ScratchDir dir;
  fs::path env_dir = dir / "build-torchvision";
  testing::FakeClock clock;
  testing::FakeRunner runner{clock};
  testing::FakeLane lane{clock, runner};
  Matrix matrix = std::move(Matrix::embedded().value());
  TemplateSet templates = std::move(TemplateSet::embedded("torchvision").value());
  std::unique_ptr<Engine> engine;
  std::map<JobId, std::vector<JobState>> states;  // every state each job went through
  std::map<JobId, std::vector<JobEvent>> events;  // every event of each job, as recorded
  std::map<JobId, Job> latest;              // each job as the observer (the store) last saw it
  bool store_takes = true;                  // false: the store cannot be written (busy, full)
  std::function<bool(const Job&)> refuses;  // the changes it cannot write, when set

  const std::string sm89 = "torchvision-python313-cuda12_8-sm89-avx2";
  const std::string sm90 = "torchvision-python313-cuda12_8-sm90-avx2";
  const std::string cpu = "torchvision-python313-cpu-avx2";

  EngineConfig config() {
    EngineConfig c;
    c.log_dir = dir / "state" / "logs";
    c.publishing.flox = "flox";
    c.publish = true;
    c.publishing.org = "acme";
    c.limits = {.memory_budget = 100 * GiB, .max_parallel = 4};
    c.estimates = {.gpu_bytes = 40 * GiB, .cpu_bytes = 16 * GiB};
    c.max_tries = 3;
    c.backoff = 2min;
    c.recheck = 30s;
    return c;
  }
  // `lanes`: each environment's; the default environment's `lane` when not given.
  void make(EngineConfig c, Lanes lanes = {}) {
    if (lanes.empty()) lanes = {{"default", &lane}};
    RecipeSources sources;
    for (auto& [name, l] : lanes) {
      l->set_publishing(c.publishing);
      sources[name] = {&templates, RecipeEnv{env_dir, dir / "build-pytorch"}};
    }
    engine = std::make_unique<Engine>(std::move(c), std::move(sources), runner, std::move(lanes),
                                      clock, [] { return sched::Measurements{}; });
    engine->on_change([this](const Job& j, const std::optional<JobEvent>& e) {
      // The store (here: states, events and latest) cannot be written: it does not change.
      if (!store_takes || (refuses && refuses(j))) return false;
      auto& seen = states[j.id];
      if (seen.empty() || seen.back() != j.state) seen.push_back(j.state);
      if (e) events[j.id].push_back(*e);
      latest.insert_or_assign(j.id, j);
      return true;
    });
  }
  void SetUp() override {
    testing::make_flox_env(env_dir);
    matrix.set_environment({"default", env_dir});  // as a config's flox_env makes it
    runner.script("flox publish", {{.takes = 5min, .output = kPublished}});
    make(config());
  }
  // A build of `pkg` that succeeds after `takes`, leaving result-PKG as flox does.
  static FakeRun built(const std::string& pkg, std::chrono::milliseconds takes = 1h,
                       const std::string& hash = "0123") {
    return {.takes = takes,
            .output = "Completed build of " + pkg + " in Nix expression mode\n",
            .links = {{"result-" + pkg, "/nix/store/" + hash + "-" + pkg}}};
  }
  static FakeRun failed(const std::string& output, std::chrono::milliseconds takes = 10min) {
    return {.takes = takes, .exit_code = 1, .output = output};
  }
  JobId enqueue(const std::string& spec, EnqueueOptions o = {}) {
    auto e = engine->enqueue(resolve_specs(matrix, {spec}, false).value(), o);
    EXPECT_EQ(e.size(), 1u);
    return e.at(0).job.value_or(0);
  }
  void run() {
    ASSERT_TRUE(clock.run_while_not([&] { return engine->idle(); }));
  }
  JobState last(JobId id) { return states.at(id).back(); }
  // Each event of job `id` as "kind from>to phase" ("started queued>building recipe").
  std::vector<std::string> story(JobId id) {
    std::vector<std::string> out;
    for (const auto& e : events[id])
      out.push_back(describe(e));
    return out;
  }
  std::vector<std::chrono::minutes> build_starts(const std::string& pkg) {
    std::vector<std::chrono::minutes> out;
    for (const auto& c : runner.calls()) {
      if (c.line() == "flox build -d " + env_dir.string() + " " + pkg) {
        out.push_back(std::chrono::duration_cast<std::chrono::minutes>(
            c.started - (clock.now() - clock.elapsed())));
      }
    }
    return out;
  }
};

}  // namespace tvd::service
