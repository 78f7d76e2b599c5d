-- What the daemon learns from ended attempts, kept as they end (in the same transaction as the
-- attempt), so that a start reads a row per variant and per bucket instead of replaying every
-- attempt of the history (issue 14). A store from before is replayed once, at its first start
-- with this schema, and marked in store_meta.

-- Each variant's learned memory peak (the decaying maximum, bytes), duration (the weighted
-- mean, seconds) and the spread of its peaks (its reservation's margin): sched/estimator.h.
CREATE TABLE learned_estimates (
  variant  TEXT PRIMARY KEY,
  kind     TEXT NOT NULL CHECK (kind IN ('gpu', 'cpu')),
  peak     REAL,
  duration REAL,
  spread   REAL
) WITHOUT ROWID;

-- Ended attempts counted by phase, outcome, failure class and duration bucket (/metrics'
-- histograms and failure counters: service/attempt_stats.h).
CREATE TABLE attempt_counts (
  phase   TEXT NOT NULL,
  outcome TEXT NOT NULL,
  failure TEXT NOT NULL,
  bucket  INTEGER NOT NULL,
  n       INTEGER NOT NULL,
  seconds INTEGER NOT NULL,
  PRIMARY KEY (phase, outcome, failure, bucket)
) WITHOUT ROWID;

CREATE TABLE store_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
