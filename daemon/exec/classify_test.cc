#include "daemon/exec/classify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

namespace tvd::exec {
namespace {

using ::testing::HasSubstr;

RunResult exited(int code, std::string tail) {
  RunResult r;
  r.ending = Ending::kExited;
  r.exit_code = code;
  r.tail = std::move(tail);
  return r;
}

TEST(Classify, ReadsTheNativeStatusFirst) {
  RunResult killed;
  killed.ending = Ending::kSignaled;
  killed.signal = SIGKILL;
  auto v = classify(killed, Phase::kBuild);
  EXPECT_EQ(v.failure, Failure::kOutOfMemory);
  EXPECT_TRUE(v.transient);
  EXPECT_THAT(v.reason, HasSubstr("SIGKILL"));

  RunResult segv;
  segv.ending = Ending::kSignaled;
  segv.signal = SIGSEGV;
  EXPECT_THAT(classify(segv, Phase::kBuild).reason, HasSubstr("SIGSEGV"));

  RunResult timeout;
  timeout.ending = Ending::kTimedOut;
  EXPECT_TRUE(classify(timeout, Phase::kBuild).transient);
  EXPECT_EQ(classify(exited(0, ""), Phase::kBuild).failure, Failure::kNone);
}

TEST(Classify, ReadsTheLogTail) {
  struct Case {
    const char* tail;
    Failure failure;
    bool transient;
  } cases[] = {
      {"❌ ERROR: '.flox/pkgs/x.nix' does not appear to be tracked by git\n", Failure::kNotTracked,
       false},
      {"cc1plus: out of memory allocating 65536 bytes\nerror: builder for 'x' failed due to signal "
       "9 (Killed)\n",
       Failure::kOutOfMemory, true},
      {"error: unable to download 'https://cache.nixos.org/x': Could not resolve host\n",
       Failure::kNetwork, true},
      {"❌ ERROR: a build of 'x' is already running in this environment\n", Failure::kCollision,
       true},
      {"error: undefined variable 'pytorch'\n       at x.nix:22:19\n", Failure::kEvaluation, false},
      {"error: builder for '/nix/store/x.drv' failed with exit code 2;\n", Failure::kBuildError,
       false},
      {"❌ ERROR: You are not logged in to FloxHub.\n", Failure::kNotLoggedIn, false},
      {"something odd\n", Failure::kUnknown, false},
  };
  for (const auto& c : cases) {
    auto v = classify(exited(1, c.tail), Phase::kBuild);
    EXPECT_EQ(v.failure, c.failure) << c.tail;
    EXPECT_EQ(v.transient, c.transient) << c.tail;
  }
  auto p = classify(exited(1, "❌ ERROR: HEAD is not pushed to its upstream\n"), Phase::kPublish);
  EXPECT_EQ(p.failure, Failure::kPublishPrecondition);
  EXPECT_THAT(p.reason, HasSubstr("HEAD is not pushed"));
}

TEST(Classify, TheTellingLineIsTheLastError) {
  EXPECT_EQ(telling_line("a\nerror: first\nb\nerror: second\nc\n"), "error: second");
  EXPECT_EQ(telling_line("a\nlast words\n\n"), "last words");
}

}  // namespace
}  // namespace tvd::exec
