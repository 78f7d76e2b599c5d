-- tvd's store, version 1. Applied in order at start; PRAGMA user_version records the last one.
-- Times are Unix seconds (UTC).

-- The matrix: every cell of the configured matrix is a row, kept in step with matrix.json at
-- start and on reload. A cell that leaves the matrix is retired (in_matrix = 0), never deleted,
-- so its history stays.
CREATE TABLE variants (
  package       TEXT PRIMARY KEY,
  python        TEXT NOT NULL,
  cuda          TEXT,                 -- NULL for CPU-only
  gpu_arch      TEXT,                 -- NULL for CPU-only
  cpu_isa       TEXT NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('gpu', 'cpu')),
  excluded      TEXT,                 -- why it cannot be built; NULL when it can
  in_matrix     INTEGER NOT NULL DEFAULT 1,
  recipe_source TEXT,                 -- 'generated', 'hand-written', NULL before it exists
  template_hash TEXT,                 -- the template text that generated it
  updated_at    INTEGER NOT NULL
);

-- A run over the matrix (the nightly).
CREATE TABLE batches (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER
);

CREATE TABLE jobs (
  id            INTEGER PRIMARY KEY,
  variant       TEXT NOT NULL REFERENCES variants(package),
  state         TEXT NOT NULL
                CHECK (state IN ('queued', 'building', 'publishing', 'succeeded', 'failed', 'cancelled')),
  phase         TEXT NOT NULL CHECK (phase IN ('recipe', 'build', 'publish')),
  origin        TEXT NOT NULL CHECK (origin IN ('interactive', 'batch')),
  priority      INTEGER NOT NULL DEFAULT 0,
  publish       INTEGER NOT NULL,
  batch_id      INTEGER REFERENCES batches(id),
  built         INTEGER NOT NULL DEFAULT 0,   -- the build succeeded: resume at publish
  build_tries   INTEGER NOT NULL DEFAULT 0,
  publish_tries INTEGER NOT NULL DEFAULT 0,
  failure       TEXT,
  error         TEXT,
  enqueued_at   INTEGER NOT NULL,
  started_at    INTEGER,
  finished_at   INTEGER
);
-- A variant never has two active jobs: the store enforces it.
CREATE UNIQUE INDEX jobs_one_active_per_variant ON jobs(variant)
  WHERE state IN ('queued', 'building', 'publishing');
CREATE INDEX jobs_active ON jobs(state) WHERE state IN ('queued', 'building', 'publishing');
CREATE INDEX jobs_by_variant ON jobs(variant, id);
CREATE INDEX jobs_by_finish ON jobs(finished_at);

CREATE TABLE attempts (
  id          INTEGER PRIMARY KEY,
  job_id      INTEGER NOT NULL REFERENCES jobs(id),
  number      INTEGER NOT NULL,
  phase       TEXT NOT NULL CHECK (phase IN ('recipe', 'build', 'publish')),
  started_at  INTEGER NOT NULL,
  ended_at    INTEGER,
  outcome     TEXT CHECK (outcome IN ('succeeded', 'failed', 'interrupted')),  -- NULL while it runs
  exit_code   INTEGER,
  signal      INTEGER,
  failure     TEXT,
  reason      TEXT,
  log_path    TEXT,
  peak_memory INTEGER,
  pgid        INTEGER,
  UNIQUE (job_id, number)
);
CREATE INDEX attempts_running ON attempts(job_id) WHERE ended_at IS NULL;

CREATE TABLE events (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  job_id  INTEGER REFERENCES jobs(id),
  kind    TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX events_by_job ON events(job_id, id);
