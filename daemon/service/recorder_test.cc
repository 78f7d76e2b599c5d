// The recorder on a real SQLite store (WAL) that another connection locks, or that is full:
// changes wait and are written when the store takes them, commands are all or nothing.
#include "daemon/service/recorder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "tests/support/fake_clock.h"
#include "tests/support/scratch.h"

namespace tvd::service {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class RecorderTest : public ::testing::Test {
 protected:
  testing::ScratchDir dir;
  std::filesystem::path file = dir / "state" / "tvd.db";
  store::Store store = std::move(store::Store::open(file).value());
  testing::FakeClock clock;
  Recorder recorder{store, clock};
  sqlite3* other = nullptr;  // another process's connection, as sqlite3(1) or a backup has

  void SetUp() override {
    store.set_busy_timeout(Recorder::kBusyWait);
    store::VariantRow v;
    v.package = "torchvision-python313-cpu-avx2";
    v.python = "3.13";
    v.cpu_isa = "avx2";
    v.kind = "cpu";
    ASSERT_TRUE(store.sync_variants({v}, 0));
    ASSERT_EQ(sqlite3_open(file.c_str(), &other), SQLITE_OK);
  }
  void TearDown() override { sqlite3_close(other); }
  void lock() { ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), 0); }
  void unlock() { ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), 0); }

  static Change change(int64_t id, const std::string& state, const std::string& event = "") {
    Change c;
    c.job.id = id;
    c.job.package = "torchvision-python313-cpu-avx2";
    c.job.state = proto::kJobStates.parse(state).value();
    c.job.phase = proto::JobPhase::kBuild;
    c.job.origin = proto::Origin::kInteractive;
    c.job.enqueued_at = 1000;
    if (!event.empty()) {
      store::EventRow e;
      e.at = 1000 + id;
      e.job_id = id;
      e.variant.package = c.job.package;
      e.change.kind = proto::kEventKinds.parse(event).value_or(proto::EventKind::kStarted);
      e.change.to = proto::kJobStates.parse(state).value();
      e.change.phase = proto::JobPhase::kBuild;
      c.events.push_back(std::move(e));
    }
    return c;
  }
  std::string state_of(int64_t id) {
    auto row = store.job(id).value();
    return row ? proto::to_text(row->state) : "(none)";
  }
  int64_t events() {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(store.handle(), "SELECT count(*) FROM events", -1, &s, nullptr);
    sqlite3_step(s);
    auto n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
  }
};

TEST_F(RecorderTest, ALockedStoreKeepsTheNewestChangeAndItsEventsUntilItCatchesUp) {
  ASSERT_TRUE(recorder.record(change(1, "queued", "queued")));
  lock();
  EXPECT_FALSE(recorder.record(change(1, "building", "building")));
  EXPECT_FALSE(recorder.record(change(1, "succeeded", "succeeded")));
  ASSERT_NE(recorder.waiting(1), nullptr);
  EXPECT_EQ(recorder.waiting(1)->job.state, proto::JobState::kSucceeded);
  EXPECT_EQ(recorder.waiting(1)->events.size(), 2u);
  auto trouble = recorder.trouble();
  ASSERT_TRUE(trouble);
  EXPECT_THAT(trouble->error, HasSubstr("database is locked"));
  EXPECT_THAT(trouble->error, HasSubstr(file.string()));
  EXPECT_EQ(trouble->waiting, 1u);
  EXPECT_EQ(state_of(1), "queued");
  clock.advance(5s);  // catch-up tries every second, and fails while the lock is held
  EXPECT_EQ(state_of(1), "queued");
  EXPECT_GE(recorder.write_failures(), 5u);
  unlock();
  clock.advance(1s);
  EXPECT_EQ(state_of(1), "succeeded");
  EXPECT_EQ(events(), 3);
  EXPECT_EQ(recorder.waiting(1), nullptr);
  EXPECT_FALSE(recorder.trouble());
}

TEST_F(RecorderTest, ACommandIsRefusedWholeWhileTheStoreIsLockedAndAfterwardsWrittenWhole) {
  lock();
  bool ran = false;
  auto st = recorder.command([&]() -> Status {
    ran = true;
    recorder.record(change(1, "queued"));
    recorder.record(change(2, "cancelled"));
    return {};
  });
  ASSERT_FALSE(st);
  EXPECT_THAT(st.error().message, HasSubstr("the store cannot be written now"));
  EXPECT_THAT(st.error().message, HasSubstr("nothing was done"));
  EXPECT_THAT(st.error().hint, HasSubstr("fuser -v " + file.string()));
  EXPECT_FALSE(ran);  // refused before it acted
  unlock();
  st = recorder.command([&]() -> Status {
    EXPECT_TRUE(recorder.record(change(1, "queued")));
    EXPECT_TRUE(recorder.record(change(2, "cancelled")));
    return {};
  });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(state_of(1), "queued");
  EXPECT_EQ(state_of(2), "cancelled");
}

TEST_F(RecorderTest, AFullStoreFailsTheWholeCommandThenCatchesUpWhenThereIsRoom) {
  ASSERT_TRUE(recorder.record(change(1, "queued")));
  // No page more than the store has now: SQLite's "database or disk is full", as on a full disk.
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(store.handle(), "PRAGMA page_count", -1, &s, nullptr);
  sqlite3_step(s);
  const auto pages = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  ASSERT_EQ(
      sqlite3_exec(store.handle(), ("PRAGMA max_page_count = " + std::to_string(pages)).c_str(),
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  auto big = change(3, "failed");
  big.job.note = std::string(64 << 10, 'x');
  auto st = recorder.command([&]() -> Status {
    EXPECT_TRUE(recorder.record(change(2, "failed")));
    EXPECT_FALSE(recorder.record(big));
    return {};
  });
  ASSERT_FALSE(st);
  EXPECT_THAT(st.error().message, HasSubstr("full"));
  EXPECT_THAT(st.error().hint, HasSubstr("free space there"));
  EXPECT_EQ(state_of(2), "(none)");  // all or nothing
  EXPECT_EQ(state_of(3), "(none)");
  // Outside a command, the change waits; with room again, it is written.
  big.job.id = 4;
  EXPECT_FALSE(recorder.record(big));
  EXPECT_THAT(recorder.trouble()->error, HasSubstr("full"));
  ASSERT_EQ(
      sqlite3_exec(store.handle(), "PRAGMA max_page_count = 1073741823", nullptr, nullptr, nullptr),
      SQLITE_OK);
  clock.advance(1s);
  EXPECT_EQ(state_of(4), "failed");
  EXPECT_FALSE(recorder.trouble());
}

TEST_F(RecorderTest, AtShutdownTheWaitingChangesWaitLongerForTheLock) {
  lock();
  EXPECT_FALSE(recorder.record(change(1, "queued")));
  std::thread releaser([&] {
    std::this_thread::sleep_for(200ms);
    unlock();
  });
  EXPECT_TRUE(recorder.flush(5s));
  releaser.join();
  EXPECT_EQ(state_of(1), "queued");
}

}  // namespace
}  // namespace tvd::service
