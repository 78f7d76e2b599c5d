// What the daemon learned from ended attempts, kept between starts (schema/007_learned.sql).
#include <sqlite3.h>

#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

using sql::opt;
using sql::sql_error;
using sql::Stmt;

Status Store::add_attempt_counts(const std::vector<AttemptCount>& counts) {
  if (counts.empty()) return {};
  Stmt s(db_,
         "INSERT INTO attempt_counts (phase, outcome, failure, bucket, n, seconds)"
         " VALUES (?,?,?,?,?,?) ON CONFLICT (phase, outcome, failure, bucket)"
         " DO UPDATE SET n = n + excluded.n, seconds = seconds + excluded.seconds");
  for (const auto& c : counts) {
    s.bind({sql::name(proto::kJobPhases, c.phase), sql::name(proto::kAttemptOutcomes, c.outcome),
            sql::failure_text(c.failure), static_cast<int64_t>(c.bucket), c.n, c.seconds});
    if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "count attempts"));
    s.reset();
  }
  return {};
}

Status Store::save_learned(const std::vector<LearnedRow>& rows) {
  if (rows.empty()) return {};
  Stmt s(
      db_,
      "INSERT INTO learned_estimates (environment, package, kind, peak, duration, spread)"
      " VALUES (?,?,?,?,?,?) ON CONFLICT (environment, package) DO UPDATE SET kind = excluded.kind,"
      " peak = excluded.peak, duration = excluded.duration, spread = excluded.spread");
  for (const auto& r : rows) {
    s.bind({r.variant.environment, r.variant.package, r.kind, opt(r.peak), opt(r.duration),
            opt(r.spread)});
    if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "save what was learned"));
    s.reset();
  }
  return {};
}

Result<std::vector<Store::AttemptCount>> Store::attempt_counts() const {
  Stmt s(db_, "SELECT phase, outcome, failure, bucket, n, seconds FROM attempt_counts");
  std::vector<AttemptCount> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back({sql::parse(proto::kJobPhases, s.text(0), proto::JobPhase::kBuild),
                   sql::parse(proto::kAttemptOutcomes, s.text(1), proto::AttemptOutcome::kFailed),
                   sql::failure_from(s.text(2)), static_cast<int>(s.i64(3)), s.i64(4), s.i64(5)});
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read attempt counts"));
  return out;
}

Result<std::vector<Store::LearnedRow>> Store::learned() const {
  Stmt s(db_, "SELECT environment, package, kind, peak, duration, spread FROM learned_estimates");
  std::vector<LearnedRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    LearnedRow r{{s.text(0), s.text(1)}, s.text(2), std::nullopt, std::nullopt, std::nullopt};
    if (!s.null(3)) r.peak = s.f64(3);
    if (!s.null(4)) r.duration = s.f64(4);
    if (!s.null(5)) r.spread = s.f64(5);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read what was learned"));
  return out;
}

Result<bool> Store::history_learned() const {
  Stmt s(db_, "SELECT 1 FROM store_meta WHERE key = 'history_learned'");
  const int rc = s.step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return tl::unexpected(sql_error(db_, "read store_meta"));
}

Status Store::mark_history_learned() {
  Stmt s(db_, "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('history_learned', '1')");
  if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "write store_meta"));
  return {};
}

Status Store::relearn_from_history() {
  return atomically([&]() -> Status {
    return sql::exec(db_,
                     "DELETE FROM store_meta WHERE key = 'history_learned';"
                     " DELETE FROM attempt_counts; DELETE FROM learned_estimates;",
                     "forget what was learned");
  });
}

}  // namespace tvd::store
