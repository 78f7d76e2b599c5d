-- Batch records: which variants a batch (the nightly) skipped and why, and the jobs of a batch.
CREATE TABLE batch_skips (
  batch_id INTEGER NOT NULL REFERENCES batches(id),
  variant  TEXT NOT NULL,
  reason   TEXT NOT NULL,
  PRIMARY KEY (batch_id, variant)
);
CREATE INDEX jobs_by_batch ON jobs(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX batches_by_name ON batches(name, id);
