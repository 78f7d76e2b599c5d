-- One word per concept: a column that holds a package (the recipe's file name without .nix) is
-- called `package`, as in `variants` and `events`; a variant is the (environment, package) pair
-- that names a cell. The columns named `variant` held packages; they are renamed in place (no row
-- is copied; SQLite renames them in the indexes). The triggers that keep the aggregates are
-- written again with the new names rather than left to the rename's rewriting.

DROP TRIGGER jobs_aggregates_on_insert;
DROP TRIGGER jobs_aggregates_on_delete;

ALTER TABLE jobs RENAME COLUMN variant TO package;
ALTER TABLE published RENAME COLUMN variant TO package;
ALTER TABLE batch_skips RENAME COLUMN variant TO package;
ALTER TABLE variant_last_job RENAME COLUMN variant TO package;
ALTER TABLE learned_estimates RENAME COLUMN variant TO package;

CREATE TRIGGER jobs_aggregates_on_insert AFTER INSERT ON jobs BEGIN
  INSERT INTO job_state_counts (state, n) VALUES (NEW.state, 1)
    ON CONFLICT (state) DO UPDATE SET n = n + 1;
  INSERT INTO variant_last_job (environment, package, job_id)
    VALUES (NEW.environment, NEW.package, NEW.id)
    ON CONFLICT (environment, package) DO UPDATE SET job_id = MAX(job_id, excluded.job_id);
END;

CREATE TRIGGER jobs_aggregates_on_delete AFTER DELETE ON jobs BEGIN
  UPDATE job_state_counts SET n = n - 1 WHERE state = OLD.state;
  DELETE FROM variant_last_job
    WHERE environment = OLD.environment AND package = OLD.package AND job_id = OLD.id;
  INSERT INTO variant_last_job (environment, package, job_id)
    SELECT environment, package, MAX(id) FROM jobs
    WHERE environment = OLD.environment AND package = OLD.package GROUP BY environment, package
    ON CONFLICT (environment, package) DO NOTHING;
END;
