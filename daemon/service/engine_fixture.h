// The engine with everything real but flox: the process runner, git with a bare upstream, the
// fake flox of tests/support, an Asio clock. Shared by the engine's end-to-end tests.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <fstream>
#include <map>

#include "daemon/exec/process_runner.h"
#include "daemon/service/engine.h"
#include "tests/support/run_io.h"
#include "tests/support/scratch.h"

namespace tvd::service {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
inline constexpr uint64_t GiB = 1ull << 30;

class EngineTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  std::unique_ptr<exec::Runner> runner = exec::make_process_runner(io, {.grace = 300ms});
  std::unique_ptr<Clock> clock = make_asio_clock(io);
  testing::ScratchDir dir;
  fs::path env_dir = dir / "build-torchvision";
  fs::path upstream = dir / "upstream.git";
  fs::path plan = dir / "plan";
  Matrix matrix = std::move(Matrix::embedded().value());
  TemplateSet templates = std::move(TemplateSet::embedded("torchvision").value());
  std::unique_ptr<flox::GitLane> lane;
  std::unique_ptr<Engine> engine;
  std::vector<std::pair<JobId, JobState>> history;
  std::map<JobId, Job> latest;  // each job as the observer (the store) last saw it
  const Job* seen(JobId id) const {
    auto it = latest.find(id);
    return it == latest.end() ? nullptr : &it->second;
  }

  // Every state job `id` passed through, in order (a change that kept the state says nothing).
  std::vector<JobState> states(JobId id) const {
    std::vector<JobState> out;
    for (const auto& [job, state] : history) {
      if (job == id && (out.empty() || out.back() != state)) out.push_back(state);
    }
    return out;
  }

  EngineConfig config() {
    EngineConfig c;
    c.log_dir = dir / "state" / "logs";
    c.publishing.flox = testing::fake_flox().string();
    c.child_env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                   {"HOME", dir.path().string()},
                   {"FAKE_FLOX_PLAN", plan.string()},
                   {"FLOX_FLOXHUB_TOKEN", "t0ken"}};
    c.publish = true;
    c.publishing.org = "acme";
    c.publishing.push = true;
    c.limits = {.memory_budget = 1000 * GiB, .max_parallel = 4};
    c.estimates = {.gpu_bytes = 40 * GiB, .cpu_bytes = 16 * GiB};
    c.max_tries = 3;
    c.backoff = 100ms;
    c.recheck = 200ms;
    c.sample_every = 100ms;
    return c;
  }
  void make(EngineConfig c) {
    engine.reset();
    lane = std::make_unique<flox::GitLane>(io, *runner, lane_config(c, matrix.environment()));
    engine = std::make_unique<Engine>(
        std::move(c),
        RecipeSources{{"default", {&templates, RecipeEnv{env_dir, dir / "build-pytorch"}}}},
        *runner, Lanes{{"default", lane.get()}}, *clock, [] {
          return sched::Measurements{
              .memory_pressure = 0.0, .mem_available = std::nullopt, .disks = {}};
        });
    engine->on_change([this](const Job& j, const std::optional<JobEvent>&) {
      history.emplace_back(j.id, j.state);
      latest.insert_or_assign(j.id, j);
      return true;
    });
  }
  void SetUp() override {
    fs::create_directories(plan);
    testing::make_git_flox_env(env_dir, upstream);
    matrix.set_environment({"default", env_dir});  // as a config's flox_env makes it
  }
  std::vector<Selection> select(std::vector<std::string> specs) {
    return resolve_specs(matrix, specs, false).value();
  }
  std::vector<Enqueued> enqueue(std::vector<std::string> specs, EnqueueOptions o = {}) {
    return engine->enqueue(select(std::move(specs)), o);
  }
  // Runs the io_context until `done()` holds, or `limit` passes; whether it holds.
  bool run_until(const std::function<bool()>& done, std::chrono::seconds limit) {
    return testing::run_io_until(io, done, limit);
  }
  // Runs the io_context until the engine has nothing to do, or `limit` passes.
  void run_until_idle(std::chrono::seconds limit = 60s) {
    ASSERT_TRUE(run_until([this] { return engine->idle(); }, limit))
        << "the engine did not finish in time";
  }
  void behave(const std::string& pkg, const std::string& text, const char* what = "build") {
    testing::write_text(plan / (pkg + "." + what), text);
  }
  std::vector<std::string> calls() {
    std::vector<std::string> out;
    std::ifstream in(plan / "calls");
    for (std::string line; std::getline(in, line);)
      out.push_back(line);
    return out;
  }
  size_t count_calls(const std::string& prefix) {
    size_t n = 0;
    for (const auto& c : calls())
      n += c.rfind(prefix, 0) == 0;
    return n;
  }
  const std::string sm89 = "torchvision-python313-cuda12_8-sm89-avx2";
  const std::string cpu = "torchvision-python313-cpu-avx2";
};

}  // namespace tvd::service
