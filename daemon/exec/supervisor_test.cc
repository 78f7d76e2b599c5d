// Runs under the real supervisor (tvd-run, built beside tvd): what a run that outlives its runner
// reports, and that a later runner takes it back, as tvd does across a restart.
#include "daemon/exec/supervisor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "daemon/exec/host.h"
#include "tests/support/runner_fixture.h"

namespace tvd::exec {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path kSupervisor = fs::path(TVD_BINARY_DIR) / "daemon" / "tvd-run";

TEST(SupervisorStatus, ReadsBackWhatItWrote) {
  RunResult r;
  r.ending = Ending::kSilent;
  r.signal = 15;
  r.duration = 1234ms;
  r.peak_group_rss = 5ull << 30;
  r.host_used_at_start = 7;
  r.host_peak_used = 9;
  r.output_bytes = 42;
  r.log_truncated = true;
  r.error = "two\nlines";
  auto back = parse_status(format_status(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->ending, Ending::kSilent);
  EXPECT_EQ(back->signal, 15);
  EXPECT_EQ(back->duration, 1234ms);
  EXPECT_EQ(back->peak_group_rss, 5ull << 30);
  EXPECT_EQ(back->host_peak_used, 9u);
  EXPECT_EQ(back->output_bytes, 42u);
  EXPECT_TRUE(back->log_truncated);
  EXPECT_EQ(back->error, "two lines");
  // A status cut short (no "end") or of another shape is no status.
  auto text = format_status(r);
  EXPECT_FALSE(parse_status(text.substr(0, text.size() - 4)));
  EXPECT_FALSE(parse_status("ending sideways\nexit_code 0\nsignal 0\nduration_ms 1\nend\n"));
}

class SupervisedRunTest : public testing::RunnerFixture {
 protected:
  SupervisedRunTest() {
    runner = make_process_runner(io, {.grace = 300ms, .supervisor = kSupervisor});
  }
  RunSpec supervised(std::vector<std::string> argv) {
    auto s = spec(std::move(argv));
    s.outlives_daemon = true;
    s.sample_every = 100ms;
    return s;
  }
  // Waits (running the io_context) until `out` is set, at most `limit`.
  void wait_for(const std::optional<RunResult>& out, std::chrono::seconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!out && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(50ms);
    }
  }
};

TEST_F(SupervisedRunTest, ReportsAsARunOfItsOwnWould) {
  ASSERT_TRUE(fs::exists(kSupervisor));
  EXPECT_TRUE(runner->supervises());
  auto s = supervised({"sh", "-c", "echo one; echo two >&2; exit 3"});
  const auto log = s.log;
  auto r = run(s);
  EXPECT_EQ(r.ending, Ending::kExited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(testing::read_text(log), "one\ntwo\n");
  EXPECT_EQ(r.tail, "one\ntwo\n");
  EXPECT_EQ(r.output_bytes, 8u);
  EXPECT_EQ(r.pgid, r.pid);

  auto killed = run(supervised({"sh", "-c", "echo x; kill -9 $$"}));
  EXPECT_EQ(killed.ending, Ending::kSignaled);
  EXPECT_EQ(killed.signal, SIGKILL);

  auto missing = run(supervised({(dir / "nothing").string()}));
  EXPECT_EQ(missing.ending, Ending::kFailedToStart);
  EXPECT_THAT(missing.error, HasSubstr("is not an executable file"));
}

// Run by hand from a shell, it takes a session of its own: ending what its build left behind in
// its group never reaches the shell that started it.
TEST_F(SupervisedRunTest, RunByHandItNeverEndsItsCaller) {
  const auto log = dir / "by-hand.log";
  auto r = run(spec({"sh", "-c",
                     "'" + kSupervisor.string() + "' --log '" + log.string() +
                         "' --limit 65536 --wall 0 --silence 0 --sample-ms 100 --grace-ms 100 "
                         "--exe /bin/sh -- sh -c 'sleep 30 & echo built'; echo caller-lives"}));
  EXPECT_TRUE(r.succeeded()) << r.tail;
  EXPECT_THAT(r.tail, HasSubstr("caller-lives"));
  EXPECT_EQ(testing::read_text(log), "built\n");
  EXPECT_TRUE(parse_status(testing::read_text(status_path(log))));
}

TEST_F(SupervisedRunTest, ItsOutputIsSeenAsItIsWritten) {
  std::vector<RunId> seen;
  runner->set_output_observer([&](RunId id) { seen.push_back(id); });
  auto r = run(supervised({"sh", "-c", "echo a; sleep 0.3; echo b"}));
  EXPECT_TRUE(r.succeeded());
  EXPECT_GE(seen.size(), 2u);  // each write, as it came
}

TEST_F(SupervisedRunTest, ItsTimeoutsAndACancelEndIt) {
  auto s = supervised({"sh", "-c", "echo started; sleep 30"});
  s.silence_timeout = 1s;
  auto silent = run(s);
  EXPECT_EQ(silent.ending, Ending::kSilent);
  EXPECT_LT(silent.duration, 10s);

  std::optional<RunResult> out;
  auto id = runner->start(supervised({"sh", "-c", "trap '' TERM; sleep 30 & wait; sleep 30"}),
                          [&](const RunResult& r) { out = r; });
  io.restart();
  io.run_for(300ms);
  const pid_t pgid = *runner->process_group(id);
  runner->cancel(id);
  wait_for(out);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->ending, Ending::kCancelled);
  EXPECT_TRUE(group_members(pgid).empty());  // the build ignored SIGTERM: killed after the grace
}

// The run outlives its runner (tvd stopped); a new runner takes it back while it runs, and its
// log is whole: nothing was lost while nobody watched.
TEST_F(SupervisedRunTest, ARunOutlivesItsRunnerAndIsTakenBack) {
  auto s = supervised({"sh", "-c", "for i in $(seq 1 20); do echo line $i; sleep 0.1; done"});
  const auto log = s.log;
  auto id = runner->start(s, [](const RunResult&) { ADD_FAILURE() << "the first runner is gone"; });
  io.restart();
  io.run_for(400ms);
  // Its process group is the supervisor's, as the store records it.
  const auto pgid = runner->process_group(id);
  ASSERT_TRUE(pgid);
  runner.reset();  // the first runner goes; the run does not
  io.restart();
  io.run_for(500ms);
  ASSERT_FALSE(group_members(*pgid).empty()) << "the run did not outlive its runner";
  runner = make_process_runner(io, {.grace = 300ms, .supervisor = kSupervisor});
  std::optional<RunResult> out;
  ASSERT_TRUE(runner->adopt(*pgid, log, [&](const RunResult& r) { out = r; }));
  wait_for(out);
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->succeeded()) << out->error;
  std::string want;
  for (int i = 1; i <= 20; ++i)
    want += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(testing::read_text(log), want);
  EXPECT_THAT(out->tail, HasSubstr("line 20\n"));
  EXPECT_GE(out->duration, 1500ms);  // measured by the supervisor, from the run's start

  // Taken back after it ended: its status is read at once.
  std::optional<RunResult> again;
  ASSERT_TRUE(runner->adopt(*pgid, log, [&](const RunResult& r) { again = r; }));
  wait_for(again);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->succeeded());

  // Nothing left of it (no process, no status): lost.
  std::optional<RunResult> lost;
  ASSERT_TRUE(runner->adopt(*pgid, dir / "never.log", [&](const RunResult& r) { lost = r; }));
  wait_for(lost);
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->ending, Ending::kSignaled);
  EXPECT_THAT(lost->error, HasSubstr("ended without saying how the run ended"));
}

}  // namespace
}  // namespace tvd::exec
