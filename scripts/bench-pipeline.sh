#!/usr/bin/env bash
# The whole pipeline of instant builds, tvd against `xargs -P`: each package's recipe written,
# committed and pushed, built, and published (the fake flox with no build or upload time, so
# what is measured is the bookkeeping). The xargs side is what a shell loop does safely: the
# commit (git add, commit, push) and the publish (which needs a clean, pushed checkout) under one
# flock, the build outside it. Also counts the git processes each side ran per package. Prints
# the figures; asserts nothing. Usage: scripts/bench-pipeline.sh [pythons] [parallel] [tvd]
# (packages = 18 × pythons; default 12 pythons, 216 packages, 8 in parallel). KEEP=1 keeps the
# scratch directory (its path is /tmp/tvd-bench-pipeline-*) to look at afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
pythons=${1:-12}
par=${2:-8}
. scripts/release-build.sh
[ -n "${3:-}" ] && tvd=$3
. scripts/bench-env.sh
work=$(mktemp -d /tmp/tvd-bench-pipeline-XXXXXX)
pid=
[ -n "${KEEP:-}" ] || trap '[ -n "$pid" ] && { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }; rm -rf "$work"' EXIT
repo=$(pwd)
fake_flox "$work"
# The fake flox's own git calls (the same on both sides) are counted apart.
sed -i 's/^FAKE_FLOX_PLAN=/GIT_COUNT_AS=flox FAKE_FLOX_PLAN=/' "$work/flox"
cd "$work"

python3 - "$repo/config/matrix.json" "$pythons" > matrix.json <<'PY'
import json, re, sys
text = re.sub(r'^\s*//.*$', '', open(sys.argv[1]).read(), flags=re.M)
m = json.loads(text)
n = int(sys.argv[2])
m["python"] = [{"name": f"python{300 + i}", "packages": "python3Packages", "version": f"3.{i}"} for i in range(n)]
m["defaults"]["python"] = "python300"
m["axes"]["python"] = [p["name"] for p in m["python"]]
m["axes"]["gpu_archs"] = ["sm89", "sm90"]
print(json.dumps(m))
PY

# git, counted: a wrapper first on PATH for both sides (and for the fake flox's own git calls,
# which are the same on both sides and counted apart).
mkdir -p bin
real_git=$(command -v git)
printf '#!/bin/sh\necho "${GIT_COUNT_AS:-other}" >> %s/git-calls\nexec %s "$@"\n' "$work" "$real_git" > bin/git
chmod +x bin/git
export PATH="$work/bin:$PATH"
export FLOX_FLOXHUB_TOKEN=bench

setup() {  # DIR: an environment with an upstream, identity configured
  flox_env "$work/$1" "$work/$1.git" >/dev/null
  git -C "$work/$1" config user.name b
  git -C "$work/$1" config user.email b@b
}
config() {  # DIR: tvd's configuration for that environment
  cat > "$work/$1.json" <<JSON
{ "flox_env": "$1", "state_dir": "$1-state", "socket": "$1-state/tvd.sock", "flox": "$work/flox",
  "socket_group": "$(id -gn)", "http": { "listen": "off" }, "matrix": "matrix.json",
  "publish": { "enabled": true, "org": "bench", "push": true },
  "scheduler": { "max_parallel": $par, "memory_budget": "1TiB",
                 "memory_per_build": { "gpu": "1GiB", "cpu": "1GiB" } } }
JSON
}

# The recipes, generated once for the xargs side (tvd writes its own).
setup gen
config gen
"$tvd" generate --config gen.json --all >/dev/null
mv gen/.flox/pkgs recipes
pkgs=$(ls recipes | sed 's/\.nix$//')
n=$(echo "$pkgs" | wc -l)
for p in $pkgs; do printf 'seconds=0\n' > "plan/$p.build"; printf 'seconds=0\n' > "plan/$p.publish"; done

setup x
mkdir -p x/.flox/pkgs
cat > one.sh <<SH
#!/bin/sh
# One package the way a careful shell loop does it.
set -e
p=\$1
cd $work/x
GIT_COUNT_AS=loop flock $work/x.lock sh -c "cp $work/recipes/\$p.nix .flox/pkgs/ && git add -- .flox/pkgs/\$p.nix && git commit -q -m 'Add \$p' -- .flox/pkgs/\$p.nix && git push -q"
$work/flox build -d . "\$p" >/dev/null 2>&1
rm -f result-"\$p"*
flock $work/x.lock $work/flox publish -d . -o bench "\$p" >/dev/null 2>&1 || { echo "publish \$p:"; $work/flox publish -d . -o bench "\$p"; exit 1; } >&2
SH
chmod +x one.sh
: > git-calls
t0=$(date +%s.%N)
echo "$pkgs" | xargs -P "$par" -n 1 ./one.sh || { echo "the shell loop failed" >&2; exit 1; }
t1=$(date +%s.%N)
xs=$(echo "$t1 - $t0" | bc)
loop_git=$(grep -c '^loop$' git-calls || true)
flox_git=$(grep -c '^flox$' git-calls || true)
published=$(cat plan/published/bench/* 2>/dev/null | wc -l)
echo "xargs -P $par: $n packages committed, built and published ($published) in $xs s:" \
  "$(echo "scale=1; $n / $xs" | bc) packages/s; git per package: $(echo "scale=1; $loop_git / $n" | bc)" \
  "(the fake flox's own: $(echo "scale=1; $flox_git / $n" | bc))"
rm -rf plan/published plan/calls plan/*.publish-attempts plan/*.publish-env

setup t
config t
: > git-calls
"$tvd" serve --config t.json > serve.log 2>&1 &
pid=$!
sock=t-state/tvd.sock
for _ in $(seq 100); do "$tvctl" --socket $sock status >/dev/null 2>&1 && break; sleep 0.05; done
t0=$(date +%s.%N)
"$tvctl" --socket $sock enqueue --all >/dev/null
while s=$("$tvctl" --socket $sock --json status) &&
  [[ $s == *'"queued"'* || $s == *'"building"'* || $s == *'"publishing"'* ]]; do
  sleep 0.2  # asking costs the daemon CPU too
done
t1=$(date +%s.%N)
ts=$(echo "$t1 - $t0" | bc)
cpu_ticks=$(awk '{print $14 + $15}' /proc/$pid/stat)
ok=$(sqlite3 t-state/tvd.db "SELECT count(*) FROM jobs WHERE state = 'succeeded'")
published=$(cat plan/published/bench/* 2>/dev/null | wc -l)
tvd_git=$(grep -vc '^flox$' git-calls || true)  # tvd's children do not inherit GIT_COUNT_AS
flox_git=$(grep -c '^flox$' git-calls || true)
echo "tvd, $par slots: $ok of $n packages committed, built and published ($published) in $ts s:" \
  "$(echo "scale=1; $ok / $ts" | bc) packages/s; git per package: $(echo "scale=1; $tvd_git / $n" | bc)" \
  "(the fake flox's own: $(echo "scale=1; $flox_git / $n" | bc))"
echo "tvd's own CPU: $(echo "scale=1; $cpu_ticks * 1000 / $(getconf CLK_TCK) / $n" | bc) ms per package"
echo "tvd ÷ xargs: $(echo "scale=2; ($ok / $ts) / ($n / $xs)" | bc)"
