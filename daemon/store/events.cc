// A job's events (schema/009_typed_events.sql): each enum goes to and from text through its
// names table (proto/job.h).
#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

using namespace sql;

namespace {

template <typename Enum, size_t N>
std::string name(const Names<Enum, N>& table, Enum e) {
  return std::string(table.name(e));
}

}  // namespace

Status Store::add_event(const EventRow& e) {
  Stmt s(db_,
         "INSERT INTO events (at, job_id, environment, package, kind, from_state, to_state, phase,"
         " failure, reason) VALUES (?,?,?,?,?,?,?,?,?,?)");
  s.bind({e.at, e.job_id, e.variant.environment, e.variant.package,
          name(proto::kEventKinds, e.kind),
          e.from ? Stmt::Value(name(proto::kJobStates, *e.from)) : Stmt::Value{},
          name(proto::kJobStates, e.to), name(proto::kJobPhases, e.phase),
          e.failure ? Stmt::Value(name(proto::kFailures, *e.failure)) : Stmt::Value{}, e.reason});
  if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "record event"));
  return {};
}

Result<std::vector<EventRow>> Store::events_after(int64_t cursor, int limit) const {
  Stmt s(db_,
         "SELECT id, at, job_id, environment, package, kind, from_state, to_state, phase, failure,"
         " reason FROM events WHERE id > ? ORDER BY id LIMIT ?");
  s.bind({cursor, static_cast<int64_t>(limit)});
  std::vector<EventRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    EventRow e;
    e.id = s.i64(0);
    e.at = s.i64(1);
    e.job_id = s.i64(2);
    e.variant = {s.text(3), s.text(4)};
    // The schema's CHECKs allow only the tables' names.
    e.kind = proto::kEventKinds.parse(s.text(5)).value_or(proto::EventKind::kQueued);
    if (auto from = s.opt_text(6)) e.from = proto::kJobStates.parse(*from);
    e.to = proto::kJobStates.parse(s.text(7)).value_or(proto::JobState::kQueued);
    e.phase = proto::kJobPhases.parse(s.text(8)).value_or(proto::JobPhase::kRecipe);
    if (auto failure = s.opt_text(9)) e.failure = proto::kFailures.parse(*failure);
    e.reason = s.text(10);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read events"));
  return out;
}

}  // namespace tvd::store
