// The store is the truth: what a user met when job state lived in the daemon's memory, on the
// real daemon and restarts of it (issue 11's regressions).
#include "daemon/matrix/matrix.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/support/http_client.h"

namespace tvd::integration {
namespace {

using ::testing::Not;

class StoreTruthTest : public DaemonTest {};

// The store is the truth: last night's failures can be retried after a restart, and a nightly
// after a restart still skips a permanent failure whose recipe and lock did not change.
TEST_F(StoreTruthTest, RetryAfterARestartAndStillFailingAcrossRestarts) {
  behave(sm89, "result=fail\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "--batch", "nightly", "sm89-avx2", "cpu-avx2"}).exit_code, 0);
  settle();
  ASSERT_EQ(stop(SIGTERM), 0);
  start();
  // The nightly again: the permanent failure is skipped, the success rebuilt.
  auto night = tvctl({"--json", "enqueue", "--batch", "nightly", "sm89-avx2", "cpu-avx2"});
  ASSERT_EQ(night.exit_code, 0) << night.err;
  auto skipped = json::parse(night.out)["skipped"];
  ASSERT_TRUE(skipped.contains(sm89)) << night.out;
  EXPECT_THAT(skipped[sm89].get<std::string>(),
              HasSubstr("still failing: torch-2.8.0: builder failed with exit code 2"));
  settle();
  EXPECT_EQ(calls("build " + sm89), 1u);
  // Fixed (the plan no longer fails), the job of last night is retried by its number.
  behave(sm89, "result=ok\n");
  ASSERT_EQ(stop(SIGTERM), 0);
  start();
  auto retry = tvctl({"retry", "1"});
  ASSERT_EQ(retry.exit_code, 0) << retry.out << retry.err;
  auto s = settle();
  EXPECT_EQ(calls("build " + sm89), 2u);
  bool succeeded = false;
  for (const auto& j : s["jobs"])
    succeeded = succeeded || (j["id"] == 1 && j["state"] == "succeeded");
  EXPECT_TRUE(succeeded) << s.dump();
}

// Mid-night: 3 failures among 28 finished jobs, the failures older than the last 20. status shows
// all 3 (each variant's newest job failed) and counts 28 from the store, not from the rows shown.
TEST_F(StoreTruthTest, StatusShowsEveryFailureAndCountsFromTheStore) {
  start();
  ASSERT_EQ(stop(SIGTERM), 0);  // the store exists and is migrated
  {
    auto store = store::Store::open(dir / "state" / "tvd.db").value();
    auto cells = std::vector<std::string>{};
    auto matrix = tvd::Matrix::embedded().value();
    for (const auto& v : matrix.cells())
      if (matrix.exclusions(v).empty()) cells.push_back(v.package());
    ASSERT_GE(cells.size(), 28u);
    for (int i = 0; i < 28; ++i) {
      store::JobRow j;
      j.id = i + 1;
      j.package = cells[static_cast<size_t>(i)];
      // the failures finished first
      j.state = i < 3 ? proto::JobState::kFailed : proto::JobState::kSucceeded;
      j.phase = proto::JobPhase::kBuild;
      j.origin = proto::Origin::kBatch;
      j.error = i < 3 ? "torch-2.8.0: builder failed with exit code 2" : "";
      j.enqueued_at = 1000;
      j.started_at = 1000;
      j.finished_at = 2000 + i;
      ASSERT_TRUE(store.save_job(j, {}));
    }
  }
  start();
  auto s = status();
  std::set<int64_t> shown;
  for (const auto& j : s["jobs"])
    shown.insert(j["id"].get<int64_t>());
  for (int64_t id : {1, 2, 3})
    EXPECT_TRUE(shown.count(id)) << "failed job " << id << " not shown: " << s.dump();
  EXPECT_EQ(s["summary"]["failed"], 3);
  EXPECT_EQ(s["summary"]["succeeded"], 25);
  EXPECT_THAT(tvctl({"status"}).out, HasSubstr("3 failed, 25 succeeded"));
}

// Prometheus counters never count an attempt twice (a retry shows the old attempts again) and
// never go down across a restart (which counts the store's history again).
TEST_F(StoreTruthTest, CountersNeitherMoveOnARetryNorDropOnARestart) {
  behave(cpu, "result=fail\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  settle();
  auto count = [&](const std::string& outcome) {
    auto m = testing::http_get(http_port(), "/metrics");
    EXPECT_EQ(m.status, 200);
    const std::string key = "tvd_build_duration_seconds_count{outcome=\"" + outcome + "\"} ";
    auto at = m.body.find(key);
    return at == std::string::npos ? -1 : std::stoi(m.body.substr(at + key.size()));
  };
  EXPECT_EQ(count("failed"), 1);
  behave(cpu, "result=ok\n");
  ASSERT_EQ(tvctl({"retry", "1"}).exit_code, 0);
  settle();
  EXPECT_EQ(count("failed"), 1);  // the first attempt, counted once
  EXPECT_EQ(count("succeeded"), 1);
  ASSERT_EQ(stop(SIGTERM), 0);
  start();
  EXPECT_EQ(count("failed"), 1);
  EXPECT_EQ(count("succeeded"), 1);

  // After a restart the job is retried again (from the store); its old attempts stay counted once.
  behave(cpu, "result=fail\n");
  ASSERT_EQ(tvctl({"enqueue", "--force", "cpu-avx2"}).exit_code, 0);
  settle();
  ASSERT_EQ(stop(SIGTERM), 0);
  start();
  const int failed_before = count("failed");
  behave(cpu, "result=ok\n");
  ASSERT_EQ(tvctl({"retry", "2"}).exit_code, 0);
  settle();
  EXPECT_EQ(count("failed"), failed_before);
  EXPECT_EQ(count("succeeded"), 2);
}

// A start reads what the daemon learned as attempts ended (a row per bucket and per variant),
// not the history: with every attempt row gone, /metrics and the reservation are what they were.
TEST_F(StoreTruthTest, AStartReadsWhatWasLearnedNotTheHistory) {
  behave(cpu, "result=fail\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  settle();
  auto failed = [&] {
    auto m = testing::http_get(http_port(), "/metrics");
    const std::string key = "tvd_build_duration_seconds_count{outcome=\"failed\"} ";
    auto at = m.body.find(key);
    return at == std::string::npos ? -1 : std::stoi(m.body.substr(at + key.size()));
  };
  ASSERT_EQ(failed(), 1);
  ASSERT_EQ(stop(SIGTERM), 0);
  {
    auto store = store::Store::open(dir / "state" / "tvd.db").value();
    ASSERT_EQ(sqlite3_exec(store.handle(), "DELETE FROM attempts", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  start();
  EXPECT_EQ(failed(), 1);
}

// After a reboot the process group a crash left recorded may be anyone's: recovery kills only
// a group that can still be the attempt's run, and leaves a stranger alone.
TEST_F(StoreTruthTest, RecoveryDoesNotKillAStrangerWithARecordedGroupId) {
  pid_t stranger =
      testing::spawn_logged({"/usr/bin/setsid", "/bin/sleep", "300"}, dir / "stranger.log");
  ASSERT_GT(stranger, 0);
  std::this_thread::sleep_for(200ms);  // setsid has made it a group leader
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  start();
  ASSERT_EQ(stop(SIGTERM), 0);  // the store exists and knows the variants
  {
    auto store = store::Store::open(dir / "state" / "tvd.db").value();
    store::JobRow j;
    j.id = 1;
    j.package = "torchvision-python313-cpu-avx2";
    j.state = proto::JobState::kBuilding;
    j.phase = proto::JobPhase::kBuild;
    j.origin = proto::Origin::kInteractive;
    j.build_tries = 1;
    j.enqueued_at = now - 7300;
    j.started_at = now - 7200;
    store::AttemptRow a;
    a.job_id = 1;
    a.number = 1;
    a.phase = proto::JobPhase::kBuild;
    a.started_at = now - 7200;  // two hours before the stranger started
    a.log_path = (dir / "old.log").string();
    a.pgid = stranger;
    ASSERT_TRUE(store.save_job(j, {a}));
  }
  start();
  settle();
  EXPECT_TRUE(testing::process_alive(stranger)) << "recovery killed an unrelated process group";
  EXPECT_THAT(testing::read_text(dir / "serve.log"),
              HasSubstr("not killing process group " + std::to_string(stranger)));
  ::kill(-stranger, SIGKILL);
  ::waitpid(stranger, nullptr, 0);
}

// Another process holds a write transaction on tvd.db while a build ends (sqlite3, a backup): the
// daemon goes on answering, shows the truth, starts no publish the store does not know of,
// refuses an enqueue it cannot record, and once the lock is gone writes what waited and
// publishes. After a restart nothing is built or published again.
TEST_F(StoreTruthTest, ALockedStoreDuringABuildLosesNothingAndRepeatsNothing) {
  behave(cpu, "seconds=1.5\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  for (int i = 0; i < 100 && status()["jobs"][0]["phase"] != "build"; ++i)
    std::this_thread::sleep_for(50ms);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "state" / "tvd.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  first_job_in("publishing");  // the build ended meanwhile: its change waits

  const auto asked = std::chrono::steady_clock::now();
  auto s = status();
  const auto took = std::chrono::steady_clock::now() - asked;
  RecordProperty(
      "status_ms_while_locked",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  ASSERT_EQ(s["jobs"].size(), 1u);
  EXPECT_EQ(s["jobs"][0]["state"], "publishing") << s.dump();  // not the store's "building"
  ASSERT_FALSE(s["gates"].empty());
  EXPECT_THAT(s["gates"][0].get<std::string>(), HasSubstr("the store cannot be written since"));
  EXPECT_THAT(s["gates"][0].get<std::string>(), HasSubstr("database is locked"));
  EXPECT_EQ(calls("publish acme"), 0u);
  auto refused = tvctl({"enqueue", "sm89-avx2"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, HasSubstr("the store cannot be written now"));
  EXPECT_THAT(refused.err, HasSubstr("Nothing was queued."));
  auto metrics = testing::http_get(http_port(), "/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("tvd_store_waiting_jobs 1"));
  // The pages and /metrics show what tvctl shows (the change that waits), not the store's older
  // "building": they read the service, never the store.
  EXPECT_THAT(metrics.body,
              HasSubstr("tvd_jobs{environment=\"default\",state=\"publishing\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("tvd_jobs{environment=\"default\",state=\"building\"} 0\n"));
  auto job_page = testing::http_get(http_port(), "/job/1");
  EXPECT_THAT(job_page.body, HasSubstr(">publishing (publish)</td>"));
  auto variant_page = testing::http_get(http_port(), "/variant/" + cpu);
  EXPECT_THAT(variant_page.body, HasSubstr("publishing"));
  EXPECT_THAT(variant_page.body, Not(HasSubstr(">building<")));

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  s = settle();
  ASSERT_EQ(s["jobs"].size(), 1u) << s.dump();  // the refused enqueue left no job
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded");
  // (A note on /nix/store's disk gate is not about tvd's store.)
  EXPECT_THAT(s["gates"].dump(), Not(HasSubstr("the store cannot be written"))) << s.dump();
  EXPECT_THAT(testing::read_text(dir / "serve.log"), HasSubstr("the store is written again"));
  ASSERT_EQ(stop(SIGTERM), 0);
  start();
  s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded");
  EXPECT_EQ(calls("build " + cpu), 1u);
  EXPECT_EQ(calls("publish acme " + cpu), 1u);
}

// The state directory's disk fills up while a build runs (here: a 16 MiB tmpfs, filled to the
// last byte): as with a locked store, the change waits, nothing starts that the store does not
// know of, status says why, and once there is room again it is written and the job publishes.
// After a restart nothing is built or published again.
TEST_F(StoreTruthTest, AFullStateDirectoryDuringABuildLosesNothingAndRepeatsNothing) {
  const fs::path state = dir / "state";
  fs::create_directories(state);
  if (!testing::running_as_root() ||
      testing::run_command({"mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", state.string()})
              .exit_code != 0) {
    GTEST_SKIP() << "needs to mount a small tmpfs (root with CAP_SYS_ADMIN)";
  }
  struct Unmount {
    fs::path at;
    ~Unmount() { testing::run_command({"umount", "-l", at.string()}); }
  } unmount{state};
  std::string text = testing::read_text(config);
  text.replace(text.find("\"scheduler\": {"), 14, "\"scheduler\": {\"min_free_disk\": \"1KiB\", ");
  testing::write_text(config, text);
  behave(cpu, "seconds=1.5\n");
  start();
  ASSERT_EQ(tvctl({"enqueue", "cpu-avx2"}).exit_code, 0);
  for (int i = 0; i < 100 && status()["jobs"][0]["phase"] != "build"; ++i)
    std::this_thread::sleep_for(50ms);
  {
    std::ofstream filler(state / "filler", std::ios::binary);
    const std::string block(1 << 16, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size())))
      ;
  }
  auto s = first_job_in("publishing");  // the build ended meanwhile: its change waits
  ASSERT_FALSE(s["gates"].empty()) << s.dump();
  EXPECT_THAT(s["gates"][0].get<std::string>(), HasSubstr("the store cannot be written since"));
  EXPECT_THAT(s["gates"][0].get<std::string>(), HasSubstr("full"));
  EXPECT_EQ(calls("publish acme"), 0u);

  fs::remove(state / "filler");
  s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded") << s.dump();
  ASSERT_EQ(stop(SIGTERM), 0);
  start();
  s = settle();
  EXPECT_EQ(s["jobs"][0]["state"], "succeeded");
  EXPECT_EQ(calls("build " + cpu), 1u);
  EXPECT_EQ(calls("publish acme " + cpu), 1u);
  stop(SIGTERM);
}

// At start, a store another process holds locked, or a file that is not a database, is an
// error that names the file and says what to do; nothing starts.
TEST_F(StoreTruthTest, AtStartALockedOrForeignDatabaseIsAClearErrorNamingIt) {
  start();
  ASSERT_EQ(stop(SIGTERM), 0);
  const fs::path db = dir / "state" / "tvd.db";
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto locked = testing::run_command({TVD_BIN, "serve", "--config", config.string()});
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_NE(locked.exit_code, 0);
  EXPECT_THAT(locked.err, HasSubstr(db.string() + ": database is locked"));
  EXPECT_THAT(locked.err, HasSubstr("fuser -v " + db.string()));

  for (const char* f : {"tvd.db-wal", "tvd.db-shm"})
    fs::remove(dir / "state" / f);
  testing::write_text(db, std::string(8192, 'z'));  // not SQLite's
  auto foreign = testing::run_command({TVD_BIN, "serve", "--config", config.string()});
  EXPECT_NE(foreign.exit_code, 0);
  EXPECT_THAT(foreign.err, HasSubstr(db.string()));
  EXPECT_THAT(foreign.err, HasSubstr("file is not a database"));
}

}  // namespace
}  // namespace tvd::integration
