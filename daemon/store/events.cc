// A job's events (schema/009_typed_events.sql): each enum goes to and from text through its
// names table (proto/job.h).
#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

using namespace sql;

Status Store::add_event(const EventRow& e) {
  Stmt s(db_,
         "INSERT INTO events (at, job_id, environment, package, kind, from_state, to_state, phase,"
         " failure, reason) VALUES (?,?,?,?,?,?,?,?,?,?)");
  const proto::JobChange& c = e.change;
  s.bind({e.at, e.job_id, e.variant.environment, e.variant.package,
          name(proto::kEventKinds, c.kind),
          c.from ? Stmt::Value(name(proto::kJobStates, *c.from)) : Stmt::Value{},
          name(proto::kJobStates, c.to), name(proto::kJobPhases, c.phase),
          c.failure != proto::Failure::kNone ? Stmt::Value(name(proto::kFailures, c.failure))
                                             : Stmt::Value{},
          c.reason});
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
    proto::JobChange& c = e.change;
    c.kind = proto::kEventKinds.parse(s.text(5)).value_or(proto::EventKind::kQueued);
    if (auto from = s.opt_text(6)) c.from = proto::kJobStates.parse(*from);
    c.to = proto::kJobStates.parse(s.text(7)).value_or(proto::JobState::kQueued);
    c.phase = proto::kJobPhases.parse(s.text(8)).value_or(proto::JobPhase::kRecipe);
    if (auto failure = s.opt_text(9)) {
      c.failure = proto::kFailures.parse(*failure).value_or(proto::Failure::kUnknown);
    }
    c.reason = s.text(10);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read events"));
  return out;
}

}  // namespace tvd::store
