#!/usr/bin/env bash
# Throughput of tvd with 1,008 instant builds (publish off), against `xargs -P` running the same
# fake flox over the same packages; and how long `tvctl enqueue` of the 60-cell matrix takes.
# Prints the figures; asserts nothing. Usage: scripts/bench-throughput.sh [parallel]
set -euo pipefail
cd "$(dirname "$0")/.."
par=${1:-8}
. scripts/release-build.sh
fake=$(pwd)/tests/support/fake-flox
work=$(mktemp -d /tmp/tvd-bench-XXXXXX)
pid=
trap '[ -n "$pid" ] && { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }; rm -rf "$work"' EXIT
cd "$work"

# A matrix of 1,008 buildable cells: 56 Pythons x (sm89, sm90 x 6 ISAs + 6 CPU-only).
python3 - "$OLDPWD/config/matrix.json" > matrix.json <<'PY'
import json, re, sys
text = re.sub(r'^\s*//.*$', '', open(sys.argv[1]).read(), flags=re.M)
m = json.loads(text)
m["python"] = [{"name": f"python{300 + i}", "packages": "python3Packages", "version": f"3.{i}"} for i in range(56)]
m["defaults"]["python"] = "python300"
m["axes"]["python"] = [p["name"] for p in m["python"]]
m["axes"]["gpu_archs"] = ["sm89", "sm90"]
print(json.dumps(m))
PY
mkdir -p env/.flox/env
printf 'version = 1\n' > env/.flox/env/manifest.toml
printf 'run/\n' > env/.flox/.gitignore
git -C env init -q -b main
git -C env -c user.name=b -c user.email=b@x add .flox
git -C env -c user.name=b -c user.email=b@x commit -qm init
printf '#!/bin/sh\nFAKE_FLOX_SECONDS=0 exec %s "$@"\n' "$fake" > flox
chmod +x flox
cat > tvd.json <<JSON
{ "flox_env": "env", "state_dir": "state", "socket": "state/tvd.sock", "flox": "$work/flox",
  "socket_group": "$(id -gn)",
  "matrix": "matrix.json",
  "scheduler": { "max_parallel": $par, "memory_budget": "1TiB",
                 "memory_per_build": { "gpu": "1GiB", "cpu": "1GiB" } } }
JSON
# Recipes written and committed up front, so both sides only build.
"$tvd" generate --config tvd.json --all >/dev/null
git -C env -c user.name=b -c user.email=b@x add .flox/pkgs
git -C env -c user.name=b -c user.email=b@x commit -qm recipes
git -C env config user.name b; git -C env config user.email b@x
n=$(ls env/.flox/pkgs | wc -l)

t0=$(date +%s.%N)
ls env/.flox/pkgs | sed 's/\.nix$//' | xargs -P "$par" -n 1 "$work/flox" build -d env 2>/dev/null
t1=$(date +%s.%N)
rm -f env/result-*
echo "xargs -P $par: $n builds in $(echo "$t1 - $t0" | bc) s: $(echo "$n / ($t1 - $t0)" | bc) builds/s"

"$tvd" serve --config tvd.json > serve.log 2>&1 &
pid=$!
for _ in $(seq 100); do "$tvctl" --socket state/tvd.sock status >/dev/null 2>&1 && break; sleep 0.05; done
t0=$(date +%s.%N)
"$tvctl" --socket state/tvd.sock enqueue --all --no-publish >/dev/null
t1=$(date +%s.%N)
echo "tvctl enqueue --all ($n variants): $(echo "($t1 - $t0) * 1000" | bc) ms"
rss_peak=0
while s=$("$tvctl" --socket state/tvd.sock --json status) && [[ $s == *'"queued"'* || $s == *'"building"'* ]]; do
  rss=$(ps -o rss= -p $pid); [ "$rss" -gt "$rss_peak" ] && rss_peak=$rss
  sleep 0.2
done
t2=$(date +%s.%N)
ok=$(sqlite3 state/tvd.db "SELECT count(*) FROM jobs WHERE state = 'succeeded'")
echo "tvd, $par slots: $ok of $n builds succeeded in $(echo "$t2 - $t0" | bc) s: $(echo "$ok / ($t2 - $t0)" | bc) builds/s"
echo "daemon RSS under load: peak $((rss_peak / 1024)) MiB"
