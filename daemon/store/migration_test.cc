// Stores written by an older tvd, made with the real migrations up to their version, then opened
// by this one: nothing they held is lost, and what the newer schema keys on holds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "daemon/store/sql.h"
#include "daemon/store/store.h"
#include "daemon/store/store_fixture.h"
#include "schema/migrations.h"

namespace tvd::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Runs `sql` on `file`; what SQLite said when it failed.
std::string run(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(file.c_str(), &db);
  char* error = nullptr;
  sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string out = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  return out;
}

// A store as the tvd of schema `version` left it: its migrations, in order, then `rows`.
void store_at(const std::filesystem::path& file, int version, const std::string& rows) {
  std::filesystem::create_directories(file.parent_path());
  std::string sql = "PRAGMA foreign_keys=ON; BEGIN;";
  for (int v = 0; v < version; ++v)
    sql += std::string(schema::migrations()[v].sql) + "\n";
  sql += "PRAGMA user_version = " + std::to_string(version) + "; COMMIT;";
  ASSERT_EQ(run(file, sql), "");
  ASSERT_EQ(run(file, "PRAGMA foreign_keys=ON; BEGIN;" + rows + "COMMIT;"), "");
}

VariantKey key(std::string environment, std::string package) {
  return {std::move(environment), std::move(package)};
}

class MigrationTest : public StoreFixture {};

// Rows of a store before environments (schema 7): variants a and b, a nightly that skipped b, a's
// failed and then succeeded-and-published jobs, b's queued one, an ended attempt, what was
// learned of a.
constexpr const char* kSchema7Rows = R"(
  INSERT INTO variants (package, python, cpu_isa, kind, updated_at)
    VALUES ('a', 'python313', 'avx2', 'cpu', 1), ('b', 'python313', 'avx512', 'cpu', 1);
  INSERT INTO batches (id, name, started_at) VALUES (1, 'nightly', 10);
  INSERT INTO batch_skips VALUES (1, 'b', 'excluded: no');
  INSERT INTO jobs (id, variant, state, phase, origin, publish, batch_id, enqueued_at, failure,
                    error, fingerprint)
    VALUES (1, 'a', 'failed', 'build', 'batch', 1, 1, 10, 'build-error', 'broken', 'f1');
  INSERT INTO jobs (id, variant, state, phase, origin, publish, enqueued_at, output, published_to)
    VALUES (2, 'a', 'succeeded', 'publish', 'interactive', 1, 20, '/nix/store/x-a', 'acme'),
           (3, 'b', 'queued', 'recipe', 'interactive', 1, 30, NULL, NULL);
  INSERT INTO attempts (job_id, number, phase, started_at, ended_at, outcome, failure, peak_memory)
    VALUES (1, 1, 'build', 10, 70, 'failed', 'build-error', 1048576);
  INSERT INTO published VALUES ('a', 'acme', '/nix/store/x-a', 2, 25);
  INSERT INTO learned_estimates VALUES ('a', 'cpu', 2.0, 60.0, NULL);
)";

TEST_F(MigrationTest, AStoreFromBeforeEnvironmentsKeepsItsWorkInTheDefaultOne) {
  store_at(file, 7, kSchema7Rows);
  auto s = open();
  EXPECT_EQ(s.schema_version(), Store::latest_version());
  EXPECT_EQ(s.integrity_check().value(), "ok");

  auto variants = s.variants().value();
  ASSERT_EQ(variants.size(), 2u);
  EXPECT_EQ(variants[0].environment, "default");
  EXPECT_EQ(variants[0].package, "a");
  auto last = s.last_jobs().value();
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last.at(key("default", "a")).id, 2);
  EXPECT_EQ(last.at(key("default", "b")).state, proto::JobState::kQueued);
  EXPECT_EQ(s.job(1).value()->environment, "default");
  EXPECT_EQ(s.job(1).value()->fingerprint, "f1");
  EXPECT_THAT(s.published_outputs("acme").value(),
              ElementsAre(Pair(key("default", "a"), "/nix/store/x-a")));
  EXPECT_EQ(s.job_counts().value(),
            (std::map<std::string, int64_t>{{"failed", 1}, {"succeeded", 1}, {"queued", 1}}));
  auto night = s.batch(1).value();
  ASSERT_TRUE(night);
  EXPECT_THAT(night->skipped, ElementsAre(Pair("b", "excluded: no")));
  EXPECT_EQ(night->variant_state.at("a"), "failed");
  auto learned = s.learned().value();
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_EQ(learned[0].variant, key("default", "a"));
  EXPECT_EQ(learned[0].duration, 60.0);
  std::vector<std::string> ended;
  ASSERT_TRUE(s.each_ended_attempt([&](const Store::EndedAttempt& e) {
    ended.push_back(e.variant.text() + " " + e.kind + " " + proto::to_text(e.outcome));
  }));
  EXPECT_THAT(ended, ElementsAre("a cpu failed"));

  // What the store enforced before, it enforces still: foreign keys (a job of no variant), one
  // active job per variant, and the aggregates' triggers.
  JobRow orphan;
  orphan.id = 4;
  orphan.package = "nope";
  orphan.state = proto::JobState::kQueued;
  orphan.phase = proto::JobPhase::kRecipe;
  orphan.origin = proto::Origin::kInteractive;
  EXPECT_FALSE(s.save_job(orphan, {}));
  JobRow twice = orphan;
  twice.package = "b";
  EXPECT_FALSE(s.save_job(twice, {}));
  JobRow again = orphan;
  again.package = "a";
  ASSERT_TRUE(s.save_job(again, {}));
  EXPECT_EQ(s.last_jobs().value().at(key("default", "a")).id, 4);
  EXPECT_EQ(s.job_counts().value().at("queued"), 2);
}

// The branches of one repository build the same package names: in two environments they are two
// variants, each with its own jobs, newest job, active job, output and failure.
TEST_F(MigrationTest, TheSamePackageInTwoEnvironmentsIsTwoVariants) {
  auto s = open();
  VariantRow a{"default", "a", "python313", std::nullopt, std::nullopt, "avx2", "cpu"};
  VariantRow other = a;
  other.environment = "pytorch-2.9";
  ASSERT_TRUE(s.sync_variants({a, other}, 1));
  auto job = [](int64_t id, std::string environment, std::string_view state) {
    JobRow j;
    j.id = id;
    j.environment = std::move(environment);
    j.package = "a";
    j.state = proto::kJobStates.parse(state).value();
    j.phase = proto::JobPhase::kBuild;
    j.origin = proto::Origin::kBatch;
    j.enqueued_at = id;
    return j;
  };
  auto night = s.create_batch("nightly", 1).value();
  // Both active at once: one active job per variant, not per package.
  auto here = job(1, "default", "building");
  here.batch_id = night;
  ASSERT_TRUE(s.save_job(here, {}));
  ASSERT_TRUE(s.save_job(job(2, "pytorch-2.9", "queued"), {}));
  EXPECT_FALSE(s.save_job(job(3, "pytorch-2.9", "queued"), {}));
  auto failed = job(2, "pytorch-2.9", "failed");
  failed.fingerprint = "f";
  failed.error = "broken";
  ASSERT_TRUE(s.save_job(failed, {}));
  auto published = job(1, "default", "succeeded");
  published.output = "/nix/store/x-a";
  published.published_to = "acme";
  ASSERT_TRUE(s.save_job(published, {}));
  ASSERT_TRUE(s.add_batch_skip(night, key("pytorch-2.9", "a"), "still failing"));

  auto last = s.last_jobs().value();
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last.at(key("default", "a")).state, proto::JobState::kSucceeded);
  EXPECT_EQ(last.at(key("pytorch-2.9", "a")).state, proto::JobState::kFailed);
  EXPECT_EQ(s.variant_jobs(key("pytorch-2.9", "a"), 10).value().size(), 1u);
  EXPECT_THAT(s.still_failing().value(),
              ElementsAre(Pair(key("pytorch-2.9", "a"), Pair("f", "broken"))));
  EXPECT_THAT(s.published_outputs("acme").value(),
              ElementsAre(Pair(key("default", "a"), "/nix/store/x-a")));
  auto b = s.batch(night).value();
  ASSERT_TRUE(b);
  EXPECT_THAT(b->skipped, ElementsAre(Pair("pytorch-2.9/a", "still failing")));
  EXPECT_THAT(b->variant_state, ElementsAre(Pair("a", "succeeded")));
}

// A store from before the aggregates (schema 5) gets them computed from its jobs.
TEST_F(MigrationTest, TheAggregatesAreComputedForAnOlderStore) {
  store_at(file, 5, R"(
    INSERT INTO variants (package, python, cpu_isa, kind, updated_at)
      VALUES ('a', 'python313', 'avx2', 'cpu', 1), ('b', 'python313', 'avx2', 'cpu', 1);
    INSERT INTO jobs (id, variant, state, phase, origin, publish, enqueued_at)
      VALUES (1, 'a', 'failed', 'build', 'batch', 0, 1), (2, 'a', 'succeeded', 'build', 'batch', 0, 2),
             (3, 'b', 'queued', 'build', 'batch', 0, 3);
  )");
  auto s = open();
  EXPECT_EQ(s.schema_version(), Store::latest_version());
  EXPECT_EQ(s.job_counts().value(),
            (std::map<std::string, int64_t>{{"failed", 1}, {"succeeded", 1}, {"queued", 1}}));
  EXPECT_EQ(s.job_counts_by_environment().value().at({"default", "queued"}), 1);
  EXPECT_EQ(s.last_jobs().value().at(key("default", "a")).id, 2);
}

// Events of a store from before typed events (schema 8, lines of text as the daemon of that
// schema wrote them) are read into their columns; events of no job are not kept.
TEST_F(MigrationTest, EventLinesOfAnOlderStoreBecomeTypedEvents) {
  store_at(file, 8, R"(
    INSERT INTO variants (environment, package, python, cpu_isa, kind, updated_at)
      VALUES ('default', 'a', 'python313', 'avx2', 'cpu', 1),
             ('pytorch-2.9', 'a', 'python313', 'avx2', 'cpu', 1);
    INSERT INTO jobs (id, environment, variant, state, phase, origin, publish, enqueued_at)
      VALUES (1, 'default', 'a', 'failed', 'build', 'batch', 0, 1),
             (2, 'pytorch-2.9', 'a', 'cancelled', 'recipe', 'batch', 0, 2);
    INSERT INTO events (id, at, job_id, kind, message) VALUES
      (1, 10, 1, 'queued', 'a queued/recipe'),
      (2, 11, 1, 'building', 'a building/recipe'),
      (3, 12, 1, 'building', 'a building/build'),
      (4, 13, 1, 'queued', 'a queued/build: network: Couldn''t resolve host: x'),
      (5, 14, 1, 'building', 'a building/build: network: Couldn''t resolve host: x'),
      (6, 15, 1, 'failed', 'a failed/build: torch: builder failed with exit code 2'),
      (7, 16, NULL, 'generate-failed', 'b: cannot commit'),
      (8, 17, 2, 'queued', 'pytorch-2.9/a queued/recipe'),
      (9, 18, 2, 'cancelled', 'pytorch-2.9/a cancelled/recipe'),
      (10, 19, 1, 'queued', 'a queued/recipe');
  )");
  auto s = open();
  std::vector<std::string> story;
  const auto events = s.events_after(0, 100).value();
  for (const auto& e : events) {
    story.push_back(std::to_string(e.id) + " " + e.variant.text() + " " + describe(e.change) +
                    " [" + e.change.reason + "]");
    EXPECT_EQ(e.change.failure, proto::Failure::kNone);  // not recorded then
  }
  EXPECT_THAT(
      story,
      ElementsAre("1 a queued ->queued recipe []", "2 a started queued>building recipe []",
                  "3 a started building>building build []",
                  "4 a retrying building>queued build [network: Couldn't resolve host: x]",
                  "5 a started queued>building build [network: Couldn't resolve host: x]",
                  "6 a failed building>failed build [torch: builder failed with exit code 2]",
                  "8 pytorch-2.9/a queued ->queued recipe []",
                  "9 pytorch-2.9/a cancelled queued>cancelled recipe []",
                  "10 a retried failed>queued recipe []"));
  // Read after a cursor, in pieces.
  auto after = s.events_after(6, 2).value();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].id, 8);
  EXPECT_EQ(after[1].id, 9);
}

// Schema 10 calls every column that holds a package `package`: no table has a `variant` column
// after it, what the rows held is kept, and the aggregates' triggers (written again) still keep
// the newest job of each variant when jobs are added and removed.
TEST_F(MigrationTest, ThePackageColumnsAreRenamedAndTheTriggersStillHold) {
  store_at(file, 9, R"(
    INSERT INTO variants (environment, package, python, cpu_isa, kind, updated_at)
      VALUES ('default', 'a', 'python313', 'avx2', 'cpu', 1);
    INSERT INTO jobs (id, environment, variant, state, phase, origin, publish, enqueued_at)
      VALUES (1, 'default', 'a', 'succeeded', 'build', 'batch', 0, 1);
    INSERT INTO published (environment, variant, org, output, job_id, published_at)
      VALUES ('default', 'a', 'acme', '/nix/store/x', 1, 2);
    INSERT INTO learned_estimates (environment, variant, kind, peak, duration, spread)
      VALUES ('default', 'a', 'cpu', 1e9, 60, 0.1);
  )");
  auto s = open();
  ASSERT_EQ(s.schema_version(), Store::latest_version());
  {
    sql::Stmt left(s.handle(),
                   "SELECT t.name FROM sqlite_schema t JOIN pragma_table_info(t.name) c"
                   " WHERE t.type = 'table' AND c.name = 'variant'");
    std::vector<std::string> tables;
    while (left.step() == SQLITE_ROW)
      tables.push_back(left.text(0));
    EXPECT_THAT(tables, ::testing::IsEmpty());
  }
  EXPECT_EQ(s.job(1).value()->package, "a");
  EXPECT_EQ(s.published_outputs("acme").value().at(key("default", "a")), "/nix/store/x");
  EXPECT_EQ(s.learned().value().at(0).variant, key("default", "a"));
  JobRow next = *s.job(1).value();
  next.id = 2;
  next.state = proto::JobState::kQueued;
  ASSERT_TRUE(s.save_job(next, {}));
  EXPECT_EQ(s.last_jobs().value().at(key("default", "a")).id, 2);
  ASSERT_EQ(run(file, "PRAGMA foreign_keys=ON; DELETE FROM jobs WHERE id = 2"), "");
  EXPECT_EQ(s.last_jobs().value().at(key("default", "a")).id, 1);
}

// A migration that would leave a row referring to nothing is refused, and the store stays as
// it was.
TEST_F(MigrationTest, AMigrationThatWouldBreakAForeignKeyChangesNothing) {
  // A job of a variant the store does not have (written with foreign keys off, as a repair by
  // hand might).
  store_at(file, 7, "");
  ASSERT_EQ(run(file,
                "PRAGMA foreign_keys=OFF; INSERT INTO jobs (id, variant, state, phase, origin,"
                " publish, enqueued_at) VALUES (1, 'gone', 'failed', 'build', 'batch', 0, 1);"),
            "");
  auto refused = Store::open(file);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("migration 008_environments.sql"));
  EXPECT_THAT(refused.error().message, HasSubstr("a row of jobs referring to a missing row of"));
  EXPECT_THAT(refused.error().hint, HasSubstr("nothing was changed"));
  EXPECT_EQ(run(file, "SELECT environment FROM jobs"), "no such column: environment");
}

}  // namespace
}  // namespace tvd::store
