// Crashes of the real daemon (kill -9 at random moments, during builds, publishes and git
// pushes) and what the next start recovers: nothing lost, nothing done twice.
#include "tests/integration/daemon_fixture.h"

namespace tvd::integration {
namespace {

class RecoveryTest : public DaemonTest {};

// kill -9 at random moments while outputs are being published (each publish takes 0.6 s): no
// output is published twice. A publish cut short is tried again at the same HEAD (the recipes
// were all committed before), where flox's own HEAD-keyed check answers "already published" if
// the upload had finished; tvd's record of published outputs covers the rest.
TEST_F(RecoveryTest, KillsDuringPublishesPublishNothingTwice) {
  const std::vector<std::string> specs = {"sm90-avx2", "sm90-avx512", "sm90-armv9",
                                          "cpu-avx2",  "sm89-avx2",   "sm86-avx2"};
  for (const auto& spec : specs) {
    const std::string pkg = spec.rfind("cpu-", 0) == 0 ? "torchvision-python313-" + spec
                                                       : "torchvision-python313-cuda12_8-" + spec;
    behave(pkg, "seconds=0.1\n");
    testing::write_text(plan / (pkg + ".publish"), "seconds=0.6\n");
  }
  start();
  std::vector<std::string> args = {"enqueue"};
  args.insert(args.end(), specs.begin(), specs.end());
  ASSERT_EQ(tvctl(args).exit_code, 0);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> ms(100, 900);
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms(rng)));
    stop(SIGKILL);
    start();
  }
  auto s = settle(180s);
  ASSERT_EQ(s["jobs"].size(), specs.size());
  int started = 0;  // publishes begun, the ones a kill cut short among them
  for (const auto& j : s["jobs"]) {
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
    const std::string pkg = j["package"];
    EXPECT_EQ(calls("publish acme " + pkg + " "), 1u) << pkg;
    started += std::stoi(testing::read_text(plan / (pkg + ".publish-attempts")));
  }
  RecordProperty("publishes_started", started);
  std::cout << "publishes started: " << started << " for " << specs.size() << " outputs\n";
}

// kill -9 of the daemon while `git push` runs (here: a slow pre-receive hook upstream) used to
// leave that git running after the restart, alongside the new one's. The restart ends it, and
// the job then pushes and publishes.
TEST_F(RecoveryTest, AGitACrashLeftRunningIsEndedByTheRestart) {
  const fs::path hook = dir / "upstream.git" / "hooks" / "pre-receive";
  testing::write_text(hook, "#!/bin/sh\necho $$ > '" + (plan / "hook.pid").string() +
                                "'\nif [ -e '" + (plan / "slow").string() +
                                "' ]; then sleep 300; fi\nexit 0\n");
  fs::permissions(hook, fs::perms::owner_all);
  testing::write_text(plan / "slow", "");
  start();
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  for (int i = 0; i < 200 && !fs::exists(plan / "hook.pid"); ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(fs::exists(plan / "hook.pid")) << testing::read_text(dir / "serve.log");
  std::this_thread::sleep_for(200ms);
  const pid_t pushing = std::stoi(testing::read_text(plan / "hook.pid"));
  ASSERT_TRUE(testing::process_alive(pushing));
  stop(SIGKILL);
  EXPECT_TRUE(testing::process_alive(pushing));  // the crash left it running
  fs::remove(plan / "slow");
  start();
  bool ended = false;
  for (int i = 0; i < 100 && !ended; ++i) {
    ended = !testing::process_alive(pushing);
    if (!ended) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(ended) << "the git push of the crashed run is still running";
  EXPECT_THAT(testing::read_text(dir / "serve.log"), HasSubstr("killed git left running"));
  auto s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded") << s.dump();
  EXPECT_EQ(calls("publish acme " + cpu), 1u);
}

// kill -9 the daemon at random moments during builds and publishes, restart it, 20 times: every
// job ends succeeded, each variant is published exactly once, and the database is intact.
TEST_F(RecoveryTest, CrashesLoseAndRepeatNothing) {
  for (const char* isa : {"avx2", "avx512", "armv9"}) {
    behave(std::string("torchvision-python313-cuda12_8-sm90-") + isa, "seconds=0.6\n");
  }
  behave(cpu, "seconds=0.4\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "sm90-avx2", "sm90-avx512", "sm90-armv9", "cpu-avx2"}).exit_code, 0);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> ms(50, 700);
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms(rng)));
    stop(SIGKILL);
    start();
  }
  auto s = settle(120s);
  ASSERT_EQ(s["jobs"].size(), 4u);
  for (const auto& j : s["jobs"]) {
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
    EXPECT_EQ(calls("publish acme " + j["package"].get<std::string>()), 1u) << j["package"];
  }
  stop(SIGTERM);
  auto store = store::Store::open(dir / "state" / "tvd.db").value();
  EXPECT_EQ(store.integrity_check().value(), "ok");
}

}  // namespace
}  // namespace tvd::integration
