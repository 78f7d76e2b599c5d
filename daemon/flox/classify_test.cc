#include "daemon/flox/classify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

namespace tvd::flox {
namespace {

using exec::Ending;
using exec::RunResult;

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
      {"✘ ERROR: '.flox/pkgs/x.nix' does not appear to be tracked by git\n", Failure::kNotTracked,
       false},
      {"cc1plus: out of memory allocating 65536 bytes\nerror: builder for 'x' failed due to signal "
       "9 (Killed)\n",
       Failure::kOutOfMemory, true},
      {"error: unable to download 'https://cache.nixos.org/x': Could not resolve host\n",
       Failure::kNetwork, true},
      {"✘ ERROR: a build of 'x' is already running in this environment\n", Failure::kCollision,
       true},
      {"error: undefined variable 'pytorch'\n       at x.nix:22:19\n", Failure::kEvaluation, false},
      {"error: builder for '/nix/store/x.drv' failed with exit code 2;\n", Failure::kBuildError,
       false},
      {"✘ ERROR: You are not logged in to FloxHub.\n", Failure::kNotLoggedIn, false},
      {"something odd\n", Failure::kUnknown, false},
  };
  for (const auto& c : cases) {
    auto v = classify(exited(1, c.tail), Phase::kBuild);
    EXPECT_EQ(v.failure, c.failure) << c.tail;
    EXPECT_EQ(v.transient, c.transient) << c.tail;
  }
  auto p = classify(exited(1, "✘ ERROR: HEAD is not pushed to its upstream\n"), Phase::kPublish);
  EXPECT_EQ(p.failure, Failure::kPublishPrecondition);
  EXPECT_THAT(p.reason, HasSubstr("HEAD is not pushed"));
}

// What tests/support/fake-flox prints, as flox 1.14.1 and Nix 2.31 do: the login warning first
// (no credentials), Nix's lines, flox's "✘ ERROR: Build failed" last.
const char* kWarning = "! You are not logged in to FloxHub. Run 'flox auth login' to log in.\n";
const char* kCompilerFailure =
    "torch> [1/2] Building CXX object caffe2/CMakeFiles/torch_cpu.dir/op_1.cpp.o\n"
    "torch> torch/csrc/Module.cpp:42:7: error: 'class at::Tensor' has no member named "
    "'frobnicate'\n"
    "torch> ninja: build stopped: subcommand failed.\n"
    "error: Cannot build '/nix/store/0abc-torch-2.8.0.drv'.\n"
    "       Reason: builder failed with exit code 2.\n"
    "       Output paths:\n"
    "         /nix/store/0abc-torch-2.8.0\n"
    "       Last 2 log lines:\n"
    "       > torch/csrc/Module.cpp:42:7: error: 'class at::Tensor' has no member named "
    "'frobnicate'\n"
    "       > ninja: build stopped: subcommand failed.\n"
    "error: Cannot build '/nix/store/0abc-torchvision-python313-cpu-avx2-0.23.0.drv'.\n"
    "       Reason: 1 dependency failed.\n"
    "✘ ERROR: Build failed\n";
const char* kOom =
    "error: Cannot build '/nix/store/0abc-torch-2.8.0.drv'.\n"
    "       Reason: builder failed due to signal 9 (Killed).\n"
    "error: Cannot build '/nix/store/0abc-torchvision-x-0.23.0.drv'.\n"
    "       Reason: 1 dependency failed.\n"
    "✘ ERROR: Build failed\n";
const char* kEvaluation =
    "error:\n"
    "       … while calling the 'derivationStrict' builtin\n"
    "\n"
    "       error: attribute 'torchvison' missing\n"
    "       at /env/.flox/pkgs/x.nix:52:4:\n"
    "✘ ERROR: Build failed\n";

TEST(Classify, TheReasonIsNixsOwnNeverFloxsClosingLine) {
  auto build = classify(exited(1, std::string(kWarning) + kCompilerFailure), Phase::kBuild);
  EXPECT_EQ(build.failure, Failure::kBuildError);
  EXPECT_FALSE(build.transient);
  EXPECT_EQ(build.reason,
            "torch-2.8.0: builder failed with exit code 2 (torch/csrc/Module.cpp:42:7: error: "
            "'class at::Tensor' has no member named 'frobnicate')");

  auto oom = classify(exited(1, std::string(kWarning) + kOom), Phase::kBuild);
  EXPECT_EQ(oom.failure, Failure::kOutOfMemory);
  EXPECT_TRUE(oom.transient);
  EXPECT_THAT(oom.reason, HasSubstr("torch-2.8.0: builder failed due to signal 9 (Killed)"));

  auto eval = classify(exited(1, std::string(kWarning) + kEvaluation), Phase::kBuild);
  EXPECT_EQ(eval.failure, Failure::kEvaluation);
  EXPECT_EQ(eval.reason,
            "the recipe does not evaluate: attribute 'torchvison' missing at "
            "/env/.flox/pkgs/x.nix:52:4");
  for (const auto* v : {&build, &oom, &eval})
    EXPECT_THAT(v->reason, ::testing::Not(HasSubstr("Build failed")));
}

TEST(Classify, CatalogAndPrefetchFailuresAreTransient) {
  auto catalog = classify(
      exited(1, std::string(kWarning) +
                    "✘ ERROR: Failed to get the base catalog page: error sending request for url "
                    "(https://api.flox.dev/api/v1/catalog/resolve): client error (Connect)\n"),
      Phase::kBuild);
  EXPECT_EQ(catalog.failure, Failure::kNetwork);
  EXPECT_TRUE(catalog.transient);
  EXPECT_THAT(catalog.reason, HasSubstr("api.flox.dev"));
  auto prefetch = classify(
      exited(1,
             std::string(kWarning) +
                 "error: unable to download 'https://github.com/NixOS/nixpkgs/archive/x.tar.gz': "
                 "Couldn't resolve host name (6)\n✘ ERROR: Build failed\n"),
      Phase::kBuild);
  EXPECT_EQ(prefetch.failure, Failure::kNetwork);
  EXPECT_TRUE(prefetch.transient);
  EXPECT_THAT(prefetch.reason, HasSubstr("Couldn't resolve host name"));
}

// The warning every command prints without credentials never decides the class; flox's own
// error does.
TEST(Classify, TheLoginWarningIsNoise) {
  auto short_failure =
      classify(exited(1, std::string(kWarning) + "✘ ERROR: Build failed\n"), Phase::kBuild);
  EXPECT_NE(short_failure.failure, Failure::kNotLoggedIn);
  auto publish = classify(
      exited(1, std::string(kWarning) + "✘ ERROR: You are not logged in to FloxHub.\n\nTo login "
                                        "you can either\n* login to FloxHub with 'flox auth "
                                        "login',\n"),
      Phase::kPublish);
  EXPECT_EQ(publish.failure, Failure::kNotLoggedIn);
  EXPECT_FALSE(publish.transient);
}

TEST(Classify, TheTellingLineIsTheLastError) {
  EXPECT_EQ(telling_line("a\nerror: first\nb\nerror: second\nc\n"), "error: second");
  EXPECT_EQ(telling_line("a\nlast words\n\n"), "last words");
}

TEST(Classify, EveryFailureClassHasOneNameThatReadsBack) {
  // The store keeps these names: each class once, each name back to its class.
  for (int i = 0; i <= static_cast<int>(Failure::kUnknown); ++i) {
    const auto f = static_cast<Failure>(i);
    const std::string name(kFailures.name(f));
    EXPECT_NE(name, "?") << i;
    EXPECT_EQ(kFailures.parse(name), f) << name;
  }
}

// git push's failures, in git 2.39's words (transport.c, connect.c, http.c, remote-curl.c).
TEST(ClassifyPush, EachFailureOfGitPushHasItsClassAndItsOwnWords) {
  auto network = classify_push(
      "ssh: Could not resolve hostname github.com: Name or service not known\n"
      "fatal: Could not read from remote repository.\n\n"
      "Please make sure you have the correct access rights\nand the repository exists.\n");
  EXPECT_EQ(network.failure, Failure::kNetwork);
  EXPECT_TRUE(network.transient);
  EXPECT_EQ(network.reason,
            "ssh: Could not resolve hostname github.com: Name or service not known");
  auto https = classify_push(
      "fatal: unable to access 'https://github.com/acme/build-torchvision.git/': Could not "
      "resolve host: github.com\n");
  EXPECT_EQ(https.failure, Failure::kNetwork);
  EXPECT_THAT(https.reason, HasSubstr("Could not resolve host: github.com"));
  auto gone = classify_push(
      "remote: Repository not found.\n"
      "fatal: repository 'https://github.com/acme/nope.git/' not found\n");
  EXPECT_EQ(gone.failure, Failure::kPublishPrecondition);
  EXPECT_FALSE(gone.transient);
  auto auth = classify_push(
      "remote: Invalid username or password.\n"
      "fatal: Authentication failed for 'https://github.com/acme/build-torchvision.git/'\n");
  EXPECT_EQ(auth.failure, Failure::kNotLoggedIn);
  EXPECT_FALSE(auth.transient);
  auto key = classify_push(
      "git@github.com: Permission denied (publickey).\n"
      "fatal: Could not read from remote repository.\n");
  EXPECT_EQ(key.failure, Failure::kNotLoggedIn);
  auto moved = classify_push(
      "To /srv/upstream.git\n ! [rejected]        main -> main (fetch first)\n"
      "error: failed to push some refs to '/srv/upstream.git'\n");
  EXPECT_EQ(moved.failure, Failure::kCollision);
  EXPECT_TRUE(moved.transient);
  auto branch = classify_push(
      "fatal: The current branch main has no upstream branch.\n"
      "To push the current branch and set the remote as upstream, use\n\n"
      "    git push --set-upstream origin main\n");
  EXPECT_EQ(branch.failure, Failure::kPublishPrecondition);
  EXPECT_THAT(branch.reason, HasSubstr("has no upstream branch"));
}

// flox publish quotes git when it cannot ask the upstream whether HEAD is there (flox 1.14.1
// sdk/publish.rs:1137-1142, GitCommandError::BadExit): the network is retried, a repository that
// is gone or hidden from these credentials is not.
TEST(Classify, FloxsRemoteCheckFailingReadsGitsWords) {
  auto asked = [](const std::string& git_stderr) {
    return exited(1,
                  "✘ ERROR: The environment is in an unsupported state for publishing: Failed to "
                  "check whether local revision exists on remote 'origin/main': Git failed with: "
                  "[exit code 128]\n  stdout: \n  stderr: " +
                      git_stderr + "\n");
  };
  auto offline = classify(asked("fatal: unable to access "
                                "'https://github.com/acme/build-torchvision/': Could not "
                                "resolve host: github.com"),
                          Phase::kPublish);
  EXPECT_EQ(offline.failure, Failure::kNetwork);
  EXPECT_TRUE(offline.transient);
  auto gone = classify(asked("remote: Repository not found.\nfatal: repository "
                             "'https://github.com/acme/nope/' not found"),
                       Phase::kPublish);
  EXPECT_EQ(gone.failure, Failure::kPublishPrecondition);
  EXPECT_FALSE(gone.transient);
  EXPECT_THAT(gone.reason, HasSubstr("flox publish could not ask the upstream whether HEAD is "
                                     "pushed: the upstream does not exist, or these credentials "
                                     "may not see it: fatal: repository "
                                     "'https://github.com/acme/nope/' not found"));
  auto key = classify(asked("git@github.com: Permission denied (publickey).\nfatal: Could not "
                            "read from remote repository."),
                      Phase::kPublish);
  EXPECT_EQ(key.failure, Failure::kNotLoggedIn);
  EXPECT_FALSE(key.transient);
}

}  // namespace
}  // namespace tvd::flox
