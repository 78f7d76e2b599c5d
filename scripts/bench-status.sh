#!/usr/bin/env bash
# `tvctl status` and dashboard latency against a daemon whose store holds ATTEMPTS attempts (10
# per job, 1,000 jobs per nightly batch; 1,000,000 by default), start-up time (the first start
# after the store was filled, then a second), and status while GET / is fetched back to back
# (target: p99 under 20 ms for status; the pages must stay fast). Prints the figures; asserts
# nothing.
# Usage: scripts/bench-status.sh [runs] [attempts] [tvd-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
attempts=${2:-1000000}
jobs=$((attempts / 10))
. scripts/release-build.sh
[ -n "${3:-}" ] && tvd=$3

work=$(mktemp -d /tmp/tvd-bench-XXXXXX)
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/env/.flox/env"
printf 'version = 1\n' > "$work/env/.flox/env/manifest.toml"
git -C "$work/env" init -q -b main
printf '{ "flox_env": "env", "state_dir": "state", "socket": "state/tvd.sock", "flox": "/bin/true", "socket_group": "%s", "http": { "listen": "127.0.0.1:0" } }\n' "$(id -gn)" > "$work/tvd.json"

start() {
  t0=$(date +%s%N)
  "$tvd" serve --config "$work/tvd.json" > "$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 3000); do "$tvctl" --socket "$work/state/tvd.sock" status >/dev/null 2>&1 && { started_ms=$((($(date +%s%N) - t0) / 1000000)); return; }; sleep 0.02; done
  echo "tvd did not start" >&2; cat "$work/serve.log" >&2; exit 1
}
start; kill -TERM $pid; wait $pid || true  # creates and migrates the store

# A store of schema 8 or later keys jobs on (environment, package); an older tvd's has no
# environment column (to compare with OLD/tvd).
# Schema 10 names the package column `package` (it was `variant`).
envcol= envval= pkgcol=variant
has_column() {
  [ "$(sqlite3 "$work/state/tvd.db" "SELECT count(*) FROM pragma_table_info('jobs') WHERE name = '$1'")" = 1 ]
}
if has_column environment; then
  envcol='environment, ' envval="'default', "
fi
if has_column package; then pkgcol=package; fi
sed -e "s/ATTEMPTS/$attempts/g" -e "s/JOBS/$jobs/g" -e "s/ENVCOL/$envcol/" -e "s/ENVVAL/$envval/" -e "s/PKGCOL/$pkgcol/" <<'SQL' | sqlite3 "$work/state/tvd.db"
CREATE TEMP TABLE v AS SELECT row_number() OVER (ORDER BY package) - 1 AS k, package FROM variants;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < JOBS)
INSERT INTO jobs (ENVCOL id, PKGCOL, state, phase, origin, priority, publish, built, build_tries,
                  publish_tries, failure, error, enqueued_at, started_at, finished_at)
SELECT ENVVAL i, v.package, CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'publish', 'batch',
       0, 1, 1, 1, 1, '', '', 1700000000 + i * 60, 1700000000 + i * 60, 1700003600 + i * 60
FROM n JOIN v ON v.k = i % (SELECT count(*) FROM v);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ATTEMPTS - 1)
INSERT INTO attempts (job_id, number, phase, started_at, ended_at, outcome, exit_code, reason, log_path)
SELECT i / 10 + 1, i % 10 + 1, 'build', 1700000000 + i, 1700000100 + i, 'succeeded', 0, '', '/x.log' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < (JOBS + 999) / 1000)
INSERT INTO batches (id, name, started_at, finished_at)
SELECT i, 'nightly', 1700000000 + (i - 1) * 60000, 1700000000 + i * 60000 - 1 FROM n;
UPDATE jobs SET batch_id = (id - 1) / 1000 + 1;
UPDATE attempts SET peak_memory = (20 + id % 7) * 1073741824;
-- A store whose history no tvd has learned from yet (a tvd before schema 7 ignores the table).
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
DELETE FROM store_meta;
SQL
echo "store: $(sqlite3 "$work/state/tvd.db" 'SELECT count(*) FROM jobs') jobs, $(sqlite3 "$work/state/tvd.db" 'SELECT count(*) FROM attempts') attempts, $(du -h "$work/state/tvd.db" | cut -f1)"

start
first_ms=$started_ms
kill -TERM $pid; wait $pid || true
start
echo "tvd serve start: first after filling ${first_ms} ms, then ${started_ms} ms"
python3 - "$tvctl" "$work/state/tvd.sock" "$runs" <<'PY'
import subprocess, sys, time
tvctl, sock, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def once(args):
    t = time.perf_counter()
    subprocess.run([tvctl, "--socket", sock] + args, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1000
for args in (["status"], ["--json", "status"]):
    once(args)
    ms = sorted(once(args) for _ in range(runs))
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    print(f"tvctl {' '.join(args)}: {runs} runs, p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {ms[-1]:.1f} ms")
PY
port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/serve.log" | tail -1)
variant=$(sqlite3 "$work/state/tvd.db" "SELECT $pkgcol FROM jobs WHERE id = $jobs")
python3 - "$port" "$runs" "$variant" <<'PY'
import sys, time, urllib.request
port, runs, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for path in ("/", "/queue", "/nights", "/variant/" + variant, "/metrics"):
    url = f"http://127.0.0.1:{port}{path}"
    def once():
        t = time.perf_counter()
        with urllib.request.urlopen(url) as r:
            size = len(r.read())
        return (time.perf_counter() - t) * 1000, size
    once()
    results = [once() for _ in range(max(20, runs // 3))]
    ms = sorted(r[0] for r in results)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    print(f"GET {path.split('/')[1] and '/' + path.split('/')[1] or '/'}: {len(ms)} runs, p50 {p(0.5):.1f} ms, "
          f"p99 {p(0.99):.1f} ms, {results[0][1] // 1024} KiB")
PY
# status while another client fetches the matrix page back to back.
python3 - "$tvctl" "$work/state/tvd.sock" "$port" "$runs" <<'PY'
import subprocess, sys, threading, time, urllib.request
tvctl, sock, port, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
stop = False
def fetch():
    while not stop:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
            r.read()
t = threading.Thread(target=fetch)
t.start()
def once():
    s = time.perf_counter()
    subprocess.run([tvctl, "--socket", sock, "status"], check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - s) * 1000
ms = sorted(once() for _ in range(runs))
stop = True
t.join()
p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
print(f"tvctl status while GET / is fetched back to back: p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms")
PY
echo "daemon RSS: $(ps -o rss= -p $pid | awk '{printf "%.1f MiB", $1/1024}')"
# Idle: nothing queued, nobody connected. CPU ticks used over 10 s (it must not poll).
ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
before=$(ticks); sleep 10; after=$(ticks)
echo "daemon CPU while idle: $((after - before)) ticks of $(getconf CLK_TCK) per second over 10 s"
