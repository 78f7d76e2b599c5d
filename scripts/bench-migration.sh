#!/usr/bin/env bash
# How long a store's one-time migrations to environments (schema/008_environments.sql) and to
# typed events (schema/009_typed_events.sql) take on a store of JOBS jobs (10 attempts and 5 event
# lines each, 1,000 jobs per nightly): a schema-7 store is made from the migrations and filled
# through SQL, then 008 and 009 are applied as tvd's Store::open applies them (foreign keys off,
# one transaction each, PRAGMA foreign_key_check before the commit), by the sqlite3 shell on the
# same SQLite library. Prints the figures; asserts nothing.
# Usage: scripts/bench-migration.sh [jobs]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-1000000}
scripts/deps.sh  # the sqlite3 shell among them
work=$(mktemp -d /tmp/tvd-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
db=$work/tvd.db
{
  echo "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; BEGIN;"
  for f in schema/00[1-7]_*.sql; do cat "$f"; done
  echo "PRAGMA user_version = 7; COMMIT;"
} | sqlite3 "$db" >/dev/null
sed -e "s/JOBS/$jobs/g" <<'SQL' | sqlite3 "$db"
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 199)
INSERT INTO variants (package, python, cuda, gpu_arch, cpu_isa, kind, updated_at)
SELECT 'torchvision-python313-cuda12_8-sm' || i || '-avx2', 'python313', '12.8', 'sm' || i, 'avx2', 'gpu', 1 FROM n;
CREATE TEMP TABLE v AS SELECT row_number() OVER (ORDER BY package) - 1 AS k, package FROM variants;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < (JOBS + 999) / 1000)
INSERT INTO batches (id, name, started_at, finished_at)
SELECT i, 'nightly', 1700000000 + (i - 1) * 60000, 1700000000 + i * 60000 - 1 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < JOBS)
INSERT INTO jobs (id, variant, state, phase, origin, priority, publish, batch_id, built, build_tries,
                  publish_tries, failure, error, enqueued_at, started_at, finished_at, output,
                  published_to, fingerprint)
SELECT i, v.package, CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'publish', 'batch',
       0, 1, (i - 1) / 1000 + 1, 1, 1, 1, '', '', 1700000000 + i * 60, 1700000000 + i * 60,
       1700003600 + i * 60, '/nix/store/' || i, 'acme', CASE WHEN i % 10 = 0 THEN 'f' END
FROM n JOIN v ON v.k = i % (SELECT count(*) FROM v);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < JOBS * 10 - 1)
INSERT INTO attempts (job_id, number, phase, started_at, ended_at, outcome, exit_code, reason, log_path, peak_memory)
SELECT i / 10 + 1, i % 10 + 1, 'build', 1700000000 + i, 1700000100 + i, 'succeeded', 0, '', '/x.log', 21474836480 FROM n;
INSERT INTO published SELECT package, 'acme', '/nix/store/x', 1, 1 FROM variants;
INSERT INTO learned_estimates SELECT package, 'gpu', 2e10, 3600, 0.1 FROM variants;
COMMIT;
SQL
echo "store: $(sqlite3 "$db" 'SELECT count(*) FROM jobs') jobs, $(sqlite3 "$db" 'SELECT count(*) FROM attempts') attempts, $(du -h "$db" | cut -f1)"
t0=$(date +%s%N)
{
  echo "PRAGMA foreign_keys=OFF; BEGIN;"
  cat schema/008_environments.sql
  echo "PRAGMA user_version = 8;"
  echo "SELECT 'foreign key problems: ' || count(*) FROM pragma_foreign_key_check;"
  echo "COMMIT;"
} | sqlite3 -bail "$db"
t1=$(date +%s%N)
echo "migration 008: $(((t1 - t0) / 1000000)) ms; after it: $(sqlite3 "$db" "SELECT count(*) FROM jobs WHERE environment = 'default'") jobs in 'default', integrity $(sqlite3 "$db" 'PRAGMA integrity_check'), $(du -h "$db" | cut -f1)"
# The event lines a daemon of schema 8 wrote: five per job, as "PACKAGE state/phase[: why]".
sed -e "s/JOBS/$jobs/g" <<'SQL' | sqlite3 "$db"
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < JOBS * 5 - 1)
INSERT INTO events (at, job_id, kind, message)
SELECT 1700000000 + i, i / 5 + 1,
       CASE i % 5 WHEN 0 THEN 'queued' WHEN 1 THEN 'building' WHEN 2 THEN 'building'
                  WHEN 3 THEN 'publishing' ELSE 'succeeded' END,
       j.variant || ' ' ||
       CASE i % 5 WHEN 0 THEN 'queued/recipe' WHEN 1 THEN 'building/recipe'
                  WHEN 2 THEN 'building/build' WHEN 3 THEN 'publishing/publish'
                  ELSE 'succeeded/publish' END
FROM n JOIN jobs j ON j.id = i / 5 + 1;
COMMIT;
SQL
t0=$(date +%s%N)
{
  echo "PRAGMA foreign_keys=OFF; BEGIN;"
  cat schema/009_typed_events.sql
  echo "PRAGMA user_version = 9;"
  echo "SELECT 'foreign key problems: ' || count(*) FROM pragma_foreign_key_check;"
  echo "COMMIT;"
} | sqlite3 -bail "$db"
t1=$(date +%s%N)
echo "migration 009: $(((t1 - t0) / 1000000)) ms; after it: $(sqlite3 "$db" "SELECT count(*) FROM events WHERE kind = 'started'") 'started' events of $(sqlite3 "$db" 'SELECT count(*) FROM events'), integrity $(sqlite3 "$db" 'PRAGMA integrity_check'), $(du -h "$db" | cut -f1)"
t0=$(date +%s%N)
{
  echo "PRAGMA foreign_keys=OFF; BEGIN;"
  cat schema/010_package_columns.sql
  echo "PRAGMA user_version = 10;"
  echo "COMMIT;"
} | sqlite3 -bail "$db"
t1=$(date +%s%N)
echo "migration 010: $(((t1 - t0) / 1000000)) ms; after it: $(sqlite3 "$db" "SELECT count(DISTINCT package) FROM jobs") packages in jobs, integrity $(sqlite3 "$db" 'PRAGMA integrity_check')"
