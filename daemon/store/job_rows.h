// How a job row is read: its columns in order and the reader, shared by the store's files.
#pragma once

#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

inline constexpr const char* kJobColumns =
    "id, variant, state, phase, origin, priority, publish, batch_id, built, build_tries, "
    "publish_tries, failure, error, enqueued_at, started_at, finished_at, output, published_to, "
    "note, publish_rev, fingerprint";

inline JobRow read_job(const sql::Stmt& s) {
  JobRow j;
  j.id = s.i64(0);
  j.variant = s.text(1);
  j.state = s.text(2);
  j.phase = s.text(3);
  j.origin = s.text(4);
  j.priority = static_cast<int>(s.i64(5));
  j.publish = s.i64(6) != 0;
  j.batch_id = s.opt_i64(7);
  j.built = s.i64(8) != 0;
  j.build_tries = static_cast<int>(s.i64(9));
  j.publish_tries = static_cast<int>(s.i64(10));
  j.failure = s.text(11);
  j.error = s.text(12);
  j.enqueued_at = s.i64(13);
  j.started_at = s.opt_i64(14);
  j.finished_at = s.opt_i64(15);
  j.output = s.opt_text(16);
  j.published_to = s.opt_text(17);
  j.note = s.text(18);
  j.publish_rev = s.opt_text(19);
  j.fingerprint = s.opt_text(20);
  return j;
}

}  // namespace tvd::store
