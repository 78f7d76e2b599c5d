// The engine's state machine on fakes: a clock the test moves, a runner and a lane scripted by
// tables. Retries, backoff, OOM, timeouts, cancel in every state, publish after build, each output
// once, recovery: hours of builds in milliseconds, with the times asserted exactly. The fakes'
// outputs are what flox 1.14 and Nix print (tests/support/fake-flox cites them), read by flox's
// own classification.
#include "daemon/service/engine_machine_fixture.h"

namespace tvd::service {
namespace {

TEST_F(EngineMachine, ABuildCommitsBuildsThenPublishesItsOutput) {
  runner.script("flox build", {built(sm89)});
  JobId id = enqueue("sm89-avx2");
  run();
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued, JobState::kBuilding, JobState::kPublishing,
                                      JobState::kSucceeded));
  EXPECT_THAT(story(id), ElementsAre("queued ->queued recipe", "started queued>building build",
                                     "started building>publishing publish",
                                     "succeeded publishing>succeeded publish"));
  EXPECT_THAT(lane.asked(), ElementsAre("commit " + sm89, "publish " + sm89 + "@rev1"));
  const Job* j = &latest.at(id);
  EXPECT_EQ(j->output, "/nix/store/0123-" + sm89);
  EXPECT_TRUE(j->published);
  ASSERT_EQ(j->attempts.size(), 2u);
  EXPECT_EQ(j->attempts[0].phase, JobPhase::kBuild);
  EXPECT_EQ(j->attempts[1].phase, JobPhase::kPublish);
  EXPECT_EQ(j->publish_rev, "rev1");
  // 2 s of commit, an hour of build, 5 minutes of upload.
  EXPECT_EQ(clock.elapsed(), 2s + 1h + 5min);
  EXPECT_TRUE(runner.unscripted().empty());
}

TEST_F(EngineMachine, TheBuildGetsNoTokenAndThePublishRunsInTheLane) {
  auto c = config();
  c.child_env = {{"PATH", "/usr/bin"}, {"FLOX_FLOXHUB_TOKEN", "t0ken"}};
  make(c);
  runner.script("flox build", {built(cpu)});
  enqueue("cpu-avx2");
  run();
  ASSERT_EQ(runner.calls().size(), 2u);
  EXPECT_FALSE(runner.calls()[0].env.count("FLOX_FLOXHUB_TOKEN"));
  EXPECT_EQ(runner.calls()[0].env.at("PATH"), "/usr/bin");
  EXPECT_EQ(runner.calls()[1].line(), "flox publish -o acme " + cpu);
}

TEST_F(EngineMachine, WithoutPublishingABuildSucceedsAtItsEnd) {
  auto c = config();
  c.publish = false;
  make(c);
  runner.script("flox build", {built(cpu)});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox publish"), 0u);
  EXPECT_FALSE(latest.at(id).published);
}

TEST_F(EngineMachine, AVariantIsNeverQueuedTwice) {
  runner.script("flox build", {built(sm89)});
  JobId first = enqueue("sm89-avx2");
  auto again = engine->enqueue(resolve_specs(matrix, {"sm89-avx2"}, false).value(), {});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job, first);
  EXPECT_FALSE(again[0].created);
  run();
  EXPECT_EQ(runner.count("flox build"), 1u);
}

TEST_F(EngineMachine, TheMemoryBudgetHoldsAndQueuedBuildsStartAsOthersEnd) {
  // 100 GiB and 40 GiB per GPU build: two at a time, the third when one ends.
  runner.script("flox build", {{.takes = 1h}});
  enqueue("sm89-avx2");
  enqueue("sm90-avx2");
  enqueue("sm86-avx2");
  // Their recipes are committed first (2 s each, one at a time in the lane), reserving nothing.
  auto waiting = engine->waiting();
  ASSERT_EQ(waiting.size(), 3u);
  EXPECT_EQ(engine->scheduler().reserved(), 0u);
  for (const auto& w : waiting)
    EXPECT_EQ(w.reason, "committing its recipe");
  clock.advance(6s);
  waiting = engine->waiting();
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_THAT(waiting[0].reason,
              HasSubstr("waiting for memory: 80 GiB of 100 GiB reserved, needs 40 GiB"));
  run();
  EXPECT_EQ(runner.count("flox build"), 3u);
  EXPECT_EQ(runner.most_at_once("flox build"), 2u);
  // Two builds from 2 s and 4 s, the third after the first of them ends; each then uploads.
  EXPECT_EQ(clock.elapsed(), 2s + 1h + 1h + 5min);
}

TEST_F(EngineMachine, ATransientFailureWaitsTwiceAsLongEachTryThenFails) {
  runner.script("flox build", {failed(kNetwork)});
  JobId id = enqueue("cpu-avx2");
  run();
  // Tries start at 2 s; after 10 min of failing, 2 min of backoff; then 4 min. A retry of a
  // build does not commit its recipe again.
  EXPECT_EQ(build_starts(cpu), (std::vector<std::chrono::minutes>{0min, 12min, 26min}));
  EXPECT_EQ(last(id), JobState::kFailed);
  const Job* j = &latest.at(id);
  EXPECT_EQ(j->failure, flox::Failure::kNetwork);
  EXPECT_EQ(j->phase, JobPhase::kBuild);
  EXPECT_THAT(j->error, HasSubstr("Couldn't resolve host name"));
  EXPECT_EQ(j->attempts.size(), 3u);
  EXPECT_THAT(states[id], ElementsAre(JobState::kQueued, JobState::kBuilding, JobState::kQueued,
                                      JobState::kBuilding, JobState::kQueued, JobState::kBuilding,
                                      JobState::kFailed));
  // Each wait is a "retrying" event with the failure's class; the end is one "failed".
  std::vector<std::string> kinds;
  for (const auto& e : events[id]) {
    kinds.push_back(to_string(e.kind));
    if (e.kind == EventKind::kRetrying || e.kind == EventKind::kFailed) {
      EXPECT_EQ(e.failure, flox::Failure::kNetwork);
      EXPECT_THAT(e.reason, HasSubstr("Couldn't resolve host name"));
    }
  }
  EXPECT_THAT(kinds, ElementsAre("queued", "started", "retrying", "started", "retrying", "started",
                                 "failed"));
}

TEST_F(EngineMachine, AnOutOfMemoryBuildIsRetriedReservingAQuarterMore) {
  runner.script(
      "flox build",
      {{.takes = 30min, .exit_code = 1, .output = kOutOfMemory, .peak_group_rss = 48 * GiB},
       built(sm89)});
  JobId id = enqueue("sm89-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox build"), 2u);
  EXPECT_EQ(latest.at(id).attempts[0].failure, flox::Failure::kOutOfMemory);
  EXPECT_THAT(testing::read_text(latest.at(id).attempts[0].log),
              HasSubstr("due to signal 9 (Killed)"));
  // It was seen using 48 GiB: the estimator is told 60, and adds its margin.
  EXPECT_EQ(engine->estimator().estimate(sm89, sched::BuildKind::kGpu).memory,
            static_cast<uint64_t>(60 * GiB * 1.1));
}

TEST_F(EngineMachine, ASuccessfulBuildTeachesItsPeakAndDuration) {
  auto run_ok = built(sm89, 3h);
  run_ok.peak_group_rss = 30 * GiB;
  runner.script("flox build", {run_ok});
  JobId id = enqueue("sm89-avx2");
  run();
  EXPECT_EQ(latest.at(id).attempts[0].learned_peak, 30 * GiB);
  EXPECT_EQ(engine->estimator().estimate(sm89, sched::BuildKind::kGpu).memory,
            static_cast<uint64_t>(30 * GiB * 1.1));
  EXPECT_EQ(engine->estimator().estimate(sm89, sched::BuildKind::kGpu).duration, 3h);
}

TEST_F(EngineMachine, AKilledOrTimedOutBuildIsTransient) {
  runner.script("flox build -d " + env_dir.string() + " " + sm89,
                {{.takes = 1h, .ending = exec::Ending::kSignaled, .signal = 15}, built(sm89)});
  runner.script("flox build -d " + env_dir.string() + " " + cpu,
                {{.takes = 12h, .ending = exec::Ending::kTimedOut}, built(cpu)});
  JobId a = enqueue("sm89-avx2");
  JobId b = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(a), JobState::kSucceeded);
  EXPECT_EQ(latest.at(a).attempts[0].failure, flox::Failure::kKilled);
  EXPECT_EQ(last(b), JobState::kSucceeded);
  EXPECT_EQ(latest.at(b).attempts[0].failure, flox::Failure::kTimeout);
}

TEST_F(EngineMachine, APermanentFailureIsNotRetriedAndBatchesSkipItWhileUnchanged) {
  runner.script("flox build", {failed(kBuildError)});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kFailed);
  EXPECT_EQ(runner.count("flox build"), 1u);
  EXPECT_EQ(latest.at(id).failure, flox::Failure::kBuildError);
  EXPECT_THAT(latest.at(id).error, HasSubstr("builder failed with exit code 2"));
  EXPECT_FALSE(latest.at(id).fingerprint.empty());

  auto nightly = engine->enqueue(resolve_specs(matrix, {"cpu-avx2"}, false).value(),
                                 {.origin = sched::Origin::kBatch});
  ASSERT_EQ(nightly.size(), 1u);
  EXPECT_FALSE(nightly[0].job);
  EXPECT_THAT(nightly[0].skipped, HasSubstr("still failing"));
  // A person asking builds it; so does a batch once the lock changes.
  testing::write_text(env_dir / ".flox/env/manifest.lock", "{\"lockfile-version\": 1}\n");
  auto changed = engine->enqueue(resolve_specs(matrix, {"cpu-avx2"}, false).value(),
                                 {.origin = sched::Origin::kBatch});
  EXPECT_TRUE(changed.at(0).created);
  run();
  EXPECT_EQ(runner.count("flox build"), 2u);
}

TEST_F(EngineMachine, AHostThatCannotStartTheBuildIsNotTheRecipesFault) {
  // The log directory's disk is full: the runner cannot create the attempt's log.
  runner.script("flox build", {{.takes = 0ms,
                                .ending = exec::Ending::kFailedToStart,
                                .output = "cannot create the log: No space left on device"}});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(runner.count("flox build"), 3u);  // tried again, like any trouble of the host
  EXPECT_EQ(last(id), JobState::kFailed);
  EXPECT_EQ(latest.at(id).failure, flox::Failure::kStartFailure);
  EXPECT_TRUE(latest.at(id).fingerprint.empty());
  // The next nightly builds it again: nothing says the recipe fails.
  auto nightly = engine->enqueue(resolve_specs(matrix, {"cpu-avx2"}, false).value(),
                                 {.origin = sched::Origin::kBatch});
  EXPECT_TRUE(nightly.at(0).created) << nightly.at(0).skipped;
}

TEST_F(EngineMachine, AFailedPublishIsRetriedAsAPublishNeverARebuild) {
  runner.script("flox build", {built(cpu)});
  runner.script("flox publish -o acme " + cpu,
                {failed(kUploadFailed, 1min), {.takes = 5min, .output = kPublished}});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox build"), 1u);
  EXPECT_EQ(runner.count("flox publish"), 2u);
  // The retry publishes the revision the first try recorded.
  EXPECT_THAT(lane.asked(),
              ElementsAre("commit " + cpu, "publish " + cpu + "@rev1", "publish " + cpu + "@rev1"));
  EXPECT_EQ(latest.at(id).attempts[1].failure, flox::Failure::kNetwork);
  EXPECT_THAT(story(id), ElementsAre("queued ->queued recipe", "started queued>building build",
                                     "started building>publishing publish",
                                     "retrying publishing>publishing publish",
                                     "started publishing>publishing publish",
                                     "succeeded publishing>succeeded publish"));
}

TEST_F(EngineMachine, NotLoggedInFailsThePublishAtOnceAndRetryPublishesWithoutRebuilding) {
  runner.script("flox build", {built(cpu)});
  runner.script("flox publish -o acme " + cpu, {failed(kNotLoggedIn, 1s), {.output = kPublished}});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kFailed);
  EXPECT_EQ(latest.at(id).phase, JobPhase::kPublish);
  EXPECT_EQ(latest.at(id).failure, flox::Failure::kNotLoggedIn);
  ASSERT_TRUE(engine->retry(latest.at(id)));
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_THAT(
      story(id),
      ElementsAre("queued ->queued recipe", "started queued>building build",
                  "started building>publishing publish", "failed publishing>failed publish",
                  "retried failed>publishing publish", "started publishing>publishing publish",
                  "succeeded publishing>succeeded publish"));
  EXPECT_EQ(runner.count("flox build"), 1u);
  EXPECT_EQ(runner.count("flox publish"), 2u);
}

TEST_F(EngineMachine, AnOutputAlreadyPublishedIsNotPublishedAgain) {
  engine->set_published({{VariantKey{"default", cpu}, "/nix/store/0123-" + cpu}});
  runner.script("flox build", {built(cpu)});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox publish"), 0u);
  EXPECT_THAT(latest.at(id).note, HasSubstr("already published: /nix/store/0123-" + cpu));
  // A new output is.
  runner.script("flox build -d " + env_dir.string() + " " + cpu, {built(cpu, 1h, "4567")});
  JobId next = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(next), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox publish"), 1u);
}

TEST_F(EngineMachine, ARecipeCommitThatFailsForGoodFailsTheJobAtItsRecipe) {
  lane.script_commit(cpu, {{.ok = false,
                            .failure = flox::Failure::kUnknown,
                            .reason = ".flox/pkgs/x.nix has uncommitted changes"}});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kFailed);
  EXPECT_EQ(latest.at(id).phase, JobPhase::kRecipe);
  EXPECT_THAT(latest.at(id).error, HasSubstr("uncommitted changes"));
  EXPECT_EQ(runner.count("flox build"), 0u);
}

TEST_F(EngineMachine, ARecipeCommitThatFailsForNowIsTriedAgainAfterItsBackoff) {
  lane.script_commit(
      cpu, {{.ok = false, .transient = true, .reason = "push refused: the network"}, {.ok = true}});
  runner.script("flox build", {built(cpu)});
  JobId id = enqueue("cpu-avx2");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  EXPECT_THAT(lane.asked(),
              ElementsAre("commit " + cpu, "commit " + cpu, "publish " + cpu + "@rev1"));
  EXPECT_EQ(build_starts(cpu), (std::vector<std::chrono::minutes>{2min}));
}

TEST(JobNames, EveryStateAndPhaseReadsBackAndOnlyEndsAreTerminal) {
  for (const auto& [state, name] : kJobStates.entries())
    EXPECT_EQ(kJobStates.parse(name), state);
  for (const auto& [phase, name] : kJobPhases.entries())
    EXPECT_EQ(kJobPhases.parse(name), phase);
  EXPECT_EQ(kJobStates.name(JobState::kCancelled), "cancelled");
  EXPECT_FALSE(is_terminal(JobState::kPublishing));
  EXPECT_TRUE(is_terminal(JobState::kCancelled));
}

// The branches of one repository build the same packages: a variant is (environment, package).
// The same package in two environments is two jobs at once, each built in its own checkout,
// committed and published through its own environment's git lane, its logs kept apart.
TEST_F(EngineMachine, TheSamePackageInTwoEnvironmentsIsTwoJobsEachInItsOwnCheckout) {
  const fs::path other_dir = dir / "build-torchvision-2.9";
  testing::make_flox_env(other_dir);
  Matrix other = std::move(Matrix::embedded().value());
  other.set_environment({"pytorch-2.9", other_dir});
  testing::FakeLane other_lane{clock, runner};
  make(config(), {{"default", &lane}, {"pytorch-2.9", &other_lane}});
  runner.script("flox build", {built(cpu)});

  auto here = engine->enqueue(resolve_specs(matrix, {"cpu-avx2"}, false).value(), {});
  auto there = engine->enqueue(resolve_specs(other, {"cpu-avx2"}, false).value(), {});
  ASSERT_TRUE(here.at(0).created && there.at(0).created);
  EXPECT_NE(here.at(0).job, there.at(0).job);
  EXPECT_EQ(there.at(0).variant, (VariantKey{"pytorch-2.9", cpu}));
  // Still one active job per variant.
  auto again = engine->enqueue(resolve_specs(other, {"cpu-avx2"}, false).value(), {});
  EXPECT_FALSE(again.at(0).created);
  EXPECT_EQ(again.at(0).job, there.at(0).job);
  run();

  EXPECT_EQ(last(*here.at(0).job), JobState::kSucceeded);
  EXPECT_EQ(last(*there.at(0).job), JobState::kSucceeded);
  EXPECT_EQ(runner.count("flox build -d " + env_dir.string() + " " + cpu), 1u);
  EXPECT_EQ(runner.count("flox build -d " + other_dir.string() + " " + cpu), 1u);
  EXPECT_THAT(lane.asked(), ElementsAre("commit " + cpu, HasSubstr("publish " + cpu)));
  EXPECT_THAT(other_lane.asked(), ElementsAre("commit " + cpu, HasSubstr("publish " + cpu)));
  EXPECT_EQ(latest.at(*there.at(0).job).attempts.at(0).log.parent_path(),
            dir / "state" / "logs" / "pytorch-2.9" / cpu);
  EXPECT_EQ(latest.at(*here.at(0).job).attempts.at(0).log.parent_path(),
            dir / "state" / "logs" / cpu);
  engine.reset();  // before `other`, which its jobs' variants point into
}

// A job of an environment no lane serves fails at once and says so, rather than waiting.
TEST_F(EngineMachine, AJobOfAnEnvironmentNoLaneServesFailsAndSaysSo) {
  Matrix other = std::move(Matrix::embedded().value());
  other.set_environment({"pytorch-2.9", env_dir});
  auto e = engine->enqueue(resolve_specs(other, {"cpu-avx2"}, false).value(), {});
  run();
  const JobId id = e.at(0).job.value();
  EXPECT_EQ(last(id), JobState::kFailed);
  EXPECT_THAT(latest.at(id).error, HasSubstr("no git lane serves environment 'pytorch-2.9'"));
  EXPECT_EQ(runner.count("flox build"), 0u);
  engine.reset();
}

}  // namespace
// A remote builder that cannot be reached: the build fails as Nix says it ("cannot build on
// 'URI'"), waits again as a transient failure naming the builder, and nothing goes there until
// `nix store ping` reaches it (asked every backoff); then the build runs there, with --system
// and Nix pinned to that machine.
// The host builds x86_64-linux; one remote machine, ssh-ng://arm, builds aarch64-linux.
EngineConfig with_arm_builder(EngineConfig c) {
  c.builders = {{{"local", {"x86_64-linux"}, {"big-parallel"}, 0, 0, true, true}, "", ""},
                {{"ssh-ng://arm", {"aarch64-linux"}, {"big-parallel"}, 1, 64 * GiB, false, true},
                 "ssh-ng://arm aarch64-linux - 1 1 big-parallel - -",
                 "ssh-ng://arm"}};
  return c;
}

TEST_F(EngineMachine, ALostRemoteBuilderHoldsItsBuildsUntilAProbeReachesIt) {
  make(with_arm_builder(config()));
  const std::string arm = "torchvision-python313-cuda12_8-sm89-armv9";
  runner.script("flox build",
                {failed("error: cannot build on 'ssh-ng://arm': error: failed to start SSH "
                        "connection to 'arm'\n"
                        "error: unable to start any build; either increase '--max-jobs' or "
                        "enable remote builds.\n"
                        "✘ ERROR: Build failed\n",
                        5s),
                 built(arm)});
  runner.script("nix store ping", {{.takes = 2s,
                                    .exit_code = 1,
                                    .output = "error: cannot "
                                              "connect\n"},
                                   {.takes = 2s}});
  JobId id = enqueue("sm89-armv9");
  run();
  // Built, lost, waiting again, built on the machine once it answers, published.
  EXPECT_THAT(states[id],
              ElementsAre(JobState::kQueued, JobState::kBuilding, JobState::kQueued,
                          JobState::kBuilding, JobState::kPublishing, JobState::kSucceeded));
  const Job& j = latest.at(id);
  ASSERT_GE(j.attempts.size(), 2u);
  EXPECT_EQ(j.attempts[0].failure, flox::Failure::kNetwork);
  EXPECT_EQ(j.attempts[0].reason,
            "builder ssh-ng://arm lost: error: cannot build on 'ssh-ng://arm': error: failed to "
            "start SSH connection to 'arm'");
  EXPECT_EQ(j.attempts[0].builder, "ssh-ng://arm");
  EXPECT_EQ(j.attempts[1].builder, "ssh-ng://arm");
  // Two probes, the second answered; the build started again only after it.
  ASSERT_EQ(runner.count("nix store ping"), 2u);
  std::vector<const testing::FakeRunner::Call*> builds, probes;
  for (const auto& call : runner.calls()) {
    if (call.line().find("flox build") != std::string::npos) builds.push_back(&call);
    if (call.line().find("nix store ping") != std::string::npos) probes.push_back(&call);
  }
  ASSERT_EQ(builds.size(), 2u);
  EXPECT_GE(builds[1]->started, probes[1]->ended);
  EXPECT_EQ(probes[0]->line(),
            "nix store ping --extra-experimental-features nix-command --store ssh-ng://arm");
  EXPECT_EQ(builds[1]->line(),
            "flox build -d " + env_dir.string() + " --system aarch64-linux " + arm);
  EXPECT_EQ(builds[1]->env.at("NIX_CONFIG"),
            "builders = ssh-ng://arm aarch64-linux - 1 1 big-parallel - -\nmax-jobs = 0\n"
            "builders-use-substitutes = true\n");
}

// What the host sees of a build on a remote builder is flox and the Nix client: it teaches the
// variant's duration, never a peak; killed for memory there, a quarter more than it reserved.
TEST_F(EngineMachine, ARemoteBuildTeachesItsDurationButNotWhatTheHostSaw) {
  make(with_arm_builder(config()));
  const std::string arm = "torchvision-python313-cuda12_8-sm89-armv9";
  auto remote_ok = built(arm, 5h);
  // The host's memory rose while it ran alone (something else on the host), and the client's.
  remote_ok.peak_group_rss = 2 * GiB;
  remote_ok.host_used_at_start = 10 * GiB;
  remote_ok.host_peak_used = 30 * GiB;
  runner.script("flox build",
                {{.takes = 1h, .exit_code = 1, .output = kOutOfMemory, .peak_group_rss = 2 * GiB},
                 remote_ok});
  JobId id = enqueue("sm89-armv9");
  run();
  EXPECT_EQ(last(id), JobState::kSucceeded);
  const Job& j = latest.at(id);
  ASSERT_EQ(j.attempts.size(), 3u);  // two builds, then the publish
  EXPECT_EQ(j.attempts[0].failure, flox::Failure::kOutOfMemory);
  // Killed there holding its 40 GiB reservation (the GPU default): 50 next time.
  EXPECT_EQ(j.attempts[0].learned_peak, 40 * GiB);
  EXPECT_EQ(j.attempts[1].learned_peak, std::nullopt);
  const auto e = engine->estimator().estimate(arm, sched::BuildKind::kGpu);
  // 50 GiB and the margin, rounded up to a MiB.
  EXPECT_NEAR(static_cast<double>(e.memory), 50 * GiB * 1.1, 1 << 20);
  EXPECT_EQ(e.duration, 5h);
  EXPECT_EQ(e.duration_source, "measured");
}

}  // namespace tvd::service
