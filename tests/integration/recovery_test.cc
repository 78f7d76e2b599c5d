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

// A restart of the daemon with three builds running (an upgrade's, or `systemctl restart tvd`)
// costs them nothing: each runs on under tvd-run, the next tvd takes it back as it runs, its log
// goes on without a gap or a repeat, nothing is built twice, and a `logs -f` and a `watch`
// started before the restart are still attached after it.
TEST_F(RecoveryTest, ARestartWithThreeBuildsRunningCostsThemNothing) {
  const std::vector<std::string> pkgs = {sm89, "torchvision-python313-cuda12_8-sm90-avx2",
                                         "torchvision-python313-cuda12_8-sm90-avx512"};
  for (const auto& p : pkgs)
    behave(p, "seconds=6\ntick=0.1\n");  // 60 numbered lines each, one every 0.1 s
  start();
  ASSERT_EQ(tvctl({"enqueue", "sm89-avx2", "sm90-avx2", "sm90-avx512"}).exit_code, 0);
  json s;
  for (int i = 0; i < 300; ++i) {
    s = status();
    size_t building = 0;
    for (const auto& j : s["jobs"])
      building += j["state"] == "building";
    if (building == 3) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(s["jobs"].size(), 3u) << s.dump();
  const int64_t followed = s["jobs"][0]["id"].get<int64_t>();
  const pid_t follower = testing::spawn_logged(
      {TVCTL_BIN, "--socket", socket.string(), "logs", "-f", std::to_string(followed)},
      dir / "follow.out");
  const pid_t watcher = testing::spawn_logged(
      {TVCTL_BIN, "--socket", socket.string(), "watch", "--interval", "0.3"}, dir / "watch.out");
  struct Reap {  // whatever an assertion cuts short, neither client outlives the test
    pid_t a, b;
    ~Reap() {
      for (pid_t p : {a, b}) {
        if (p > 0 && ::kill(p, SIGKILL) == 0) ::waitpid(p, nullptr, 0);
      }
    }
  } reap{follower, watcher};
  std::this_thread::sleep_for(1500ms);

  EXPECT_EQ(stop(SIGTERM), 0);
  EXPECT_THAT(testing::read_text(dir / "serve.log"),
              HasSubstr("3 build(s) run on; the next start of tvd takes them back"));
  std::this_thread::sleep_for(1000ms);  // the builds go on without a daemon
  start();
  EXPECT_TRUE(log_says("taken back"));

  s = settle(60s);
  ASSERT_EQ(s["jobs"].size(), 3u);
  for (const auto& j : s["jobs"]) {
    EXPECT_EQ(j["state"], "succeeded") << j.dump();
    auto shown = json::parse(tvctl({"--json", "show", std::to_string(j["id"].get<int64_t>())}).out,
                             nullptr, false);
    // One build attempt, never restarted: the one that ran through the restart.
    size_t builds = 0;
    for (const auto& a : shown["attempts"])
      builds += a["phase"] == "build";
    EXPECT_EQ(builds, 1u) << shown.dump();
  }
  for (const auto& p : pkgs) {
    EXPECT_EQ(calls("build " + p), 1u) << p << " was built again";
    EXPECT_EQ(testing::read_text(plan / (p + ".attempts")), "1\n") << p;
  }
  // Each log whole: every compile line once, in order, and the end flox prints.
  for (const auto& j : s["jobs"]) {
    auto log = tvctl({"logs", "--attempt", "1", "--full", std::to_string(j["id"].get<int64_t>())});
    ASSERT_EQ(log.exit_code, 0) << log.err;
    size_t at = 0;
    for (int line = 1; line <= 60; ++line) {
      const std::string want = "[" + std::to_string(line) + "/60] Building";
      const size_t found = log.out.find(want, at);
      ASSERT_NE(found, std::string::npos) << want << " missing or out of order in\n" << log.out;
      EXPECT_EQ(log.out.find(want, found + 1), std::string::npos) << want << " twice";
      at = found;
    }
    EXPECT_THAT(log.out, HasSubstr("Completed build of"));
  }

  // The follower went on where it was, to the job's end: every line once.
  int code = 0;
  for (int i = 0; i < 600 && reap.a > 0; ++i) {
    if (::waitpid(follower, &code, WNOHANG) == follower) {
      reap.a = -1;  // reaped
    } else {
      std::this_thread::sleep_for(100ms);
    }
  }
  ASSERT_EQ(reap.a, -1) << "logs -f did not end with the job";
  const std::string followed_out = testing::read_text(dir / "follow.out");
  ASSERT_TRUE(WIFEXITED(code)) << followed_out;
  EXPECT_EQ(WEXITSTATUS(code), 0) << followed_out;
  EXPECT_THAT(followed_out, HasSubstr("tvctl: the daemon answers again"));
  for (int line = 1; line <= 60; ++line) {
    const std::string want = "[" + std::to_string(line) + "/60] Building";
    const size_t found = followed_out.find(want);
    EXPECT_NE(found, std::string::npos) << want;
    if (found != std::string::npos) {
      EXPECT_EQ(followed_out.find(want, found + 1), std::string::npos) << want << " twice";
    }
  }
  EXPECT_THAT(followed_out, HasSubstr("Completed build of"));
  // The watcher is still drawing, and saw the builds end after the restart.
  std::this_thread::sleep_for(700ms);
  ::kill(watcher, SIGINT);
  ::waitpid(watcher, &code, 0);
  reap.b = -1;
  const std::string watched = testing::read_text(dir / "watch.out");
  EXPECT_THAT(watched, HasSubstr("the daemon answers again"));
  const std::string after = watched.substr(watched.rfind("the daemon answers again"));
  EXPECT_THAT(after, HasSubstr("succeeded")) << watched;
  stop(SIGTERM);
  // Each job's whole story: one build started, never requeued or retried by the restart, then
  // its publish.
  auto store = store::Store::open(dir / "state" / "tvd.db").value();
  std::map<int64_t, std::vector<std::string>> stories;
  const auto events = store.events_after(0, 1000).value();
  for (const auto& e : events)
    stories[e.job_id].push_back(describe(e.change));
  ASSERT_EQ(stories.size(), 3u);
  for (const auto& [job, story] : stories) {
    EXPECT_THAT(story,
                ::testing::ElementsAre("queued ->queued recipe", "started queued>building build",
                                       "started building>publishing publish",
                                       "succeeded publishing>succeeded publish"))
        << "job " << job;
  }
}

}  // namespace
}  // namespace tvd::integration
