-- Work is keyed on (environment, package): a variant is a package of one environment (one git
-- checkout, one branch), and the branches of one repository build the same package names
-- (DESIGN.md, "The model"). Everything a store held before is of the one environment a host
-- served then, named 'default'. The tables whose keys hang on the package are made again with
-- the environment in their keys; their rows are copied as they are.
-- The store runs migrations with foreign keys off and checks them all before the commit
-- (store.cc), as SQLite's procedure for changing a table's schema asks; renaming variants_new
-- renames what jobs_new refers to.

DROP TRIGGER jobs_aggregates_on_insert;
DROP TRIGGER jobs_aggregates_on_state;
DROP TRIGGER jobs_aggregates_on_delete;

CREATE TABLE variants_new (
  environment   TEXT NOT NULL,
  package       TEXT NOT NULL,
  python        TEXT NOT NULL,
  cuda          TEXT,                 -- NULL for CPU-only
  gpu_arch      TEXT,                 -- NULL for CPU-only
  cpu_isa       TEXT NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('gpu', 'cpu')),
  excluded      TEXT,                 -- why it cannot be built; NULL when it can
  in_matrix     INTEGER NOT NULL DEFAULT 1,
  recipe_source TEXT,                 -- 'generated', 'hand-written', NULL before it exists
  template_hash TEXT,                 -- the template text that generated it
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (environment, package)
);
INSERT INTO variants_new
  SELECT 'default', package, python, cuda, gpu_arch, cpu_isa, kind, excluded, in_matrix,
         recipe_source, template_hash, updated_at FROM variants;

CREATE TABLE jobs_new (
  id            INTEGER PRIMARY KEY,
  environment   TEXT NOT NULL,
  variant       TEXT NOT NULL,        -- the package
  state         TEXT NOT NULL
                CHECK (state IN ('queued', 'building', 'publishing', 'succeeded', 'failed', 'cancelled')),
  phase         TEXT NOT NULL CHECK (phase IN ('recipe', 'build', 'publish')),
  origin        TEXT NOT NULL CHECK (origin IN ('interactive', 'batch')),
  priority      INTEGER NOT NULL DEFAULT 0,
  publish       INTEGER NOT NULL,
  batch_id      INTEGER REFERENCES batches(id),
  built         INTEGER NOT NULL DEFAULT 0,
  build_tries   INTEGER NOT NULL DEFAULT 0,
  publish_tries INTEGER NOT NULL DEFAULT 0,
  failure       TEXT,
  error         TEXT,
  enqueued_at   INTEGER NOT NULL,
  started_at    INTEGER,
  finished_at   INTEGER,
  output        TEXT,
  published_to  TEXT,
  note          TEXT,
  publish_rev   TEXT,
  fingerprint   TEXT,
  FOREIGN KEY (environment, variant) REFERENCES variants_new(environment, package)
);
INSERT INTO jobs_new
  SELECT id, 'default', variant, state, phase, origin, priority, publish, batch_id, built,
         build_tries, publish_tries, failure, error, enqueued_at, started_at, finished_at, output,
         published_to, note, publish_rev, fingerprint FROM jobs;

CREATE TABLE published_new (
  environment  TEXT NOT NULL,
  variant      TEXT NOT NULL,
  org          TEXT NOT NULL,
  output       TEXT NOT NULL,
  job_id       INTEGER NOT NULL,
  published_at INTEGER NOT NULL,
  PRIMARY KEY (environment, variant, org)
);
INSERT INTO published_new
  SELECT 'default', variant, org, output, job_id, published_at FROM published;

CREATE TABLE batch_skips_new (
  batch_id    INTEGER NOT NULL REFERENCES batches(id),
  environment TEXT NOT NULL,
  variant     TEXT NOT NULL,
  reason      TEXT NOT NULL,
  PRIMARY KEY (batch_id, environment, variant)
);
INSERT INTO batch_skips_new SELECT batch_id, 'default', variant, reason FROM batch_skips;

CREATE TABLE variant_last_job_new (
  environment TEXT NOT NULL,
  variant     TEXT NOT NULL,
  job_id      INTEGER NOT NULL,
  PRIMARY KEY (environment, variant)
) WITHOUT ROWID;
INSERT INTO variant_last_job_new SELECT 'default', variant, job_id FROM variant_last_job;

CREATE TABLE learned_estimates_new (
  environment TEXT NOT NULL,
  variant     TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('gpu', 'cpu')),
  peak        REAL,
  duration    REAL,
  spread      REAL,
  PRIMARY KEY (environment, variant)
) WITHOUT ROWID;
INSERT INTO learned_estimates_new
  SELECT 'default', variant, kind, peak, duration, spread FROM learned_estimates;

DROP TABLE jobs;
DROP TABLE variants;
DROP TABLE published;
DROP TABLE batch_skips;
DROP TABLE variant_last_job;
DROP TABLE learned_estimates;
ALTER TABLE variants_new RENAME TO variants;
ALTER TABLE jobs_new RENAME TO jobs;
ALTER TABLE published_new RENAME TO published;
ALTER TABLE batch_skips_new RENAME TO batch_skips;
ALTER TABLE variant_last_job_new RENAME TO variant_last_job;
ALTER TABLE learned_estimates_new RENAME TO learned_estimates;

-- A variant never has two active jobs: the store enforces it.
CREATE UNIQUE INDEX jobs_one_active_per_variant ON jobs(environment, variant)
  WHERE state IN ('queued', 'building', 'publishing');
CREATE INDEX jobs_active ON jobs(state) WHERE state IN ('queued', 'building', 'publishing');
CREATE INDEX jobs_by_variant ON jobs(environment, variant, id);
CREATE INDEX jobs_by_finish ON jobs(finished_at);
CREATE INDEX jobs_by_batch ON jobs(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_by_state ON jobs(state);

CREATE TRIGGER jobs_aggregates_on_insert AFTER INSERT ON jobs BEGIN
  INSERT INTO job_state_counts (state, n) VALUES (NEW.state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
  INSERT INTO variant_last_job (environment, variant, job_id)
    VALUES (NEW.environment, NEW.variant, NEW.id)
    ON CONFLICT (environment, variant) DO UPDATE SET job_id = MAX(job_id, excluded.job_id);
END;

CREATE TRIGGER jobs_aggregates_on_state AFTER UPDATE OF state ON jobs
WHEN OLD.state <> NEW.state BEGIN
  UPDATE job_state_counts SET n = n - 1 WHERE state = OLD.state;
  INSERT INTO job_state_counts (state, n) VALUES (NEW.state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_aggregates_on_delete AFTER DELETE ON jobs BEGIN
  UPDATE job_state_counts SET n = n - 1 WHERE state = OLD.state;
  DELETE FROM variant_last_job
    WHERE environment = OLD.environment AND variant = OLD.variant AND job_id = OLD.id;
  INSERT INTO variant_last_job (environment, variant, job_id)
    SELECT environment, variant, MAX(id) FROM jobs
    WHERE environment = OLD.environment AND variant = OLD.variant GROUP BY environment, variant
    ON CONFLICT (environment, variant) DO NOTHING;
END;
