-- What the dashboard, /metrics and status ask of every job, kept up to date by triggers in the
-- same transaction as each change: a row per state and a row per variant, so that reading them
-- costs the same with ten jobs in the store or ten million (issue 14).

-- Jobs by state.
CREATE TABLE job_state_counts (
  state TEXT PRIMARY KEY,
  n     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO job_state_counts (state, n) SELECT state, COUNT(*) FROM jobs GROUP BY state;

-- Each variant's newest job.
CREATE TABLE variant_last_job (
  variant TEXT PRIMARY KEY,
  job_id  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO variant_last_job (variant, job_id) SELECT variant, MAX(id) FROM jobs GROUP BY variant;

CREATE TRIGGER jobs_aggregates_on_insert AFTER INSERT ON jobs BEGIN
  INSERT INTO job_state_counts (state, n) VALUES (NEW.state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
  INSERT INTO variant_last_job (variant, job_id) VALUES (NEW.variant, NEW.id)
    ON CONFLICT (variant) DO UPDATE SET job_id = MAX(job_id, excluded.job_id);
END;

CREATE TRIGGER jobs_aggregates_on_state AFTER UPDATE OF state ON jobs
WHEN OLD.state <> NEW.state BEGIN
  UPDATE job_state_counts SET n = n - 1 WHERE state = OLD.state;
  INSERT INTO job_state_counts (state, n) VALUES (NEW.state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_aggregates_on_delete AFTER DELETE ON jobs BEGIN
  UPDATE job_state_counts SET n = n - 1 WHERE state = OLD.state;
  DELETE FROM variant_last_job WHERE variant = OLD.variant AND job_id = OLD.id;
  INSERT INTO variant_last_job (variant, job_id)
    SELECT variant, MAX(id) FROM jobs WHERE variant = OLD.variant GROUP BY variant
    ON CONFLICT (variant) DO NOTHING;
END;
