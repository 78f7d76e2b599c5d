// The whole service on the fakes of tests/support: its runner, clock and lane come from outside
// (Parts, as the composition root gives the real ones), with the real SQLite store. A build, a
// restart and a retry take milliseconds, where the daemon's end-to-end tests take seconds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/service/engine_machine_fixture.h"
#include "daemon/service/host_config.h"
#include "daemon/service/service.h"

namespace tvd::service {
namespace {

class ServiceOnFakes : public ::testing::Test {
 protected:
  testing::ScratchDir dir;
  fs::path env_dir = dir / "build-torchvision";
  // The fakes of the service running now (it owns them).
  testing::FakeClock* clock = nullptr;
  testing::FakeRunner* runner = nullptr;
  char path_var[32] = "PATH=/usr/bin:/bin";
  char* environ_vars[2] = {path_var, nullptr};
  const std::string cpu = "torchvision-python313-cpu-avx2";

  void SetUp() override {
    testing::make_flox_env(env_dir);
    testing::write_text(dir / "tvd.json", R"({ "flox_env": ")" + env_dir.string() +
                                              R"(", "state_dir": ")" + (dir / "state").string() +
                                              R"(", "http": { "listen": "off" } })");
  }
  // A service as `tvd serve` makes one, on new fakes; the build runs `scripts` say.
  std::unique_ptr<Service> start(std::vector<FakeRun> builds) {
    auto setup = load_setup(dir / "tvd.json");
    EXPECT_TRUE(setup) << setup.error().message;
    Parts parts;
    auto fake_clock = std::make_unique<testing::FakeClock>();
    auto fake_runner = std::make_unique<testing::FakeRunner>(*fake_clock);
    fake_runner->script("flox build", std::move(builds));
    parts.make_lane = [clock = fake_clock.get()](exec::Runner& r, const EngineConfig&,
                                                 const Environment&) {
      return std::make_unique<testing::FakeLane>(*clock, r);
    };
    clock = fake_clock.get();
    runner = fake_runner.get();
    parts.clock = std::move(fake_clock);
    parts.runner = std::move(fake_runner);
    auto s = Service::start(std::move(*setup), std::move(parts), environ_vars);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }
  std::string state(Service& s, JobId id) {
    auto shown = s.show(id);
    return shown ? shown->job.state : shown.error().message;
  }
  void settle(Service& s, JobId id) {
    ASSERT_TRUE(clock->run_while_not([&] {
      const auto st = state(s, id);
      return st == "succeeded" || st == "failed" || st == "cancelled";
    }));
  }
};

// A job that failed before a restart is retried after it, from the store; the retry builds.
TEST_F(ServiceOnFakes, AJobThatFailedBeforeARestartIsRetriedAfterIt) {
  auto s = start({{.takes = 10min, .exit_code = 1, .output = kBuildError}});
  auto e = s->enqueue({.specs = {"cpu-avx2"}, .no_publish = true});
  ASSERT_TRUE(e) << e.error().message;
  ASSERT_EQ(e->jobs.size(), 1u);
  const JobId id = static_cast<JobId>(e->jobs[0].id);
  settle(*s, id);
  EXPECT_EQ(state(*s, id), "failed");

  s.reset();  // the daemon stops; a new one starts on the same store
  s = start({{.takes = 1h,
              .output = "Completed build of " + cpu + " in Nix expression mode\n",
              .links = {{"result-" + cpu, "/nix/store/0123-" + cpu}}}});
  ASSERT_TRUE(s->retry(id)) << "retry after a restart";
  settle(*s, id);
  EXPECT_EQ(state(*s, id), "succeeded");
  EXPECT_EQ(runner->count("flox build"), 1u);  // this service's one build
  auto shown = s->show(id);
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->attempts.size(), 2u);  // the failed build before the restart, and this one
}

}  // namespace
}  // namespace tvd::service
