// The real runner against real children: shells and the project's fake flox.
#include "daemon/exec/process_runner.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>

#include "tests/support/runner_fixture.h"

namespace tvd::exec {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using ProcessRunnerTest = testing::RunnerFixture;

TEST_F(ProcessRunnerTest, InterleavesStdoutAndStderrIntoTheLog) {
  auto s = spec({"sh", "-c", "echo one; echo two >&2; echo three"});
  auto log = s.log;
  auto r = run(s);
  ASSERT_TRUE(r.succeeded()) << r.error;
  EXPECT_EQ(testing::read_text(log), "one\ntwo\nthree\n");
  EXPECT_EQ(r.tail, "one\ntwo\nthree\n");
  EXPECT_GT(r.pid, 0);
  EXPECT_EQ(r.pgid, r.pid);  // a process group of its own
}

TEST_F(ProcessRunnerTest, ExitCodesAndSignalsAreTold) {
  auto fail = run(spec({"sh", "-c", "exit 3"}));
  EXPECT_EQ(fail.ending, Ending::kExited);
  EXPECT_EQ(fail.exit_code, 3);
  auto killed = run(spec({"sh", "-c", "kill -9 $$"}));
  EXPECT_EQ(killed.ending, Ending::kSignaled);
  EXPECT_EQ(killed.signal, SIGKILL);
}

TEST_F(ProcessRunnerTest, AMissingExecutableSaysWhereItLooked) {
  auto r = run(spec({"no-such-flox", "build"}));
  EXPECT_EQ(r.ending, Ending::kFailedToStart);
  EXPECT_THAT(r.error,
              HasSubstr("cannot find 'no-such-flox' in PATH (/usr/local/bin:/usr/bin:/bin)"));
  auto notexec = run(spec({(dir / "nothing").string()}));
  EXPECT_THAT(notexec.error, HasSubstr("is not an executable file"));
}

TEST_F(ProcessRunnerTest, TheChildGetsOnlyItsEnvironmentNoDescriptorsAndNoStdin) {
  ::setenv("TVD_TEST_SECRET", "hunter2", 1);
  int leaked = ::open("/etc/hostname", O_RDONLY);  // not close-on-exec
  auto s = spec({"sh", "-c",
                 "env; ls /proc/$$/fd | tr '\\n' ' '; echo; cat; echo stdin-done; "
                 "echo session=$(cut -d' ' -f6 /proc/$$/stat) pid=$$"});
  auto log = s.log;
  auto r = run(s);
  ::close(leaked);
  ::unsetenv("TVD_TEST_SECRET");
  ASSERT_TRUE(r.succeeded());
  std::string out = testing::read_text(log);
  EXPECT_THAT(out, Not(HasSubstr("hunter2")));
  EXPECT_THAT(out, HasSubstr("FAKE_FLOX_PLAN="));
  EXPECT_THAT(out, HasSubstr("\n0 1 2 \n"));  // the shell holds stdin, stdout, stderr only
  EXPECT_THAT(out, HasSubstr("stdin-done"));  // cat read /dev/null and ended
                                              // A session of its own, so no controlling terminal
                                              // can reach it: its session id is its pid.
  auto at = out.find("session=");
  ASSERT_NE(at, std::string::npos);
  std::string session = out.substr(at + 8, out.find(' ', at) - at - 8);
  EXPECT_EQ(session, std::to_string(r.pid));
}

// A run may be given a file as its stdin (a notification's JSON, daemon/notify/).
TEST_F(ProcessRunnerTest, AStdinFileIsTheChildsStdin) {
  testing::write_text(dir / "event.json", "{\"kind\": \"job_failed\"}\n");
  auto s = spec({"sh", "-c", "echo got: $(cat)"});
  s.stdin_file = dir / "event.json";
  auto log = s.log;
  auto r = run(s);
  ASSERT_TRUE(r.succeeded()) << r.error;
  EXPECT_EQ(testing::read_text(log), "got: {\"kind\": \"job_failed\"}\n");
}

// An executable file that cannot be executed (its interpreter is missing): the run fails with
// the reason, and the runner goes on. (It once called an empty callback and took the daemon down.)
TEST_F(ProcessRunnerTest, AChildThatCannotExecFailsItsRunNotTheRunner) {
  testing::write_text(dir / "broken-flox", "#!/nonexistent/interpreter\n");
  fs::permissions(dir / "broken-flox", fs::perms::owner_all);
  auto r = run(spec({(dir / "broken-flox").string(), "build"}));
  EXPECT_EQ(r.ending, Ending::kFailedToStart);
  EXPECT_THAT(r.error, HasSubstr("cannot execute " + (dir / "broken-flox").string()));
  auto ok = run(spec({"sh", "-c", "echo still here"}));
  EXPECT_TRUE(ok.succeeded());
}

TEST_F(ProcessRunnerTest, AWallClockLimitKillsTheGroup) {
  auto s = spec({"sh", "-c", "sleep 30"});
  s.wall_timeout = 1s;
  auto r = run(s);
  EXPECT_EQ(r.ending, Ending::kTimedOut);
  EXPECT_LT(r.duration, 10s);
}

TEST_F(ProcessRunnerTest, ASilenceLimitKillsAQuietBuild) {
  recipe("quiet");
  behave("quiet", "result=silent\n");
  auto s = flox({"build", "-d", env_dir.string(), "quiet"});
  s.silence_timeout = 1s;
  auto r = run(s);
  EXPECT_EQ(r.ending, Ending::kSilent);
}

TEST_F(ProcessRunnerTest, CancelKillsGrandchildren) {
  recipe("stuck");
  behave("stuck", "result=hang\ngrandchild=1\n");
  std::optional<RunResult> out;
  RunId id = runner->start(flox({"build", "-d", env_dir.string(), "stuck"}),
                           [&](const RunResult& r) { out = r; });
  boost::asio::steady_timer t(io, 700ms);
  t.async_wait([&](auto) { runner->cancel(id); });
  io.run_for(30s);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->ending, Ending::kCancelled);
  pid_t grandchild = std::stoi(testing::read_text(plan / "stuck.grandchild"));
  EXPECT_FALSE(testing::process_alive(grandchild)) << "grandchild " << grandchild << " survived";
  EXPECT_FALSE(runner->process_group(id));
}

TEST_F(ProcessRunnerTest, NoOrphanOutlivesASuccessfulBuild) {
  recipe("leaves-one");
  behave("leaves-one", "grandchild=1\n");
  auto r = run(flox({"build", "-d", env_dir.string(), "leaves-one"}));
  EXPECT_TRUE(r.succeeded()) << r.tail;
  pid_t grandchild = std::stoi(testing::read_text(plan / "leaves-one.grandchild"));
  EXPECT_FALSE(testing::process_alive(grandchild));
  EXPECT_TRUE(fs::is_symlink(env_dir / "result-leaves-one"));
  EXPECT_TRUE(fs::is_symlink(env_dir / "result-leaves-one-log"));
}

TEST_F(ProcessRunnerTest, HugeOutputIsDrainedAndTheLogBounded) {
  recipe("chatty");
  behave("chatty", "output_mb=40\n");
  auto s = flox({"build", "-d", env_dir.string(), "chatty"});
  s.log_limit = 1 << 20;
  auto log = s.log;
  auto r = run(s);
  ASSERT_TRUE(r.succeeded()) << r.error;
  EXPECT_GT(r.output_bytes, 40u << 20);
  EXPECT_TRUE(r.log_truncated);
  EXPECT_LT(fs::file_size(log), (1u << 20) + 1024);
  std::string text = testing::read_text(log);
  EXPECT_THAT(text, HasSubstr("bytes of output were left out here"));
  EXPECT_THAT(text, HasSubstr("Completed build of chatty"));
  EXPECT_THAT(text.substr(0, 200), HasSubstr("Building chatty-0.23.0 in Nix expression mode"));
}

TEST_F(ProcessRunnerTest, MemoryOfTheProcessGroupIsSampled) {
  recipe("hungry");
  behave("hungry", "alloc_mb=200\nseconds=1.5\n");
  auto s = flox({"build", "-d", env_dir.string(), "hungry"});
  s.sample_every = 100ms;
  auto r = run(s);
  ASSERT_TRUE(r.succeeded()) << r.tail;
  EXPECT_GT(r.peak_group_rss, 150u << 20);
  EXPECT_LT(r.peak_group_rss, 600u << 20);
  EXPECT_GE(r.host_peak_used, r.host_used_at_start);
}
}  // namespace
}  // namespace tvd::exec
