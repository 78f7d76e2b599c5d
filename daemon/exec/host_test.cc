#include "daemon/exec/host.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace tvd::exec {
namespace {

TEST(Host, ParsesMeminfo) {
  auto m = parse_meminfo(
      "MemTotal:       263856028 kB\nMemFree:  1000 kB\nMemAvailable:   200000000 kB\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->total, 263856028ull * 1024);
  EXPECT_EQ(m->available, 200000000ull * 1024);
  EXPECT_FALSE(parse_meminfo("MemTotal: 5 kB\n"));  // no MemAvailable: the gate is off
}

TEST(Host, ParsesMemoryPressure) {
  auto p = parse_memory_pressure(
      "some avg10=1.50 avg60=0.80 avg300=0.10 total=12345\n"
      "full avg10=23.47 avg60=5.00 avg300=1.00 total=6789\n");
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(*p, 23.47);
  EXPECT_FALSE(parse_memory_pressure("some avg10=1.50\n"));
}

TEST(Host, ParsesCgroupLimits) {
  EXPECT_EQ(parse_cgroup_limit("68719476736\n"), 68719476736ull);
  EXPECT_FALSE(parse_cgroup_limit("max\n"));
}

TEST(Host, ParsesProcStatWithAnAwkwardName) {
  // The name is "(cc1plus) x)": only the last ')' ends it.
  auto st = parse_proc_stat(
      "4242 ((cc1plus) x)) R 4200 4100 4100 0 -1 4194560 100 0 0 0 50 3 0 0 20 0 1 0 99 "
      "123456789 30000 18446744073709551615");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pgrp, 4100);
  EXPECT_EQ(st->rss_pages, 30000u);
}

TEST(Host, ReadsThisMachine) {
  auto m = read_meminfo();
  ASSERT_TRUE(m);
  EXPECT_GT(m->total, 0u);
  EXPECT_GT(group_rss(::getpgrp()), 0u);
  EXPECT_TRUE(free_disk("/"));
  EXPECT_GE(online_cores(), 1u);
}

TEST(Host, AProcessKnowsWhenItStartedAndARecordedGroupIsCheckedBeforeAKill) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto me = process_started_at(::getpid());
  ASSERT_TRUE(me);
  EXPECT_LE(*me, now + 1);
  EXPECT_GT(*me, now - 3600);  // this test started within the hour
  // This process, recorded as a run of an hour before it started: not ours to kill.
  EXPECT_FALSE(may_be_our_run(::getpid(), *me - 3600, {"flox", "git"}));
  // Started when the run did, but running neither flox nor git: not ours either.
  EXPECT_FALSE(may_be_our_run(::getpid(), *me, {"no-such-program-name"}));
  // A group whose leader is gone may still hold the run's children.
  EXPECT_TRUE(may_be_our_run(4194303, *me, {"flox"}));
}

// A build's group as the runner makes it (a session of its own) with a child and a grandchild:
// group_rss walks the leader's descendants and finds the same members as a scan of all /proc.
TEST(Host, GroupRssCountsTheLeaderAndItsDescendantsInTheGroup) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  const char* argv[] = {"/bin/sh", "-c", "sleep 30 & (sleep 30 & wait) & wait", nullptr};
  pid_t leader = 0;
  ASSERT_EQ(posix_spawn(&leader, "/bin/sh", nullptr, &attr, const_cast<char**>(argv), environ), 0);
  posix_spawnattr_destroy(&attr);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // What a scan of every process finds in the group.
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t scanned = 0;
  int members = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "stat");
    std::stringstream text;
    text << in.rdbuf();
    if (auto st = parse_proc_stat(text.str()); st && st->pgrp == leader) {
      scanned += st->rss_pages * page;
      ++members;
    }
  }
  const uint64_t walked = group_rss(leader);
  ::kill(-leader, SIGKILL);
  ::waitpid(leader, nullptr, 0);
  EXPECT_GE(members, 4);  // sh, sleep, the subshell, its sleep
  EXPECT_EQ(walked, scanned);
}

}  // namespace
}  // namespace tvd::exec
