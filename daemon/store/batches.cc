// The store's batches (a nightly, or any named enqueue): made, skips recorded, finished when
// their last job ends, and read back with their jobs' states and their builds' figures.
#include <sqlite3.h>

#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

using sql::sql_error;
using sql::Stmt;

Result<int64_t> Store::create_batch(const std::string& name, int64_t started_at) {
  Stmt s(db_, "INSERT INTO batches (name, started_at) VALUES (?, ?)");
  s.bind({name, started_at});
  if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "create batch"));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::optional<int64_t>> Store::open_batch(const std::string& name) const {
  Stmt s(db_,
         "SELECT id FROM batches WHERE name = ? AND finished_at IS NULL AND EXISTS"
         " (SELECT 1 FROM jobs WHERE batch_id = batches.id AND state IN"
         " ('queued','building','publishing')) ORDER BY id DESC LIMIT 1");
  s.bind({name});
  const int rc = s.step();
  if (rc == SQLITE_ROW) return s.i64(0);
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "find the open batch"));
  return std::optional<int64_t>{};
}

Status Store::add_batch_skip(int64_t batch_id, const VariantKey& variant,
                             const std::string& reason) {
  Stmt s(db_,
         "INSERT OR REPLACE INTO batch_skips (batch_id, environment, package, reason)"
         " VALUES (?,?,?,?)");
  s.bind({batch_id, variant.environment, variant.package, reason});
  if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "record a batch skip"));
  return {};
}

Result<bool> Store::finish_batch_if_done(int64_t batch_id, int64_t now) {
  Stmt s(
      db_,
      "UPDATE batches SET finished_at = ? WHERE id = ? AND finished_at IS NULL AND NOT EXISTS"
      " (SELECT 1 FROM jobs WHERE batch_id = ? AND state IN ('queued','building','publishing'))");
  s.bind({now, batch_id, batch_id});
  if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "finish batch"));
  return sqlite3_changes(db_) > 0;
}

namespace {

// id, name, started_at, finished_at
Store::BatchRow read_batch(const Stmt& s) {
  Store::BatchRow b;
  b.id = s.i64(0);
  b.name = s.text(1);
  b.started_at = s.i64(2);
  b.finished_at = s.opt_i64(3);
  return b;
}

Status fill_states(sqlite3* db, Store::BatchRow& b) {
  Stmt s(db, "SELECT state, count(*) FROM jobs WHERE batch_id = ? GROUP BY state");
  s.bind({b.id});
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    b.states[s.text(0)] = static_cast<int>(s.i64(1));
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db, "read batch"));
  return {};
}

}  // namespace

Result<std::vector<Store::BatchRow>> Store::batches(int limit) const {
  Stmt s(db_, "SELECT id, name, started_at, finished_at FROM batches ORDER BY id DESC LIMIT ?");
  s.bind({static_cast<int64_t>(limit)});
  std::vector<BatchRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back(read_batch(s));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read batches"));
  for (auto& b : out) {
    TRY(fill_states(db_, b));
  }
  return out;
}

Result<std::optional<Store::BatchRow>> Store::batch(int64_t id) const {
  BatchRow b;
  {
    Stmt s(db_, "SELECT id, name, started_at, finished_at FROM batches WHERE id = ?");
    s.bind({id});
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<BatchRow>();
    if (rc != SQLITE_ROW) return tl::unexpected(sql_error(db_, "read batch"));
    b = read_batch(s);
  }
  TRY(fill_states(db_, b));
  {
    Stmt s(db_,
           "SELECT environment, package, reason FROM batch_skips WHERE batch_id = ?"
           " ORDER BY environment, package");
    s.bind({id});
    while (s.step() == SQLITE_ROW)
      b.skipped.emplace_back(VariantKey{s.text(0), s.text(1)}.text(), s.text(2));
  }
  {
    Stmt s(db_, "SELECT environment, package, state FROM jobs WHERE batch_id = ?");
    s.bind({id});
    while (s.step() == SQLITE_ROW)
      b.variant_state[VariantKey{s.text(0), s.text(1)}.text()] = s.text(2);
  }
  return std::optional<BatchRow>(std::move(b));
}

Result<std::optional<int64_t>> Store::previous_batch(const std::string& name,
                                                     int64_t before) const {
  Stmt s(db_, "SELECT max(id) FROM batches WHERE name = ? AND id < ?");
  s.bind({name, before});
  if (s.step() != SQLITE_ROW) return tl::unexpected(sql_error(db_, "read batches"));
  return s.opt_i64(0);
}

Result<std::optional<Store::BatchRow>> Store::last_batch(const std::string& name) const {
  Stmt s(db_, "SELECT id FROM batches WHERE name = ? ORDER BY id DESC LIMIT 1");
  s.bind({name});
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<BatchRow>();
  if (rc != SQLITE_ROW) return tl::unexpected(sql_error(db_, "read the last batch"));
  return batch(s.i64(0));
}

Result<Store::BatchBuilds> Store::batch_builds(int64_t batch_id) const {
  Stmt s(db_,
         "SELECT MAX(a.peak_memory), COALESCE(SUM(a.ended_at - a.started_at), 0), COUNT(*)"
         " FROM jobs j JOIN attempts a ON a.job_id = j.id"
         " WHERE j.batch_id = ? AND a.phase = 'build' AND a.ended_at IS NOT NULL");
  s.bind({batch_id});
  if (s.step() != SQLITE_ROW) return tl::unexpected(sql_error(db_, "read a batch's builds"));
  BatchBuilds b;
  b.peak_memory = s.opt_i64(0);
  b.build_seconds = s.i64(1);
  b.builds = static_cast<int>(s.i64(2));
  return b;
}

}  // namespace tvd::store
