-- A job's events as types (proto/job.h): each change of a job is one row with its kind, the
-- variant, the states it went from and to, its phase, and for a failure its class and reason,
-- written in the transaction that records the change. Readers (notifications, the journal, the
-- pages) read the rows after the last id they read: the id is the cursor.
-- Rows written before this migration were a state and a line of text ("PKG state/phase: why");
-- they are read into the columns here: the state is to_state, the previous row of the job gives
-- from_state, the line gives phase and reason, and the kind follows from the two states. Their
-- failure class was not recorded (NULL). Rows of no job (a `generate` whose commit failed; the
-- journal has them too) are not job events and are not kept.

CREATE TABLE events_new (
  id          INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,
  job_id      INTEGER NOT NULL REFERENCES jobs(id),
  environment TEXT NOT NULL,
  package     TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('queued', 'started', 'retrying', 'requeued', 'retried',
                                            'succeeded', 'failed', 'cancelled')),
  from_state  TEXT CHECK (from_state IN ('queued', 'building', 'publishing', 'succeeded',
                                         'failed', 'cancelled')),  -- NULL for a new job
  to_state    TEXT NOT NULL CHECK (to_state IN ('queued', 'building', 'publishing', 'succeeded',
                                                'failed', 'cancelled')),
  phase       TEXT NOT NULL CHECK (phase IN ('recipe', 'build', 'publish')),
  failure     TEXT,                 -- its class, for failed and retrying; NULL otherwise
  reason      TEXT NOT NULL DEFAULT ''
);

INSERT INTO events_new (id, at, job_id, environment, package, kind, from_state, to_state, phase,
                        failure, reason)
  WITH old AS (
    SELECT e.id, e.at, e.job_id, j.environment, j.variant AS package, e.kind AS to_state,
           LAG(e.kind) OVER (PARTITION BY e.job_id ORDER BY e.id) AS from_state,
           substr(e.message, instr(e.message, ' ' || e.kind || '/') + length(e.kind) + 2) AS rest
      FROM events e JOIN jobs j ON j.id = e.job_id
     WHERE instr(e.message, ' ' || e.kind || '/') > 0
  ),
  parsed AS (
    SELECT id, at, job_id, environment, package, to_state, from_state,
           CASE WHEN instr(rest, ': ') > 0 THEN substr(rest, 1, instr(rest, ': ') - 1)
                ELSE rest END AS phase,
           CASE WHEN instr(rest, ': ') > 0 THEN substr(rest, instr(rest, ': ') + 2)
                ELSE '' END AS reason
      FROM old
  )
  SELECT id, at, job_id, environment, package,
         CASE
           WHEN to_state IN ('succeeded', 'failed', 'cancelled') THEN to_state
           WHEN to_state IN ('building', 'publishing') AND from_state IN ('failed', 'cancelled')
             THEN 'retried'
           WHEN to_state IN ('building', 'publishing') THEN 'started'
           WHEN from_state IS NULL THEN 'queued'
           WHEN from_state IN ('failed', 'cancelled') THEN 'retried'
           WHEN from_state = 'building' AND reason <> '' THEN 'retrying'
           ELSE 'requeued'
         END,
         from_state, to_state, phase, NULL, reason
    FROM parsed
   WHERE phase IN ('recipe', 'build', 'publish');

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_by_job ON events(job_id, id);

-- A cancelled attempt is a cancel, not a failure: its outcome is 'cancelled' (it was 'failed'
-- with the class 'cancelled', and so counted by tvd_failures_total and as a failed build's
-- duration). The attempts table is made again for its CHECK; the counts kept for /metrics move
-- the same way (a cancel is in no histogram and no failure counter).
CREATE TABLE attempts_new (
  id          INTEGER PRIMARY KEY,
  job_id      INTEGER NOT NULL REFERENCES jobs(id),
  number      INTEGER NOT NULL,
  phase       TEXT NOT NULL CHECK (phase IN ('recipe', 'build', 'publish')),
  started_at  INTEGER NOT NULL,
  ended_at    INTEGER,
  outcome     TEXT CHECK (outcome IN ('succeeded', 'failed', 'cancelled', 'interrupted')),
  exit_code   INTEGER,
  signal      INTEGER,
  failure     TEXT,
  reason      TEXT,
  log_path    TEXT,
  peak_memory INTEGER,
  pgid        INTEGER,
  UNIQUE (job_id, number)
);
INSERT INTO attempts_new
  SELECT id, job_id, number, phase, started_at, ended_at,
         CASE WHEN outcome = 'failed' AND failure = 'cancelled' THEN 'cancelled' ELSE outcome END,
         exit_code, signal, CASE WHEN failure = 'cancelled' THEN '' ELSE failure END, reason,
         log_path, peak_memory, pgid
    FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
CREATE INDEX attempts_running ON attempts(job_id) WHERE ended_at IS NULL;

INSERT INTO attempt_counts (phase, outcome, failure, bucket, n, seconds)
  SELECT phase, 'cancelled', '', -1, sum(n), sum(seconds) FROM attempt_counts
   WHERE outcome = 'failed' AND failure = 'cancelled' GROUP BY phase
  ON CONFLICT (phase, outcome, failure, bucket)
  DO UPDATE SET n = n + excluded.n, seconds = seconds + excluded.seconds;
DELETE FROM attempt_counts WHERE outcome = 'failed' AND failure = 'cancelled';
