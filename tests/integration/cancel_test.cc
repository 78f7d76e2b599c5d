// A cancel is a cancel, end to end: the real daemon, real git (a repository hook that takes its
// time), the fake flox. Cancelled during its recipe commit, its build or its publish, a job's
// recorded events are its states up to "cancelled", and nothing anywhere (events, the job, its
// attempts, /metrics, the batch's record) says it failed.
#include "tests/integration/daemon_fixture.h"
#include "tests/support/http_client.h"

namespace tvd::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::Not;

class CancelTest : public DaemonTest {
 protected:
  // Waits until `ready()` holds (polling every 50 ms, up to 30 s).
  void wait_for(const std::function<bool()>& ready, const std::string& what) {
    for (int i = 0; i < 600; ++i) {
      if (ready()) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "never: " << what << "\n" << testing::read_text(dir / "serve.log");
  }
  // Enqueues cpu-avx2 in a batch, cancels it once `ready()` holds, and checks that nothing but a
  // cancel was recorded; returns the job's events as "kind from>to phase".
  std::vector<std::string> cancel_when(const std::function<bool()>& ready,
                                       const std::string& what) {
    start();
    auto r = tvctl({"--json", "enqueue", "--batch", "nightly", "cpu-avx2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    wait_for(ready, what);
    EXPECT_EQ(tvctl({"cancel", "1"}).exit_code, 0);
    auto s = settle();
    EXPECT_EQ(s["jobs"][0]["state"], "cancelled");
    EXPECT_FALSE(s["jobs"][0].contains("failure")) << s.dump();

    // The batch's record counts a cancel, not a failure.
    auto night = json::parse(tvctl({"--json", "show-batch", "1"}).out);
    EXPECT_EQ(night["states"]["cancelled"], 1) << night.dump();
    EXPECT_FALSE(night["states"].contains("failed")) << night.dump();
    // /metrics: no failure counted, no failed attempt's duration, one cancelled job.
    auto m = testing::http_get(http_port(), "/metrics");
    EXPECT_EQ(m.status, 200);
    EXPECT_THAT(m.body, Not(::testing::ContainsRegex("tvd_failures_total\\{[^}]*\\} [1-9]")));
    EXPECT_THAT(m.body, Not(HasSubstr("reason=\"cancelled\"")));
    EXPECT_THAT(m.body,
                HasSubstr("tvd_failures_total{phase=\"build\",reason=\"out-of-memory\"} 0\n"));
    EXPECT_THAT(m.body, Not(HasSubstr("outcome=\"failed\"")));
    EXPECT_THAT(m.body, HasSubstr("tvd_jobs{environment=\"default\",state=\"failed\"} 0\n"));
    EXPECT_THAT(m.body, HasSubstr("tvd_jobs{environment=\"default\",state=\"cancelled\"} 1\n"));
    EXPECT_EQ(stop(SIGTERM), 0);

    auto store = store::Store::open(dir / "state" / "tvd.db").value();
    const auto attempts = store.attempts(1).value();
    for (const auto& a : attempts) {
      EXPECT_NE(a.outcome, proto::AttemptOutcome::kFailed) << a.reason;
      EXPECT_NE(a.failure, proto::Failure::kCancelled);
    }
    EXPECT_EQ(store.job(1).value()->failure, proto::Failure::kNone);
    std::vector<std::string> story;
    const auto events = store.events_after(0, 100).value();
    for (const auto& e : events) {
      EXPECT_EQ(e.change.failure, proto::Failure::kNone);
      story.push_back(describe(e.change));
    }
    return story;
  }
};

TEST_F(CancelTest, DuringASlowRecipeCommit) {
  // The repository's own pre-commit hook takes 3 s: the commit is running when the cancel comes.
  const fs::path hook = env_dir / ".git" / "hooks" / "pre-commit";
  testing::write_text(hook, "#!/bin/sh\ntouch '" + (dir / "committing").string() + "'\nsleep 3\n");
  fs::permissions(hook, fs::perms::owner_all);
  auto story =
      cancel_when([&] { return fs::exists(dir / "committing"); }, "the recipe commit started");
  // Its recipe commit happens while it is queued: it never started building.
  EXPECT_THAT(story, ElementsAre("queued ->queued recipe", "cancelled queued>cancelled recipe"));
  EXPECT_EQ(calls("build "), 0u);
}

TEST_F(CancelTest, DuringABuild) {
  behave(cpu, "result=hang\n");
  auto story = cancel_when([&] { return calls("build ") > 0; }, "the build started");
  EXPECT_THAT(story, ElementsAre("queued ->queued recipe", "started queued>building build",
                                 "cancelled building>cancelled build"));
}

TEST_F(CancelTest, DuringAPublish) {
  testing::write_text(plan / (cpu + ".publish"), "seconds=30\n");
  // The fake flox counts a publish's tries as it starts uploading.
  auto story = cancel_when([&] { return fs::exists(plan / (cpu + ".publish-attempts")); },
                           "the publish started");
  EXPECT_THAT(story, ElementsAre("queued ->queued recipe", "started queued>building build",
                                 "started building>publishing publish",
                                 "cancelled publishing>cancelled publish"));
  EXPECT_EQ(calls("publish "), 0u);  // nothing was published
}

}  // namespace
}  // namespace tvd::integration
