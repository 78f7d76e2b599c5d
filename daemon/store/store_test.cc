#include "daemon/store/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "daemon/store/store_fixture.h"

namespace tvd::store {
namespace {

using ::testing::HasSubstr;

std::string pragma(const Store& s, const char* sql) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(s.handle(), sql, -1, &st, nullptr);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW)
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return out;
}

VariantRow variant(std::string package, std::string environment = "default") {
  return {environment, package,      "python313", "12.8",       "sm89",      "avx2",
          "gpu",       std::nullopt, true,        std::nullopt, std::nullopt};
}

// A package of the default environment.
VariantKey key(std::string package) {
  return {"default", std::move(package)};
}

constexpr auto kBuild = proto::JobPhase::kBuild;
constexpr auto kPublish = proto::JobPhase::kPublish;
constexpr auto kSucceeded = proto::AttemptOutcome::kSucceeded;
constexpr auto kFailed = proto::AttemptOutcome::kFailed;
constexpr auto kOom = proto::Failure::kOutOfMemory;

JobRow job(int64_t id, std::string variant, std::string_view state) {
  JobRow j;
  j.id = id;
  j.package = std::move(variant);
  j.state = proto::kJobStates.parse(state).value();
  j.phase = proto::JobPhase::kBuild;
  j.origin = proto::Origin::kInteractive;
  j.enqueued_at = 1000 + id;
  return j;
}

// The first attempt of job `job`, a build started at `start` in process group `pgid`, running.
AttemptRow running_build(int64_t job, int64_t start, int64_t pgid) {
  AttemptRow a;
  a.job_id = job;
  a.number = 1;
  a.phase = proto::JobPhase::kBuild;
  a.started_at = start;
  a.pgid = pgid;
  return a;
}

class StoreTest : public StoreFixture {};

TEST_F(StoreTest, OpensInWalModeAndMigrates) {
  Store s = open();
  EXPECT_EQ(pragma(s, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma(s, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(s.schema_version(), Store::latest_version());
  EXPECT_GE(Store::latest_version(), 1);
  EXPECT_EQ(s.integrity_check().value(), "ok");
}

TEST_F(StoreTest, ReopeningChangesNothingAndANewerDatabaseIsRefused) {
  { open(); }
  { EXPECT_EQ(open().schema_version(), Store::latest_version()); }
  {
    Store s = open();
    sqlite3_exec(s.handle(), "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  }
  auto refused = Store::open(file);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kConflict);
  EXPECT_THAT(refused.error().message, HasSubstr("schema version 99, newer than the"));
}

TEST_F(StoreTest, VariantsFollowTheMatrixAndRetiredOnesKeepTheirHistory) {
  Store s = open();
  ASSERT_TRUE(s.sync_variants({variant("a"), variant("b")}, 1));
  ASSERT_TRUE(s.save_job(job(1, "b", "succeeded"), {}));
  auto next = variant("a");
  next.excluded = "sm89 needs more";
  ASSERT_TRUE(s.sync_variants({next, variant("c")}, 2));
  auto rows = s.variants().value();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].excluded, "sm89 needs more");
  EXPECT_FALSE(rows[1].in_matrix);  // b retired
  EXPECT_TRUE(rows[2].in_matrix);
  EXPECT_EQ(s.job(1).value()->package, "b");
}

TEST_F(StoreTest, JobsAndAttemptsAreSavedAsTheyChange) {
  Store s = open();
  ASSERT_TRUE(s.sync_variants({variant("a")}, 1));
  auto j = job(7, "a", "building");
  AttemptRow a = running_build(7, 2000, 4242);
  a.log_path = "/logs/7-1.log";
  ASSERT_TRUE(s.save_job(j, {a}));
  j.state = proto::JobState::kFailed;
  j.error = "the build failed";
  j.finished_at = 3000;
  a.ended_at = 3000;
  a.outcome = proto::AttemptOutcome::kFailed;
  a.exit_code = 1;
  ASSERT_TRUE(s.save_job(j, {a}));
  auto back = s.job(7).value().value();
  EXPECT_EQ(back.state, proto::JobState::kFailed);
  EXPECT_EQ(back.error, "the build failed");
  auto attempts = s.attempts(7).value();
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].exit_code, 1);
  EXPECT_EQ(attempts[0].pgid, 4242);
  EXPECT_EQ(s.max_job_id().value(), 7);
}

TEST_F(StoreTest, EventsAreTypedAndReadAfterACursor) {
  Store s = open();
  ASSERT_TRUE(s.sync_variants({variant("a")}, 1));
  ASSERT_TRUE(s.save_job(job(7, "a", "failed"), {}));
  EventRow queued;
  queued.at = 10;
  queued.job_id = 7;
  queued.variant = {"default", "a"};
  EventRow failed = queued;
  failed.at = 20;
  failed.change = {proto::EventKind::kFailed,    proto::JobState::kBuilding,
                   proto::JobState::kFailed,     proto::JobPhase::kBuild,
                   proto::Failure::kOutOfMemory, "killed by the kernel"};
  ASSERT_TRUE(s.add_event(queued));
  ASSERT_TRUE(s.add_event(failed));
  auto all = s.events_after(0, 10).value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(describe(all[0].change), "queued ->queued recipe");
  EXPECT_EQ(all[0].change.failure, proto::Failure::kNone);
  EXPECT_EQ(describe(all[1].change), "failed building>failed build");
  EXPECT_EQ(all[1].change.failure, proto::Failure::kOutOfMemory);
  EXPECT_EQ(all[1].change.reason, "killed by the kernel");
  EXPECT_EQ(all[1].variant.text(), "a");
  EXPECT_EQ(all[1].at, 20);
  EXPECT_EQ(s.events_after(all[0].id, 10).value().size(), 1u);
  EXPECT_TRUE(s.events_after(all[1].id, 10).value().empty());
  // An event of no job is refused: every event is a job's.
  EventRow orphan = queued;
  orphan.job_id = 99;
  EXPECT_FALSE(s.add_event(orphan));
}

TEST_F(StoreTest, AVariantHasAtMostOneActiveJob) {
  Store s = open();
  ASSERT_TRUE(s.sync_variants({variant("a")}, 1));
  ASSERT_TRUE(s.save_job(job(1, "a", "queued"), {}));
  auto second = s.save_job(job(2, "a", "building"), {});
  ASSERT_FALSE(second);
  EXPECT_THAT(second.error().message, HasSubstr("UNIQUE"));
  EXPECT_EQ(s.active_jobs().value().size(), 1u);
  ASSERT_TRUE(s.save_job(job(3, "a", "succeeded"), {}));  // finished jobs may be many
  auto unknown = s.save_job(job(4, "nope", "queued"), {});
  EXPECT_FALSE(unknown);  // foreign key
}

TEST_F(StoreTest, RecoveryInterruptsWhatWasRunning) {
  Store s = open();
  ASSERT_TRUE(s.sync_variants({variant("a")}, 1));
  AttemptRow running = running_build(1, 2000, 777);
  ASSERT_TRUE(s.save_job(job(1, "a", "building"), {running}));
  auto interrupted = s.interrupt_running_attempts(5000).value();
  ASSERT_EQ(interrupted.size(), 1u);
  EXPECT_EQ(interrupted[0].pgid, 777);
  auto after = s.attempts(1).value();
  EXPECT_EQ(after[0].outcome, proto::AttemptOutcome::kInterrupted);
  EXPECT_EQ(after[0].ended_at, 5000);
  EXPECT_TRUE(s.interrupt_running_attempts(6000).value().empty());
}

TEST_F(StoreTest, RecentJobsAreTheActiveOnesAndTheLastFinished) {
  Store s = open();
  ASSERT_TRUE(s.sync_variants({variant("a"), variant("b")}, 1));
  for (int64_t i = 1; i <= 5; ++i) {
    auto j = job(i, "b", "succeeded");
    j.finished_at = 100 + i;
    ASSERT_TRUE(s.save_job(j, {}));
  }
  ASSERT_TRUE(s.save_job(job(6, "a", "queued"), {}));
  auto r = s.recent_jobs(2).value();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].id, 6);
  EXPECT_EQ(r[1].id, 5);
  EXPECT_EQ(r[2].id, 4);
}

AttemptRow ended(int64_t job, int number, proto::JobPhase phase, proto::AttemptOutcome outcome,
                 int64_t start, int64_t seconds, std::optional<int64_t> peak,
                 proto::Failure failure = proto::Failure::kNone) {
  AttemptRow a;
  a.job_id = job;
  a.number = number;
  a.phase = phase;
  a.started_at = start;
  a.ended_at = start + seconds;
  a.outcome = outcome;
  a.failure = failure;
  a.peak_memory = peak;
  return a;
}

// Jobs are counted by environment and state (/metrics' tvd_jobs); a change of state moves a job
// within its environment; the state counts are their sums.
TEST_F(StoreTest, JobsAreCountedByEnvironment) {
  Store s = open();
  ASSERT_TRUE(s.sync_variants({variant("a"), variant("a", "pytorch"), variant("b", "pytorch")}, 1));
  auto in = [](JobRow j, std::string environment) {
    j.environment = std::move(environment);
    return j;
  };
  ASSERT_TRUE(s.save_job(job(1, "a", "queued"), {}));
  ASSERT_TRUE(s.save_job(in(job(2, "a", "queued"), "pytorch"), {}));
  ASSERT_TRUE(s.save_job(in(job(3, "b", "failed"), "pytorch"), {}));
  ASSERT_TRUE(s.save_job(in(job(2, "a", "succeeded"), "pytorch"), {}));
  using Counts = std::map<std::pair<std::string, std::string>, int64_t>;
  EXPECT_EQ(s.job_counts_by_environment().value(), (Counts{{{"default", "queued"}, 1},
                                                           {{"pytorch", "failed"}, 1},
                                                           {{"pytorch", "succeeded"}, 1}}));
  EXPECT_EQ(s.job_counts().value(),
            (std::map<std::string, int64_t>{{"queued", 1}, {"failed", 1}, {"succeeded", 1}}));
}

TEST_F(StoreTest, TheDashboardsQueriesReadTheNewestJobsCountsAndBatches) {
  Store s = open();
  ASSERT_TRUE(s.sync_variants({variant("a"), variant("b"), variant("c")}, 1));
  const int64_t night = s.create_batch("nightly", 1000).value();
  auto in_batch = [&](JobRow j) {
    j.batch_id = night;
    return j;
  };
  ASSERT_TRUE(s.save_job(in_batch(job(1, "a", "failed")),
                         {ended(1, 1, kBuild, kFailed, 1000, 50, 3 << 20, kOom)}));
  ASSERT_TRUE(s.save_job(in_batch(job(2, "b", "succeeded")),
                         {ended(2, 1, kBuild, kSucceeded, 1000, 300, 9 << 20),
                          ended(2, 2, kPublish, kSucceeded, 1300, 20, std::nullopt)}));
  ASSERT_TRUE(
      s.save_job(job(3, "a", "succeeded"), {ended(3, 1, kBuild, kSucceeded, 2000, 100, 5 << 20)}));
  ASSERT_TRUE(s.save_job(job(4, "c", "queued"), {}));
  ASSERT_TRUE(s.add_batch_skip(night, key("c"), "excluded"));
  ASSERT_TRUE(s.create_batch("manual", 1500));

  auto last = s.last_jobs().value();
  ASSERT_EQ(last.size(), 3u);
  EXPECT_EQ(last[key("a")].id, 3);  // the newest job, not the first
  EXPECT_EQ(last[key("a")].state, proto::JobState::kSucceeded);
  EXPECT_EQ(last[key("c")].state, proto::JobState::kQueued);

  auto of_a = s.variant_jobs(key("a"), 10).value();
  ASSERT_EQ(of_a.size(), 2u);
  EXPECT_EQ(of_a[0].id, 3);
  EXPECT_EQ(s.variant_jobs(key("a"), 1).value().size(), 1u);
  EXPECT_TRUE(s.variant_jobs(key("nope"), 10).value().empty());

  auto counts = s.job_counts().value();
  EXPECT_EQ(counts["succeeded"], 2);
  EXPECT_EQ(counts["failed"], 1);
  EXPECT_EQ(counts["queued"], 1);

  auto nightly = s.last_batch("nightly").value();
  ASSERT_TRUE(nightly);
  EXPECT_EQ(nightly->id, night);  // not the newer batch of another name
  EXPECT_EQ(nightly->states["failed"], 1);
  EXPECT_EQ(nightly->skipped.size(), 1u);
  EXPECT_FALSE(s.last_batch("weekly").value());

  auto builds = s.batch_builds(night).value();
  EXPECT_EQ(builds.builds, 2);  // the publish attempt is not a build
  EXPECT_EQ(builds.build_seconds, 350);
  EXPECT_EQ(builds.peak_memory, 9 << 20);

  std::vector<std::string> seen;
  ASSERT_TRUE(s.each_ended_attempt([&](const Store::EndedAttempt& e) {
    seen.push_back(e.variant.text() + " " + e.kind + " " + proto::to_text(e.phase) + " " +
                   proto::to_text(e.outcome) + " " + proto::to_text(e.failure) + " " +
                   std::to_string(e.seconds) + " " +
                   (e.peak_memory ? std::to_string(*e.peak_memory >> 20) + "M" : "-"));
  }));
  EXPECT_THAT(seen, ::testing::ElementsAre(
                        "a gpu build failed out-of-memory 50 3M", "b gpu build succeeded  300 9M",
                        "b gpu publish succeeded  20 -", "a gpu build succeeded  100 5M"));
}

TEST_F(StoreTest, AnUnwritableDirectoryIsAClearError) {
  testing::write_text(dir / "file", "x");
  auto s = Store::open(dir / "file" / "tvd.db");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("cannot open the database"));
}

// Jobs by state and each variant's newest job are kept by triggers in the same transaction as
// each change: after inserts, state changes and upserts they equal what a full count says.
TEST_F(StoreTest, TheAggregatesFollowEveryChange) {
  auto s = open();
  ASSERT_TRUE(s.sync_variants({variant("a"), variant("b"), variant("c")}, 1));
  ASSERT_TRUE(s.save_job(job(1, "a", "queued"), {}));
  ASSERT_TRUE(s.save_job(job(2, "b", "queued"), {}));
  ASSERT_TRUE(s.save_job(job(1, "a", "building"), {}));
  ASSERT_TRUE(s.save_job(job(1, "a", "failed"), {}));
  ASSERT_TRUE(s.save_job(job(3, "a", "queued"), {}));
  ASSERT_TRUE(s.save_job(job(3, "a", "succeeded"), {}));
  ASSERT_TRUE(s.save_job(job(2, "b", "cancelled"), {}));
  ASSERT_TRUE(s.save_job(job(4, "c", "building"), {}));
  auto counts = s.job_counts().value();
  EXPECT_EQ(counts, (std::map<std::string, int64_t>{
                        {"failed", 1}, {"succeeded", 1}, {"cancelled", 1}, {"building", 1}}));
  auto last = s.last_jobs().value();
  ASSERT_EQ(last.size(), 3u);
  EXPECT_EQ(last.at(key("a")).id, 3);
  EXPECT_EQ(last.at(key("b")).id, 2);
  EXPECT_EQ(last.at(key("c")).id, 4);
  // A failed change leaves the aggregates as they were (the trigger is in its transaction).
  auto bad = job(5, "nope", "queued");  // no such variant: the foreign key refuses it
  EXPECT_FALSE(s.save_job(bad, {}));
  EXPECT_EQ(s.job_counts().value(), counts);
}

// What the dashboard, /metrics and status read never scans the jobs or the attempts: every
// statement those reads run is planned without a full scan of either (EXPLAIN QUERY PLAN).
TEST_F(StoreTest, TheDashboardsReadsScanNoHistory) {
  auto s = open();
  ASSERT_TRUE(s.sync_variants({variant("a"), variant("b")}, 1));
  ASSERT_TRUE(s.save_job(job(1, "a", "failed"), {}));
  std::vector<std::string> statements;
  sqlite3_trace_v2(
      s.handle(), SQLITE_TRACE_STMT,
      [](unsigned, void* out, void* stmt, void*) {
        char* sql = sqlite3_expanded_sql(static_cast<sqlite3_stmt*>(stmt));
        if (sql) static_cast<std::vector<std::string>*>(out)->push_back(sql);
        sqlite3_free(sql);
        return 0;
      },
      &statements);
  ASSERT_TRUE(s.job_counts());
  ASSERT_TRUE(s.last_jobs());
  ASSERT_TRUE(s.failing_jobs());
  ASSERT_TRUE(s.still_failing());
  ASSERT_TRUE(s.variant_jobs(key("a"), 10));
  sqlite3_trace_v2(s.handle(), 0, nullptr, nullptr);
  ASSERT_GE(statements.size(), 5u);
  for (const auto& sql : statements) {
    sqlite3_stmt* plan = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(s.handle(), ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &plan, nullptr),
        SQLITE_OK)
        << sql;
    std::string steps;
    while (sqlite3_step(plan) == SQLITE_ROW)
      steps += std::string(reinterpret_cast<const char*>(sqlite3_column_text(plan, 3))) + "; ";
    sqlite3_finalize(plan);
    EXPECT_EQ(steps.find("SCAN jobs"), std::string::npos) << sql << "\n" << steps;
    EXPECT_EQ(steps.find("SCAN attempts"), std::string::npos) << sql << "\n" << steps;
  }
}

// What the daemon learned is kept: counts add up, a variant's estimate is replaced, the mark
// says the history was replayed, and relearning forgets all of it.
TEST_F(StoreTest, WhatWasLearnedIsKeptAndCanBeForgotten) {
  auto s = open();
  EXPECT_FALSE(s.history_learned().value());
  ASSERT_TRUE(s.add_attempt_counts({{kBuild, kFailed, kOom, 3, 1, 600}}));
  ASSERT_TRUE(s.add_attempt_counts({{kBuild, kFailed, kOom, 3, 2, 900},
                                    {kPublish, kSucceeded, proto::Failure::kNone, 1, 1, 10}}));
  ASSERT_TRUE(s.save_learned({{key("a"), "gpu", 40.0 * (1ull << 30), 7200.0}}));
  ASSERT_TRUE(s.save_learned({{key("a"), "gpu", 42.0 * (1ull << 30), std::nullopt}}));
  ASSERT_TRUE(s.mark_history_learned());
  auto counts = s.attempt_counts().value();
  ASSERT_EQ(counts.size(), 2u);
  for (const auto& c : counts) {
    if (c.phase == kBuild) {
      EXPECT_EQ(c.n, 3);
      EXPECT_EQ(c.seconds, 1500);
    }
  }
  auto learned = s.learned().value();
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].peak, 42.0 * (1ull << 30));
  EXPECT_FALSE(learned[0].duration);
  EXPECT_TRUE(s.history_learned().value());
  ASSERT_TRUE(s.relearn_from_history());
  EXPECT_FALSE(s.history_learned().value());
  EXPECT_TRUE(s.attempt_counts().value().empty());
  EXPECT_TRUE(s.learned().value().empty());
}

}  // namespace
}  // namespace tvd::store
