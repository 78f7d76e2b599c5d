#include "daemon/sched/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>

namespace tvd::sched {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using ::testing::HasSubstr;
constexpr uint64_t GiB = 1ull << 30;

// A fake clock: time is whatever the test says it is.
struct FakeClock {
  TimePoint now{};
  void advance(Duration d) { now += d; }
};

class SchedulerTest : public ::testing::Test {
 protected:
  Estimator est{{.gpu_bytes = 48 * GiB, .cpu_bytes = 16 * GiB}};
  FakeClock clock;
  Measurements quiet{.memory_pressure = 0.0, .mem_available = 1000 * GiB, .disks = {}};

  Scheduler make(uint64_t budget, unsigned slots) {
    return Scheduler({.memory_budget = budget, .max_parallel = slots, .min_free_disk = 10 * GiB},
                     &est);
  }
  JobSpec gpu(std::string name, Origin o = Origin::kInteractive, int prio = 0) {
    return {std::move(name), BuildKind::kGpu, o, prio};
  }
  static std::vector<std::string> names(const std::vector<Start>& s) {
    std::vector<std::string> out;
    for (const auto& x : s)
      out.push_back(x.variant);
    return out;
  }
};

TEST_F(SchedulerTest, TheSameVariantIsNeverQueuedTwice) {
  auto s = make(200 * GiB, 4);
  auto a = s.enqueue(gpu("a"));
  auto again = s.enqueue(gpu("a"));
  EXPECT_TRUE(a.created);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.id, a.id);
  ASSERT_EQ(s.next(clock.now, quiet).size(), 1u);
  EXPECT_EQ(s.enqueue(gpu("a")).id, a.id);  // running: still the same job
  s.finished(a.id);
  EXPECT_TRUE(s.enqueue(gpu("a")).created);
}

// A job that needs another's build (TorchVision its torch) waits for it, reserving nothing and
// never holding up others as the head; it starts once that build is done.
TEST_F(SchedulerTest, AJobWaitsForTheBuildItNeedsAndReservesNothing) {
  auto s = make(100 * GiB, 8);
  const auto torch = s.enqueue(gpu("pytorch/pytorch-sm89"));
  JobSpec vision = gpu("torchvision/torchvision-sm89");
  vision.after = {{torch.id, "pytorch/pytorch-sm89"}};
  const auto tv = s.enqueue(vision);
  s.enqueue(gpu("other"));
  EXPECT_EQ(names(s.next(clock.now, quiet)),
            (std::vector<std::string>{"pytorch/pytorch-sm89", "other"}));
  auto waits = s.waiting(clock.now, quiet);
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_EQ(waits[0].id, tv.id);
  EXPECT_EQ(waits[0].reason,
            "waiting for pytorch/pytorch-sm89 (job " + std::to_string(torch.id) + ") to be built");
  EXPECT_EQ(s.reserved(), 96 * GiB);
  EXPECT_EQ(s.dependents(torch.id), std::vector<JobId>{tv.id});
  EXPECT_EQ(s.waits_for(tv.id), (std::map<JobId, std::string>{{torch.id, "pytorch/pytorch-sm89"}}));
  EXPECT_TRUE(s.waits_for(torch.id).empty());
  s.finished(torch.id);
  EXPECT_TRUE(s.next(clock.now, quiet).empty());  // finished is not built: a failure ends there
  s.built(torch.id);
  EXPECT_TRUE(s.waits_for(tv.id).empty());
  EXPECT_TRUE(s.dependents(torch.id).empty());
  EXPECT_EQ(names(s.next(clock.now, quiet)),
            std::vector<std::string>{"torchvision/torchvision-sm89"});
}

// A batch job that others wait for counts with its chain, in expected durations: a torch of 3 h
// that a 20-minute vision waits for (3 h 20 min) goes before a lone build of 3 h 10 min, whether
// the rule orders the queue (no plan) or the plan's search does.
TEST_F(SchedulerTest, TheCriticalPathGoesFirst) {
  est.record("torch", BuildKind::kGpu, 10 * GiB, hours(3));
  est.record("vision", BuildKind::kGpu, 10 * GiB, minutes(20));
  est.record("a", BuildKind::kGpu, 10 * GiB, hours(3) + minutes(10));
  est.record("b", BuildKind::kGpu, 10 * GiB, hours(3) + minutes(10));
  for (uint64_t work : {uint64_t{0}, kPlanWork}) {
    Scheduler s({.memory_budget = 200 * GiB, .max_parallel = 2, .plan_work = work}, &est);
    s.enqueue(gpu("a", Origin::kBatch));
    s.enqueue(gpu("b", Origin::kBatch));
    const auto torch = s.enqueue(gpu("torch", Origin::kBatch));
    JobSpec vision = gpu("vision", Origin::kBatch);
    vision.after = {{torch.id, "torch"}};
    s.enqueue(vision);
    const auto first = names(s.next(clock.now, quiet));
    ASSERT_EQ(first.size(), 2u) << "plan work " << work;
    EXPECT_EQ(first[0], "torch") << "plan work " << work;
    // By count of steps or arrival, the torch would wait for a lone build (3 h 10 min) and the
    // night would end at 6 h 30 min. Here, at 3 h the torch is built; the vision is now a
    // 20-minute chain, so the other lone build goes first and the vision fills a's slot at
    // 3 h 10 min: the night ends at 6 h 10 min.
    const TimePoint t = clock.now + hours(3);
    s.finished(torch.id);
    s.built(torch.id);
    EXPECT_EQ(names(s.next(t, quiet)), std::vector<std::string>{"b"}) << "plan work " << work;
    s.finished(*s.find("a"));
    EXPECT_EQ(names(s.next(t + minutes(10), quiet)), std::vector<std::string>{"vision"})
        << "plan work " << work;
  }
}

// Builders: the local x86_64 host and a remote aarch64 machine, each with its slots and budget.
class PlacementTest : public SchedulerTest {
 protected:
  Scheduler two_builders(unsigned arm_slots = 1, uint64_t arm_budget = 64 * GiB) {
    Scheduler s({.memory_budget = 100 * GiB, .max_parallel = 2, .min_free_disk = 10 * GiB}, &est);
    s.set_builders({{"local", {"x86_64-linux"}, {"big-parallel"}, 0, 0, true, true},
                    {"ssh-ng://arm",
                     {"aarch64-linux"},
                     {"big-parallel"},
                     arm_slots,
                     arm_budget,
                     false,
                     true}});
    return s;
  }
  JobSpec on(std::string name, std::string system, Origin o = Origin::kInteractive) {
    JobSpec j = gpu(std::move(name), o);
    j.system = std::move(system);
    j.features = {"big-parallel"};
    return j;
  }
  static std::vector<std::string> where(const std::vector<Start>& s) {
    std::vector<std::string> out;
    for (const auto& x : s)
      out.push_back(x.variant + "@" + x.builder);
    return out;
  }
};

TEST_F(PlacementTest, EachJobGoesToABuilderOfItsPlatform) {
  auto s = two_builders();
  s.enqueue(on("x1", "x86_64-linux"));
  s.enqueue(on("arm1", "aarch64-linux"));
  s.enqueue(on("arm2", "aarch64-linux"));
  EXPECT_EQ(where(s.next(clock.now, quiet)),
            (std::vector<std::string>{"x1@local", "arm1@ssh-ng://arm"}));
  auto w = s.waiting(clock.now, quiet);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].variant, "arm2");
  EXPECT_EQ(w[0].reason, "waiting: 1 of 1 slots busy");  // the arm machine's one slot
  EXPECT_EQ(s.reserved("local"), 48 * GiB);
  EXPECT_EQ(s.reserved("ssh-ng://arm"), 48 * GiB);
  ASSERT_EQ(s.running().size(), 2u);
  EXPECT_EQ(s.running()[1].builder, "ssh-ng://arm");
}

TEST_F(PlacementTest, AJobNoBuilderServesWaitsAndSaysWhy) {
  Scheduler s({.memory_budget = 100 * GiB, .max_parallel = 2}, &est);
  // A builder for aarch64 without big-parallel takes no recipe that requires it.
  s.set_builders({{"local", {"x86_64-linux"}, {"big-parallel"}, 0, 0, true, true},
                  {"ssh://small-arm", {"aarch64-linux"}, {}, 4, 32 * GiB, false, true}});
  s.enqueue(on("arm1", "aarch64-linux"));
  s.enqueue(on("riscv", "riscv64-linux"));
  EXPECT_TRUE(s.next(clock.now, quiet).empty());
  auto w = s.waiting(clock.now, quiet);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].reason,
            "waiting: no builder serves aarch64-linux with the features of its recipe");
  EXPECT_EQ(w[1].reason,
            "waiting: no builder serves riscv64-linux with the features of its recipe");
}

// Each builder's own budget: a 60 GiB build does not fit beside another on the 64 GiB machine,
// and one larger than a machine's whole budget runs alone there.
TEST_F(PlacementTest, EachBuilderKeepsItsOwnBudget) {
  est.record("big", BuildKind::kGpu, 70 * GiB, hours(3));
  est.record("mid", BuildKind::kGpu, 30 * GiB, hours(3));
  auto s = two_builders(/*arm_slots=*/4, /*arm_budget=*/64 * GiB);
  s.enqueue(on("mid", "aarch64-linux"));
  s.enqueue(on("big", "aarch64-linux"));
  const auto first = s.next(clock.now, quiet);
  ASSERT_EQ(where(first), std::vector<std::string>{"mid@ssh-ng://arm"});
  auto w = s.waiting(clock.now, quiet);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(w[0].reason, HasSubstr("waiting to run alone: needs 77 GiB, more than the 64 GiB"));
  s.finished(*s.find("mid"));
  const auto second = s.next(clock.now, quiet);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].reservation, 64 * GiB);  // all of that machine, not more
  EXPECT_THAT(second[0].warning, HasSubstr("budget of ssh-ng://arm: it runs alone"));
  EXPECT_EQ(s.reserved("local"), 0u);  // the local host's budget is untouched
}

// The local host's live gates hold only local starts: a remote machine keeps building while the
// host is under memory pressure.
TEST_F(PlacementTest, TheLocalGatesHoldOnlyLocalStarts) {
  auto s = two_builders();
  s.enqueue(on("x1", "x86_64-linux"));
  s.enqueue(on("arm1", "aarch64-linux"));
  Measurements pressed = quiet;
  pressed.memory_pressure = 50.0;
  EXPECT_EQ(where(s.next(clock.now, pressed)), std::vector<std::string>{"arm1@ssh-ng://arm"});
  auto w = s.waiting(clock.now, pressed);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(w[0].reason, HasSubstr("memory pressure 50.0%"));
}

// A builder lost mid-night: its queued jobs wait, named; the others go on; found again, it builds.
TEST_F(PlacementTest, ABuilderLostMidNightHoldsOnlyItsJobs) {
  auto s = two_builders(/*arm_slots=*/2);
  s.enqueue(on("arm1", "aarch64-linux"));
  ASSERT_EQ(s.next(clock.now, quiet).size(), 1u);
  // The running one failed as the machine went away: the driver requeues it and marks it lost.
  EXPECT_TRUE(s.set_reachable("ssh-ng://arm", false));
  s.requeue(*s.find("arm1"), clock.now, "builder ssh-ng://arm: cannot connect");
  s.enqueue(on("x1", "x86_64-linux"));
  EXPECT_EQ(where(s.next(clock.now, quiet)), std::vector<std::string>{"x1@local"});
  auto w = s.waiting(clock.now, quiet);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].reason, "waiting: builder ssh-ng://arm is unreachable");
  EXPECT_FALSE(s.set_reachable("nowhere", true));
  EXPECT_TRUE(s.set_reachable("ssh-ng://arm", true));
  EXPECT_EQ(where(s.next(clock.now, quiet)), std::vector<std::string>{"arm1@ssh-ng://arm"});
}

// No starvation: an interactive head waiting for memory on the local host is not pushed back by
// a long build behind it on the same host, while builds for the other machine go on.
TEST_F(PlacementTest, TheHeadIsNotStarvedOnItsBuilderAndOthersGoOn) {
  est.record("running", BuildKind::kGpu, 60 * GiB, hours(1));
  est.record("head", BuildKind::kGpu, 80 * GiB, hours(2));
  est.record("long", BuildKind::kGpu, 30 * GiB, hours(5));
  est.record("arm", BuildKind::kGpu, 30 * GiB, hours(5));
  auto s = two_builders();
  s.enqueue(on("running", "x86_64-linux"));
  ASSERT_EQ(s.next(clock.now, quiet).size(), 1u);
  s.enqueue(on("head", "x86_64-linux"));
  s.enqueue(on("long", "x86_64-linux"));
  s.enqueue(on("arm", "aarch64-linux"));
  // "long" would fit beside "running" now, but would hold memory past the head's shadow (1 h).
  EXPECT_EQ(where(s.next(clock.now, quiet)), std::vector<std::string>{"arm@ssh-ng://arm"});
  auto w = s.waiting(clock.now, quiet);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_THAT(w[1].reason, HasSubstr("waiting behind head, first in line"));
  s.finished(*s.find("running"));
  EXPECT_EQ(where(s.next(clock.now + hours(1), quiet)), std::vector<std::string>{"head@local"});
}

// The critical path first, over builders: the torch of a chain starts before a longer lone
// build when one slot is free for both.
TEST_F(PlacementTest, TheCriticalPathGoesFirstOnEachBuilder) {
  est.record("torch", BuildKind::kGpu, 10 * GiB, hours(3));
  est.record("vision", BuildKind::kGpu, 10 * GiB, minutes(20));
  est.record("lone", BuildKind::kGpu, 10 * GiB, hours(3) + minutes(10));
  auto s = two_builders();
  s.enqueue(on("lone", "aarch64-linux", Origin::kBatch));
  const auto torch = s.enqueue(on("torch", "aarch64-linux", Origin::kBatch));
  JobSpec vision = on("vision", "aarch64-linux", Origin::kBatch);
  vision.after = {{torch.id, "torch"}};
  s.enqueue(vision);
  EXPECT_EQ(where(s.next(clock.now, quiet)), std::vector<std::string>{"torch@ssh-ng://arm"});
}

TEST_F(SchedulerTest, StartsWhatFitsTheBudgetAndSaysWhyTheRestWaits) {
  auto s = make(100 * GiB, 8);
  s.enqueue(gpu("a"));
  s.enqueue(gpu("b"));
  s.enqueue(gpu("c"));
  EXPECT_EQ(names(s.next(clock.now, quiet)), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.reserved(), 96 * GiB);
  auto w = s.waiting(clock.now, quiet);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].reason, "waiting for memory: 96 GiB of 100 GiB reserved, needs 48 GiB");
}

// A build taken back after a restart of tvd holds its reservation and its slot as if it had
// started here, and its variant is not queued beside it.
TEST_F(SchedulerTest, AnAdoptedBuildHoldsItsReservation) {
  auto s = make(100 * GiB, 8);
  auto taken = s.adopt(gpu("a"), 7, "local", clock.now - hours(1));
  EXPECT_EQ(taken.reservation, 48 * GiB);
  EXPECT_EQ(s.reserved(), 48 * GiB);
  ASSERT_EQ(s.running().size(), 1u);
  EXPECT_EQ(s.running()[0].started, clock.now - hours(1));
  EXPECT_EQ(s.enqueue(gpu("a")).id, 7u);  // the same job, not a second one
  s.enqueue(gpu("b"));
  s.enqueue(gpu("c"));
  EXPECT_EQ(names(s.next(clock.now, quiet)), (std::vector<std::string>{"b"}));
  EXPECT_GT(s.enqueue(gpu("d")).id, 7u);  // new jobs are numbered after it
  s.finished(7);
  EXPECT_EQ(names(s.next(clock.now, quiet)), (std::vector<std::string>{"c"}));
}

TEST_F(SchedulerTest, SlotsLimitStarts) {
  auto s = make(1000 * GiB, 2);
  for (auto n : {"a", "b", "c"})
    s.enqueue(gpu(n));
  EXPECT_EQ(s.next(clock.now, quiet).size(), 2u);
  EXPECT_EQ(s.waiting(clock.now, quiet)[0].reason, "waiting: 2 of 2 slots busy");
}

TEST_F(SchedulerTest, OrderIsPriorityThenInteractiveThenLongestBatchFirst) {
  est.record("short", BuildKind::kGpu, std::nullopt, hours(1));
  est.record("long", BuildKind::kGpu, std::nullopt, hours(5));
  est.record("mid", BuildKind::kGpu, std::nullopt, hours(3));
  auto s = make(1000 * GiB, 1);
  s.enqueue(gpu("short", Origin::kBatch));
  s.enqueue(gpu("long", Origin::kBatch));
  s.enqueue(gpu("mid", Origin::kBatch));
  s.enqueue(gpu("asked", Origin::kInteractive));
  s.enqueue(gpu("urgent", Origin::kBatch, 5));
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) {
    auto st = s.next(clock.now, quiet);
    ASSERT_EQ(st.size(), 1u);
    order.push_back(st[0].variant);
    s.finished(st[0].id);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"urgent", "asked", "long", "mid", "short"}));
}

TEST_F(SchedulerTest, GatesHoldEveryStartAndSayWhich) {
  auto s = make(1000 * GiB, 4);
  s.enqueue(gpu("a"));
  Measurements pressured = quiet;
  pressured.memory_pressure = 23.5;
  EXPECT_TRUE(s.next(clock.now, pressured).empty());
  EXPECT_EQ(s.waiting(clock.now, pressured)[0].reason,
            "waiting: memory pressure 23.5% (full avg10) is above 10.0%");

  Measurements full = quiet;
  full.disks = {{"/nix", 12 * GiB / 2}, {"/var/lib/tvd", 500 * GiB}};
  EXPECT_TRUE(s.next(clock.now, full).empty());
  EXPECT_EQ(s.waiting(clock.now, full)[0].reason,
            "waiting: disk /nix has 6 GiB free, needs 10 GiB");

  Measurements tight = quiet;
  tight.mem_available = 30 * GiB;
  EXPECT_TRUE(s.next(clock.now, tight).empty());
  EXPECT_EQ(s.waiting(clock.now, tight)[0].reason,
            "waiting: MemAvailable is 30 GiB, below the 48 GiB this build reserves");
  EXPECT_EQ(s.next(clock.now, quiet).size(), 1u);
}

TEST_F(SchedulerTest, MissingSourcesTurnTheirGateOffAndSaySo) {
  auto s = make(1000 * GiB, 4);
  Measurements none{.memory_pressure = std::nullopt,
                    .mem_available = std::nullopt,
                    .disks = {{"/nix", std::nullopt}}};
  s.enqueue(gpu("a"));
  EXPECT_EQ(s.next(clock.now, none).size(), 1u);
  auto notes = s.gate_notes(none);
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_THAT(notes[0], HasSubstr("memory pressure gate off"));
  EXPECT_THAT(notes[2], HasSubstr("/nix"));
}

TEST_F(SchedulerTest, ABuildBiggerThanTheBudgetRunsAlone) {
  est.record("huge", BuildKind::kGpu, 300 * GiB, std::nullopt);
  auto s = make(200 * GiB, 4);
  s.enqueue(gpu("small"));
  auto first = s.next(clock.now, quiet);
  ASSERT_EQ(first.size(), 1u);
  s.enqueue(gpu("huge"));
  s.enqueue(gpu("small2"));
  EXPECT_TRUE(s.next(clock.now, quiet).empty()) << "small2 must not pass the huge head";
  auto w = s.waiting(clock.now, quiet);
  EXPECT_THAT(w[0].reason,
              HasSubstr("waiting to run alone: needs 330 GiB, more than the 200 GiB budget"));
  s.finished(first[0].id);
  auto alone = s.next(clock.now, quiet);
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_EQ(alone[0].variant, "huge");
  EXPECT_EQ(alone[0].reservation, 200 * GiB);
  EXPECT_THAT(alone[0].warning, HasSubstr("more than the whole 200 GiB budget: it runs alone"));
  EXPECT_TRUE(s.next(clock.now, quiet).empty());
}

TEST_F(SchedulerTest, ShortJobsBackfillOnlyWhenTheyDoNotDelayTheHead) {
  est.record("big", BuildKind::kGpu, 90 * GiB / 110 * 100, hours(4));  // reserves ~90 GiB
  est.record("running", BuildKind::kGpu, 50 * GiB / 110 * 100, hours(2));
  est.record("quick", BuildKind::kCpu, 20 * GiB / 110 * 100, hours(1));
  est.record("slow", BuildKind::kCpu, 20 * GiB / 110 * 100, hours(5));
  auto s = make(100 * GiB, 4);
  s.enqueue(gpu("running"));
  ASSERT_EQ(s.next(clock.now, quiet).size(), 1u);  // holds 50 GiB for 2 h
  s.enqueue(gpu("big"));                           // head: needs 90 GiB, in 2 h
  s.enqueue({"slow", BuildKind::kCpu, Origin::kInteractive, 0});
  s.enqueue({"quick", BuildKind::kCpu, Origin::kInteractive, 0});
  // quick ends within 1 h, before the head's shadow time; slow would still hold 20 GiB then,
  // and 90 + 20 > 100.
  EXPECT_EQ(names(s.next(clock.now, quiet)), std::vector<std::string>{"quick"});
  auto w = s.waiting(clock.now, quiet);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].variant, "big");
  EXPECT_THAT(w[1].reason, HasSubstr("waiting behind big, first in line (it should start in 2 h)"));
}

TEST_F(SchedulerTest, AnOverdueBuildStopsBackfilling) {
  est.record("big", BuildKind::kGpu, 90 * GiB / 110 * 100, hours(4));
  est.record("running", BuildKind::kGpu, 50 * GiB / 110 * 100, hours(1));
  est.record("quick", BuildKind::kCpu, 20 * GiB / 110 * 100, minutes(30));
  auto s = make(100 * GiB, 4);
  s.enqueue(gpu("running"));
  ASSERT_EQ(s.next(clock.now, quiet).size(), 1u);
  s.enqueue(gpu("big"));
  clock.advance(hours(3));  // "running" should have ended 2 h ago
  s.enqueue({"quick", BuildKind::kCpu, Origin::kInteractive, 0});
  EXPECT_TRUE(s.next(clock.now, quiet).empty());
}

TEST_F(SchedulerTest, RequeueWaitsForItsBackoffAndKeepsItsPlace) {
  auto s = make(1000 * GiB, 1);
  auto a = s.enqueue(gpu("a"));
  s.enqueue(gpu("b"));
  ASSERT_EQ(s.next(clock.now, quiet)[0].id, a.id);
  s.requeue(a.id, clock.now + minutes(4), "OOM kill, attempt 2 of 3");
  auto b = s.next(clock.now, quiet);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].variant, "b");
  EXPECT_EQ(s.waiting(clock.now, quiet)[0].reason,
            "waiting to retry in 4 min (OOM kill, attempt 2 of 3)");
  s.finished(b[0].id);
  clock.advance(minutes(5));
  EXPECT_EQ(s.next(clock.now, quiet)[0].id, a.id);
  EXPECT_EQ(s.enqueue(gpu("a")).id, a.id);
}

TEST_F(SchedulerTest, CancelRemovesOnlyQueuedJobs) {
  auto s = make(100 * GiB, 1);
  auto a = s.enqueue(gpu("a"));
  auto b = s.enqueue(gpu("b"));
  s.next(clock.now, quiet);
  EXPECT_FALSE(s.cancel(a.id));
  EXPECT_TRUE(s.cancel(b.id));
  EXPECT_TRUE(s.waiting(clock.now, quiet).empty());
  EXPECT_TRUE(s.enqueue(gpu("b")).created);
}

// Small builds (1 h, 40 of 100 GiB) arrive every 30 minutes for ever, so that two always run,
// staggered: whenever one ends, 60 GiB are free. A big build (90 GiB) waits first in line. A
// greedy scheduler would fill every freed 60 GiB with the next small build and never start it.
TEST_F(SchedulerTest, AStreamOfSmallJobsCannotStarveTheHead) {
  est.record("big", BuildKind::kGpu, 90 * GiB / 110 * 100, hours(4));
  auto s = make(100 * GiB, 8);
  std::multimap<TimePoint, JobId> ends;
  TimePoint big_started{};
  int n = 0;
  auto tick = [&] {
    while (!ends.empty() && ends.begin()->first <= clock.now) {
      s.finished(ends.begin()->second);
      ends.erase(ends.begin());
    }
    std::string name = "small" + std::to_string(n++);
    est.record(name, BuildKind::kCpu, 40 * GiB / 110 * 100, hours(1));
    s.enqueue({name, BuildKind::kCpu, Origin::kInteractive, 0});
    for (const auto& st : s.next(clock.now, quiet)) {
      if (st.variant == "big") big_started = clock.now;
      ends.emplace(clock.now + st.expected, st.id);
    }
  };
  tick();
  clock.advance(minutes(30));
  tick();
  ASSERT_EQ(ends.size(), 2u);
  s.enqueue(gpu("big"));
  for (int i = 0; i < 100 && big_started == TimePoint{}; ++i) {
    clock.advance(minutes(30));
    tick();
  }
  ASSERT_NE(big_started, TimePoint{}) << "the big build never started";
  EXPECT_EQ(big_started - TimePoint{}, minutes(90)) << "it starts when the two running end";
}

// Thousands of random job mixes on random hosts, run to completion on a fake clock with builds
// that overrun or undercut their estimates: the reserved memory never exceeds the budget, no
// variant runs twice at once, and every job runs.
TEST(SchedulerProperty, NeverOverTheBudgetAndEveryJobRuns) {
  std::mt19937_64 rng(20261125);
  for (int mix = 0; mix < 2000; ++mix) {
    SCOPED_TRACE("mix " + std::to_string(mix));
    std::uniform_int_distribution<int> budget_gib(32, 512), jobs_n(1, 40), slots_n(1, 8);
    const uint64_t budget = static_cast<uint64_t>(budget_gib(rng)) * GiB;
    Estimator est({.gpu_bytes = 48 * GiB, .cpu_bytes = 16 * GiB});
    // Every tenth mix with a small batch plan (about 100 tries; the plan is what costs time
    // here): the property holds whatever the plan's order.
    Scheduler s({.memory_budget = budget,
                 .max_parallel = static_cast<unsigned>(slots_n(rng)),
                 .plan_work = mix % 10 == 0 ? 200'000u : 0u},
                &est);
    const int n = jobs_n(rng);
    std::map<std::string, Duration> actual;
    std::uniform_int_distribution<int> mem_gib(4, 600), minutes_n(5, 300), prio(0, 2), coin(0, 1);
    for (int j = 0; j < n; ++j) {
      std::string name = "v" + std::to_string(j);
      if (coin(rng)) {
        est.record(name, BuildKind::kGpu, static_cast<uint64_t>(mem_gib(rng)) * GiB,
                   minutes(minutes_n(rng)));
      }
      actual[name] = minutes(minutes_n(rng));  // what the build really takes
      s.enqueue({name, coin(rng) ? BuildKind::kGpu : BuildKind::kCpu,
                 coin(rng) ? Origin::kBatch : Origin::kInteractive, prio(rng)});
    }
    TimePoint now{};
    Measurements quiet{.memory_pressure = 0.0, .mem_available = std::nullopt, .disks = {}};
    std::multimap<TimePoint, std::pair<JobId, std::string>> ends;
    std::set<std::string> done, running;
    for (int step = 0; step < 10 * n + 10 && done.size() < static_cast<size_t>(n); ++step) {
      for (const auto& st : s.next(now, quiet)) {
        ASSERT_TRUE(running.insert(st.variant).second) << st.variant << " started twice";
        ends.emplace(now + actual[st.variant], std::pair{st.id, st.variant});
      }
      ASSERT_LE(s.reserved(), budget);
      ASSERT_FALSE(ends.empty()) << "nothing runs, " << s.queued_count() << " jobs wait for ever";
      auto first = ends.begin();
      now = first->first;
      s.finished(first->second.first);
      running.erase(first->second.second);
      done.insert(first->second.second);
      ends.erase(first);
    }
    EXPECT_EQ(done.size(), static_cast<size_t>(n));
  }
}

}  // namespace
}  // namespace tvd::sched
