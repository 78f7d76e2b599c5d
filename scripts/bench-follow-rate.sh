#!/usr/bin/env bash
# How fast `tvctl logs -f` delivers a loud build's log: a build writes MiB-per-second of log for
# the given seconds; a follower reads as fast as it can. Prints the bytes the build wrote, the
# bytes the follower got, and how long after the build's end the follower finished (its lag).
# Prints figures; asserts nothing.
# Usage: scripts/bench-follow-rate.sh [seconds] [MiB-per-second] [tvd-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
rate=${2:-10}
. scripts/release-build.sh
[ -n "${3:-}" ] && tvd=$3
. scripts/bench-env.sh

work=$(mktemp -d /tmp/tvd-bench-rate-XXXXXX)
pid=
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
flox_env "$work/env"
fake_flox "$work"
pkg=torchvision-python313-cpu-avx2
printf 'seconds=%s\nmb_per_s=%s\n' "$seconds" "$rate" > "$work/plan/$pkg.build"
printf '{ "flox_env": "env", "state_dir": "state", "socket": "state/tvd.sock", "flox": "%s",
  "socket_group": "%s", "http": { "listen": "off" }, "builds": { "log_limit": "2GiB" },
  "scheduler": { "min_free_disk": "1GiB" } }\n' "$work/flox" "$(id -gn)" > "$work/tvd.json"
serve "$work"
"$tvctl" --socket "$sock" enqueue --no-publish cpu-avx2 >/dev/null
until any_job "$sock" building; do sleep 0.05; done
( "$tvctl" --socket "$sock" logs -f 1 | wc -c > "$work/got"; date +%s.%N > "$work/follower-end" ) &
follower=$!
while any_job "$sock" building; do sleep 0.1; done
build_end=$(date +%s.%N)
wait $follower
wrote=$(cat "$work"/state/logs/$pkg/*.log | wc -c)
echo "build: $((wrote / 1048576)) MiB in ${seconds} s at ${rate} MiB/s;" \
  "follower: $(( $(cat "$work/got") / 1048576 )) MiB," \
  "finished $(awk -v a="$(cat "$work/follower-end")" -v b="$build_end" 'BEGIN { printf "%.1f", a - b }') s after the build"
