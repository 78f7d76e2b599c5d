// The operator's control of the queue, end to end: pause (kept across a restart), resume, drain
// (for an upgrade: what runs ends, nothing new starts, and the restart starts builds again),
// cancel of a batch and retry of its failures.
#include "tests/integration/daemon_fixture.h"
#include "tests/support/http_client.h"

using ::testing::Not;

namespace tvd::integration {
namespace {

class ControlTest : public DaemonTest {
 protected:
  std::string state_of(int64_t job) {
    auto r = tvctl({"--json", "show", std::to_string(job)});
    return json::parse(r.out, nullptr, false).value("state", "?");
  }
  // Polls until job `id` is in `state` (at most `limit`).
  bool reaches(int64_t id, const std::string& state, std::chrono::seconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (state_of(id) != state) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(100ms);
    }
    return true;
  }
  int64_t enqueue(const std::vector<std::string>& args) {
    std::vector<std::string> a = {"--json", "enqueue"};
    a.insert(a.end(), args.begin(), args.end());
    auto r = tvctl(a);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out)["jobs"][0]["id"].get<int64_t>();
  }
};

TEST_F(ControlTest, APauseStartsNothingShowsEverywhereAndOutlivesARestart) {
  start();
  auto r = tvctl({"pause"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("paused: no build starts until 'tvctl resume'"));
  const int64_t id = enqueue({"cpu-avx2"});
  // The job waits, saying why, and no build starts (the engine looks again every recheck).
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(state_of(id), "queued");
  EXPECT_EQ(calls("build "), 0u);
  json s = status();
  ASSERT_TRUE(s.contains("paused")) << s.dump();
  EXPECT_EQ(s["paused"]["mode"], "pause");
  EXPECT_EQ(s["paused"]["by"], "root");
  ASSERT_TRUE(s["waiting"].contains(std::to_string(id))) << s.dump();
  EXPECT_THAT(s["waiting"][std::to_string(id)].get<std::string>(),
              HasSubstr("paused by root since "));
  EXPECT_THAT(tvctl({"status"}).out, HasSubstr("PAUSED by root "));
  const int port = http_port();
  EXPECT_THAT(testing::http_get(port, "/queue").body, HasSubstr("<p id=\"paused\""));
  EXPECT_THAT(testing::http_get(port, "/").body, HasSubstr("Paused by root"));
  EXPECT_THAT(testing::http_get(port, "/metrics").body,
              HasSubstr("tvd_paused{mode=\"pause\"} 1\ntvd_paused{mode=\"drain\"} 0\n"));

  // Across a restart: still paused.
  EXPECT_EQ(stop(SIGTERM), 0);
  start();
  EXPECT_EQ(status()["paused"]["mode"], "pause");
  EXPECT_TRUE(log_says("no build starts until tvctl resume"));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(calls("build "), 0u);

  r = tvctl({"resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("resumed: builds start again"));
  EXPECT_TRUE(reaches(id, "succeeded"));
  EXPECT_FALSE(status().contains("paused"));
  EXPECT_THAT(testing::http_get(http_port(), "/metrics").body,
              HasSubstr("tvd_paused{mode=\"pause\"} 0\n"));
}

TEST_F(ControlTest, ADrainLetsWhatRunsEndStartsNothingAndTheRestartResumes) {
  behave(sm89, "seconds=3\n");
  start();
  const int64_t running = enqueue({"sm89-avx2"});
  ASSERT_TRUE(reaches(running, "building"));
  const pid_t drain =
      testing::spawn_logged({TVCTL_BIN, "--socket", socket.string(), "drain"}, dir / "drain.out");
  ASSERT_TRUE(log_says("draining by root"));
  const int64_t waiting = enqueue({"cpu-avx2"});
  int status_code = 0;
  ::waitpid(drain, &status_code, 0);
  const std::string said = testing::read_text(dir / "drain.out");
  ASSERT_TRUE(WIFEXITED(status_code));
  EXPECT_EQ(WEXITSTATUS(status_code), 0) << said;
  EXPECT_THAT(said, HasSubstr("draining: 1 job(s) still running"));
  EXPECT_THAT(said, HasSubstr("drained: nothing runs and nothing new starts"));
  // What ran has ended; what was queued meanwhile did not start.
  EXPECT_EQ(state_of(running), "succeeded");
  EXPECT_EQ(state_of(waiting), "queued");
  EXPECT_EQ(calls("build " + cpu), 0u);
  EXPECT_EQ(status()["paused"]["mode"], "drain");
  // The upgrade's restart: builds start again.
  EXPECT_EQ(stop(SIGTERM), 0);
  start();
  EXPECT_FALSE(status().contains("paused"));
  EXPECT_TRUE(reaches(waiting, "succeeded"));
}

TEST_F(ControlTest, ABatchIsCancelledWholeAndItsFailuresRetriedTogether) {
  behave(sm89, "seconds=30\n");
  behave(cpu, "seconds=30\n");
  start();
  auto r = tvctl({"--json", "enqueue", "--batch", "nightly", "sm89-avx2", "cpu-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int64_t batch = json::parse(r.out)["batch_id"].get<int64_t>();
  r = tvctl({"cancel", "--batch", std::to_string(batch)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto s = settle();
  for (const auto& j : s["jobs"])
    EXPECT_EQ(j["state"], "cancelled") << j.dump();
  r = tvctl({"cancel", "--batch", std::to_string(batch)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("has no queued or running job; nothing was cancelled"));
  EXPECT_EQ(tvctl({"cancel", "--batch", "99"}).exit_code, 2);  // no such batch
  EXPECT_EQ(tvctl({"cancel", "3", "--batch", "1"}).exit_code, 2);

  // A night with two failures: retried together, once fixed.
  behave(sm89, "result=fail\n");
  behave(cpu, "result=fail\n");
  r = tvctl({"--json", "enqueue", "--batch", "nightly", "--force", "sm89-avx2", "cpu-avx2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int64_t night = json::parse(r.out)["batch_id"].get<int64_t>();
  s = settle();
  behave(sm89, "result=ok\n");
  behave(cpu, "result=ok\n");
  r = tvctl({"retry", "--failed", "--batch", std::to_string(night)});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("2 retried, 0 not"));
  s = settle();
  size_t succeeded = 0;
  for (const auto& j : s["jobs"])
    succeeded += j["state"] == "succeeded";
  EXPECT_EQ(succeeded, 2u) << s.dump();
  r = tvctl({"retry", "--failed"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no failed variant; nothing was retried"));
  EXPECT_EQ(tvctl({"retry", "--batch", "1"}).exit_code, 2);
}

// Triage: any attempt's log, whole; and a follower that the daemon's restart does not lose.
TEST_F(ControlTest, LogsOfAnyAttemptWholeAndFollowedThroughARestart) {
  behave(cpu, "fail_first=1\nseconds=0.3\n");
  start();
  const int64_t id = enqueue({"cpu-avx2"});
  ASSERT_TRUE(reaches(id, "succeeded"));
  auto first = tvctl({"logs", "--attempt", "1", "--full", std::to_string(id)});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out, HasSubstr("Building torchvision-python313-cpu-avx2-0.23.0"));
  EXPECT_THAT(first.out, HasSubstr("due to signal 9 (Killed)"));  // the OOM attempt
  auto second = tvctl({"logs", "--attempt", "2", "--full", std::to_string(id)});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("Completed build of"));
  EXPECT_THAT(second.out, Not(HasSubstr("due to signal 9")));
  EXPECT_EQ(tvctl({"logs", "--attempt", "9", std::to_string(id)}).exit_code, 2);

  // Followed through a restart.
  behave(sm89, "seconds=6\n");
  const int64_t run = enqueue({"sm89-avx2"});
  ASSERT_TRUE(reaches(run, "building"));
  const pid_t follower = testing::spawn_logged(
      {TVCTL_BIN, "--socket", socket.string(), "logs", "-f", std::to_string(run)},
      dir / "follow.out");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(stop(SIGTERM), 0);
  std::this_thread::sleep_for(2500ms);
  start();
  int status_code = 0;
  for (int i = 0; i < 600 && ::waitpid(follower, &status_code, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(100ms);
  const std::string said = testing::read_text(dir / "follow.out");
  ASSERT_TRUE(WIFEXITED(status_code)) << said;
  EXPECT_EQ(WEXITSTATUS(status_code), 0) << said;
  EXPECT_THAT(said, HasSubstr("tvctl: the daemon went away; following again when it is back"));
  EXPECT_THAT(said, HasSubstr("tvctl: the daemon answers again"));
  EXPECT_THAT(said, HasSubstr("Completed build of"));  // followed to the job's end
  EXPECT_EQ(state_of(run), "succeeded");
}

// One truth about a night: each variant counted once by outcome (what it means for the matrix),
// the same in show-batch, tvctl batches, the night's page and /metrics.
TEST_F(ControlTest, ANightCountsEachVariantByOutcomeTheSameEverywhere) {
  json c = json::parse(testing::read_text(config));
  c["axes"] = {
      {"cuda", {"12.8", "13.0"}}, {"gpu_archs", {"sm61", "sm89"}}, {"cpu_isas", {"avx2", "armv9"}}};
  c["builders"] = {{"local", {{"systems", {"x86_64-linux"}}}}, {"machines_file", "no-machines"}};
  testing::write_text(config, c.dump());
  const std::string sm61 = "torchvision-python313-cuda12_8-sm61-avx2";
  behave(sm61, "result=fail\n");
  behave(sm89, "result=fail\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "--all", "--batch", "nightly"}).exit_code, 0);
  settle();
  // The second night: the two failures are unchanged, so they are not rebuilt.
  auto r = tvctl({"--json", "enqueue", "--all", "--batch", "nightly"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int64_t night = json::parse(r.out)["batch_id"].get<int64_t>();
  settle();

  const json expected = {
      {"excluded", 5}, {"no-builder", 2}, {"still-failing", 2}, {"succeeded", 1}};
  const json shown = json::parse(tvctl({"--json", "show-batch", std::to_string(night)}).out);
  EXPECT_EQ(shown["variants_by_outcome"], expected) << shown.dump();
  EXPECT_EQ(shown["skip_reasons"][sm61], "still-failing");
  EXPECT_EQ(shown["skip_reasons"]["torchvision-python313-cpu-armv9"], "no-builder");
  const json listed = json::parse(tvctl({"--json", "batches"}).out);
  EXPECT_EQ(listed["batches"][0]["variants_by_outcome"], expected);
  EXPECT_THAT(tvctl({"batches"}).out,
              HasSubstr("5 excluded, 2 no-builder, 2 still-failing, 1 succeeded"));
  const int port = http_port();
  const std::string page = testing::http_get(port, "/nights/" + std::to_string(night)).body;
  EXPECT_THAT(page, HasSubstr("<td id=\"outcomes\">5 excluded, 2 no-builder, 2 still-failing, "
                              "1 succeeded</td>"));
  EXPECT_THAT(page, HasSubstr("Still failing (not rebuilt: unchanged since it failed) (2)"));
  EXPECT_THAT(page, HasSubstr("Newly failing (0)"));
  size_t rows = 0;
  for (size_t at = page.find("data-variant="); at != std::string::npos;
       at = page.find("data-variant=", at + 1))
    ++rows;
  EXPECT_EQ(rows, 10u);  // every cell of the matrix, once
  EXPECT_THAT(testing::http_get(port, "/nights").body,
              HasSubstr("<a href=\"/nights/" + std::to_string(night) + "\">"));
  EXPECT_EQ(testing::http_get(port, "/nights/999").status, 404);
  const std::string m = testing::http_get(port, "/metrics").body;
  EXPECT_THAT(m, HasSubstr("tvd_nightly_last_skipped{reason=\"still-failing\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("tvd_nightly_last_skipped{reason=\"excluded\"} 5\n"));
  EXPECT_THAT(m, HasSubstr("tvd_nightly_last_skipped{reason=\"no-builder\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("tvd_nightly_last_jobs{state=\"succeeded\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("tvd_nightly_last_jobs{state=\"failed\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("tvd_variants_failing{environment=\"default\",phase=\"build\"} 2\n"));
}

}  // namespace
}  // namespace tvd::integration
