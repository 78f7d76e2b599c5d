// What notifications read of the store (schema/013_notifications.sql): each receiver's cursor,
// and what a job event meant for its variant and its batch.
#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

using namespace sql;

Result<std::optional<int64_t>> Store::notify_cursor(const std::string& receiver) const {
  Stmt s(db_, "SELECT event_id FROM notify_cursors WHERE receiver = ?");
  s.bind({receiver});
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<int64_t>(s.i64(0));
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read a notification cursor"));
  return std::optional<int64_t>();
}

Status Store::set_notify_cursor(const std::string& receiver, int64_t event_id, int64_t now) {
  Stmt s(db_,
         "INSERT INTO notify_cursors (receiver, event_id, updated_at) VALUES (?,?,?)"
         " ON CONFLICT (receiver) DO UPDATE SET event_id = excluded.event_id,"
         " updated_at = excluded.updated_at");
  s.bind({receiver, event_id, now});
  if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "save a notification cursor"));
  return {};
}

Result<int64_t> Store::last_event_id() const {
  Stmt s(db_, "SELECT coalesce(max(id), 0) FROM events");
  if (s.step() != SQLITE_ROW) return tl::unexpected(sql_error(db_, "read the last event"));
  return s.i64(0);
}

Result<std::optional<proto::EventKind>> Store::outcome_before(const VariantKey& variant,
                                                              int64_t event_id) const {
  Stmt s(db_,
         "SELECT kind FROM events WHERE environment = ? AND package = ? AND id < ?"
         " AND kind IN ('succeeded', 'failed') ORDER BY id DESC LIMIT 1");
  s.bind({variant.environment, variant.package, event_id});
  int rc = s.step();
  if (rc == SQLITE_ROW) return proto::kEventKinds.parse(s.text(0));
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read a variant's last outcome"));
  return std::optional<proto::EventKind>();
}

Result<int64_t> Store::last_end_of_batch(int64_t batch_id) const {
  Stmt s(db_,
         "SELECT coalesce(max(e.id), 0) FROM events e JOIN jobs j ON j.id = e.job_id"
         " WHERE j.batch_id = ? AND e.kind IN ('succeeded', 'failed', 'cancelled')");
  s.bind({batch_id});
  if (s.step() != SQLITE_ROW) return tl::unexpected(sql_error(db_, "read a batch's last end"));
  return s.i64(0);
}

}  // namespace tvd::store
