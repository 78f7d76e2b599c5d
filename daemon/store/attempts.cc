// The attempts of jobs as the store reads them: one job's, the ones left open by a stop or a
// crash of tvd (and marking them interrupted), and every ended one for what the history taught.
#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

using sql::sql_error;
using sql::Stmt;
using sql::Transaction;

namespace {

AttemptRow read_attempt(const Stmt& s) {
  AttemptRow a;
  a.job_id = s.i64(0);
  a.number = static_cast<int>(s.i64(1));
  a.phase = sql::parse(proto::kJobPhases, s.text(2), proto::JobPhase::kRecipe);
  a.started_at = s.i64(3);
  a.ended_at = s.opt_i64(4);
  if (auto outcome = s.opt_text(5)) {
    a.outcome = sql::parse(proto::kAttemptOutcomes, *outcome, proto::AttemptOutcome::kFailed);
  }
  if (!s.null(6)) a.exit_code = static_cast<int>(s.i64(6));
  if (!s.null(7)) a.signal = static_cast<int>(s.i64(7));
  a.failure = sql::failure_from(s.text(8));
  a.reason = s.text(9);
  a.log_path = s.text(10);
  a.peak_memory = s.opt_i64(11);
  a.pgid = s.opt_i64(12);
  a.builder = s.opt_text(13);
  return a;
}

constexpr const char* kAttemptColumns =
    "job_id, number, phase, started_at, ended_at, outcome, exit_code, signal, failure, reason, "
    "log_path, peak_memory, pgid, builder";

// The attempts `where` selects (a clause on the attempts table), in the order it gives.
Result<std::vector<AttemptRow>> select_attempts(sqlite3* db, const std::string& where,
                                                std::initializer_list<sql::Stmt::Value> args,
                                                const char* what) {
  const std::string query = std::string("SELECT ") + kAttemptColumns + " FROM attempts " + where;
  Stmt s(db, query.c_str());
  if (args.size() > 0) s.bind(args);
  std::vector<AttemptRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_attempt(s));
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db, what));
  return out;
}

}  // namespace

Result<std::vector<AttemptRow>> Store::attempts(int64_t job_id) const {
  return select_attempts(db_, "WHERE job_id = ? ORDER BY number", {job_id}, "read attempts");
}

Result<std::vector<AttemptRow>> Store::open_attempts() const {
  return select_attempts(db_, "WHERE ended_at IS NULL", {}, "read running attempts");
}

Result<std::vector<AttemptRow>> Store::interrupt_running_attempts(int64_t now,
                                                                  const std::set<int64_t>& keep) {
  Transaction t(db_);
  if (!t.ok()) return tl::unexpected(sql_error(db_, "recover attempts"));
  TRY_ASSIGN(auto open, open_attempts());
  std::vector<AttemptRow> out;
  Stmt u(db_,
         "UPDATE attempts SET ended_at = ?, outcome = 'interrupted',"
         " reason = 'interrupted: tvd stopped while it ran' WHERE job_id = ? AND number = ?");
  for (auto& a : open) {
    if (keep.count(a.job_id)) continue;
    u.reset();
    u.bind({now, a.job_id, static_cast<int64_t>(a.number)});
    if (u.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "interrupt attempts"));
    out.push_back(std::move(a));
  }
  TRY(t.commit());
  return out;
}

Status Store::each_ended_attempt(const std::function<void(const EndedAttempt&)>& f) const {
  Stmt s(db_,
         "SELECT j.environment, j.package, v.kind, a.phase, a.outcome, COALESCE(a.failure, ''),"
         " a.ended_at - a.started_at, a.peak_memory"
         " FROM attempts a JOIN jobs j ON j.id = a.job_id"
         " JOIN variants v ON v.environment = j.environment AND v.package = j.package"
         " WHERE a.ended_at IS NOT NULL AND a.outcome IS NOT NULL ORDER BY a.id");
  int rc;
  EndedAttempt e;
  while ((rc = s.step()) == SQLITE_ROW) {
    e.variant = {s.text(0), s.text(1)};
    e.kind = s.text(2);
    e.phase = sql::parse(proto::kJobPhases, s.text(3), proto::JobPhase::kRecipe);
    e.outcome = sql::parse(proto::kAttemptOutcomes, s.text(4), proto::AttemptOutcome::kFailed);
    e.failure = sql::failure_from(s.text(5));
    e.seconds = s.i64(6);
    e.peak_memory = s.opt_i64(7);
    f(e);
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read the attempts"));
  return {};
}

}  // namespace tvd::store
