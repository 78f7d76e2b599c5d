// The store's file under faults of the host, on the real daemon (issue 22, item 6): deleted while
// tvd runs, a full disk at start, and a migration without room for it.
#include "schema/migrations.h"
#include "tests/integration/daemon_fixture.h"

namespace tvd::integration {
namespace {

class StoreFaultsTest : public DaemonTest {
 protected:
  fs::path state = dir / "state";
  fs::path db = state / "tvd.db";

  // A small tmpfs as the state directory; false where it cannot be mounted.
  bool small_state_disk(const std::string& size) {
    fs::create_directories(state);
    return testing::running_as_root() &&
           testing::run_command(
               {"mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", state.string()})
                   .exit_code == 0;
  }
  void TearDown() override {
    DaemonTest::TearDown();
    testing::run_command({"umount", "-l", state.string()});  // when it was mounted
  }
  // SQL on the store file, by another connection; what SQLite said when it failed.
  std::string sql(const std::string& text) {
    sqlite3* other = nullptr;
    sqlite3_open(db.c_str(), &other);
    char* error = nullptr;
    sqlite3_exec(other, text.c_str(), nullptr, nullptr, &error);
    std::string out = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(other);
    return out;
  }
  int user_version() {
    sqlite3* other = nullptr;
    sqlite3_open(db.c_str(), &other);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(other, "PRAGMA user_version", -1, &s, nullptr);
    const int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    sqlite3_close(other);
    return v;
  }
};

// Before: the daemon went on writing to the deleted file, and the next start found an empty
// store: every job, attempt and event gone, without a word.
TEST_F(StoreFaultsTest, AStoreDeletedUnderTheDaemonIsWrittenBackAtOnceWithNothingLost) {
  start();
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "cpu-avx2"}).exit_code, 0);
  ASSERT_EQ(settle()["jobs"][0]["state"], "succeeded");
  for (const char* f : {"tvd.db", "tvd.db-wal", "tvd.db-shm"})
    fs::remove(state / f);
  // A change between the deletion and the daemon noticing it is kept too.
  ASSERT_EQ(tvctl({"enqueue", "--no-publish", "sm89-avx2"}).exit_code, 0);
  const std::string said =
      "the store's file " + db.string() + " was deleted while tvd ran: tvd wrote back everything";
  EXPECT_TRUE(log_says(said)) << testing::read_text(dir / "serve.log");
  ASSERT_TRUE(fs::exists(db));
  settle();
  ASSERT_EQ(stop(SIGTERM), 0);
  start();  // on the file written back
  auto s = status();
  std::map<std::string, std::string> states;
  for (const auto& j : s["jobs"])
    states[j["package"].get<std::string>()] = j["state"].get<std::string>();
  EXPECT_THAT(states, ::testing::ElementsAre(::testing::Pair(cpu, "succeeded"),
                                             ::testing::Pair(sm89, "succeeded")))
      << s.dump();
  auto history = tvctl({"--json", "show", "1"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  EXPECT_EQ(json::parse(history.out)["attempts"].size(), 1u) << history.out;
}

// Before: "disk I/O error", with a hint about permissions.
TEST_F(StoreFaultsTest, AFullStateDiskAtStartIsCalledFull) {
  if (!small_state_disk("4m")) GTEST_SKIP() << "needs to mount a small tmpfs (root)";
  {
    std::ofstream filler(state / "filler", std::ios::binary);
    const std::string block(1 << 16, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size())))
      ;
  }
  auto r = testing::run_command({TVD_BIN, "serve", "--config", config.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("full")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("free space on the disk that holds"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("permissions")));
}

// Before: the migrations ran one transaction each, so a disk that filled half way left the
// store at a schema between the two releases, which the previous one refuses ("newer than the
// N this tvd knows").
TEST_F(StoreFaultsTest, AMigrationWithoutRoomForItChangesNothingAndSaysHowMuchItNeeds) {
  if (!small_state_disk("16m")) GTEST_SKIP() << "needs to mount a small tmpfs (root)";
  // A store of schema 7 (before environments), 6 MiB of history.
  std::string schema = "BEGIN;";
  for (int v = 0; v < 7; ++v)
    schema += std::string(schema::migrations()[v].sql) + "\n";
  schema += "PRAGMA user_version = 7; COMMIT;";
  ASSERT_EQ(sql(schema), "");
  ASSERT_EQ(sql("INSERT INTO variants (package, python, cpu_isa, kind, updated_at)"
                " VALUES ('a', 'python313', 'avx2', 'cpu', 1);"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                " INSERT INTO jobs (id, variant, state, phase, origin, publish, enqueued_at, error)"
                " SELECT i, 'a', 'failed', 'build', 'batch', 0, i, hex(randomblob(1000)) FROM n;"),
            "");
  ASSERT_EQ(user_version(), 7);
  auto r = testing::run_command({TVD_BIN, "serve", "--config", config.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, ::testing::MatchesRegex("(.|\n)*migrating " + db.string() +
                                             " \\([0-9.]+ MiB\\) from schema 7 to [0-9]+ needs "
                                             "about [0-9.]+ MiB free on its disk, and [0-9.]+ "
                                             "[KM]iB is free(.|\n)*"));
  EXPECT_THAT(r.err, HasSubstr("nothing was changed")) << r.err;
  EXPECT_EQ(user_version(), 7);
  // With room (the filler of an old log gone: here, a bigger disk), it migrates whole.
  testing::run_command({"mount", "-o", "remount,size=64m", state.string()});
  start();
  EXPECT_EQ(user_version(), store::Store::latest_version());
  EXPECT_EQ(status()["summary"]["failed"], 3000) << status().dump();
}

}  // namespace
}  // namespace tvd::integration
