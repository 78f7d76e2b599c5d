-- Jobs by state, per environment: /metrics labels tvd_jobs with the environment, and a scrape
-- must not count a million jobs. The counts table is keyed (environment, state) from now on, and
-- the triggers that keep it are written again for the new key.

DROP TRIGGER jobs_aggregates_on_insert;
DROP TRIGGER jobs_aggregates_on_state;
DROP TRIGGER jobs_aggregates_on_delete;
DROP TABLE job_state_counts;

CREATE TABLE job_state_counts (
  environment TEXT NOT NULL,
  state       TEXT NOT NULL,
  n           INTEGER NOT NULL,
  PRIMARY KEY (environment, state)
) WITHOUT ROWID;
INSERT INTO job_state_counts (environment, state, n)
  SELECT environment, state, COUNT(*) FROM jobs GROUP BY environment, state;

CREATE TRIGGER jobs_aggregates_on_insert AFTER INSERT ON jobs BEGIN
  INSERT INTO job_state_counts (environment, state, n) VALUES (NEW.environment, NEW.state, 1)
    ON CONFLICT (environment, state) DO UPDATE SET n = n + 1;
  INSERT INTO variant_last_job (environment, package, job_id)
    VALUES (NEW.environment, NEW.package, NEW.id)
    ON CONFLICT (environment, package) DO UPDATE SET job_id = MAX(job_id, excluded.job_id);
END;

CREATE TRIGGER jobs_aggregates_on_state AFTER UPDATE OF state ON jobs
WHEN OLD.state <> NEW.state BEGIN
  UPDATE job_state_counts SET n = n - 1 WHERE environment = OLD.environment AND state = OLD.state;
  INSERT INTO job_state_counts (environment, state, n) VALUES (NEW.environment, NEW.state, 1)
    ON CONFLICT (environment, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_aggregates_on_delete AFTER DELETE ON jobs BEGIN
  UPDATE job_state_counts SET n = n - 1 WHERE environment = OLD.environment AND state = OLD.state;
  DELETE FROM variant_last_job
    WHERE environment = OLD.environment AND package = OLD.package AND job_id = OLD.id;
  INSERT INTO variant_last_job (environment, package, job_id)
    SELECT environment, package, MAX(id) FROM jobs
    WHERE environment = OLD.environment AND package = OLD.package GROUP BY environment, package
    ON CONFLICT (environment, package) DO NOTHING;
END;
