-- The dashboard and /metrics: jobs counted by state without reading every row.
CREATE INDEX jobs_by_state ON jobs(state);
