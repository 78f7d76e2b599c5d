// How a job row is read: its columns in order and the reader, shared by the store's files.
#pragma once

#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

inline constexpr const char* kJobColumns =
    "id, environment, package, state, phase, origin, priority, publish, batch_id, built, "
    "build_tries, "
    "publish_tries, failure, error, enqueued_at, started_at, finished_at, output, published_to, "
    "note, publish_rev, fingerprint";

inline JobRow read_job(const sql::Stmt& s) {
  JobRow j;
  j.id = s.i64(0);
  j.environment = s.text(1);
  j.package = s.text(2);
  j.state = sql::parse(proto::kJobStates, s.text(3), proto::JobState::kQueued);
  j.phase = sql::parse(proto::kJobPhases, s.text(4), proto::JobPhase::kRecipe);
  j.origin = sql::parse(proto::kOrigins, s.text(5), proto::Origin::kInteractive);
  j.priority = static_cast<int>(s.i64(6));
  j.publish = s.i64(7) != 0;
  j.batch_id = s.opt_i64(8);
  j.built = s.i64(9) != 0;
  j.build_tries = static_cast<int>(s.i64(10));
  j.publish_tries = static_cast<int>(s.i64(11));
  j.failure = sql::failure_from(s.text(12));
  j.error = s.text(13);
  j.enqueued_at = s.i64(14);
  j.started_at = s.opt_i64(15);
  j.finished_at = s.opt_i64(16);
  j.output = s.opt_text(17);
  j.published_to = s.opt_text(18);
  j.note = s.text(19);
  j.publish_rev = s.opt_text(20);
  j.fingerprint = s.opt_text(21);
  return j;
}

}  // namespace tvd::store
