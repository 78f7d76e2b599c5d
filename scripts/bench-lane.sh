#!/usr/bin/env bash
# How long a recipe commit waits behind a publish: job A builds at once and then publishes for
# $1 seconds (default 60, the fake flox's plan); while A publishes, job B is enqueued, and the
# time until B's recipe is committed is measured. Prints the figure; asserts nothing.
# Usage: scripts/bench-lane.sh [publish-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
publish_s=${1:-60}
. scripts/release-build.sh
. scripts/bench-env.sh

work=$(mktemp -d /tmp/tvd-bench-lane-XXXXXX)
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
flox_env "$work/env" "$work/upstream.git"
fake_flox "$work"
a=torchvision-python313-cpu-avx2
b=torchvision-python313-cpu-armv9
printf 'seconds=0.1\n' > "$work/plan/$a.build"
printf "seconds=$publish_s\n" > "$work/plan/$a.publish"
printf '{ "flox_env": "env", "state_dir": "state", "socket": "state/tvd.sock", "flox": "%s",
  "socket_group": "%s", "http": { "listen": "off" },
  "publish": { "enabled": true, "org": "bench", "push": true } }\n' "$work/flox" "$(id -gn)" > "$work/tvd.json"
FLOX_FLOXHUB_TOKEN=bench "$tvd" serve --config "$work/tvd.json" > "$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do "$tvctl" --socket "$work/state/tvd.sock" status >/dev/null 2>&1 && break; sleep 0.05; done
"$tvctl" --socket "$work/state/tvd.sock" enqueue cpu-avx2 >/dev/null
until any_job "$work/state/tvd.sock" publishing; do sleep 0.05; done
sleep 1  # A's publish is under way
t0=$(date +%s%N)
"$tvctl" --socket "$work/state/tvd.sock" enqueue cpu-armv9 >/dev/null
until [[ $(git -C "$work/env" log --format=%s) == *"($b)"* ]]; do sleep 0.05; done
"$tvctl" --socket "$work/state/tvd.sock" status >&2
echo "recipe commit of B waited $((($(date +%s%N) - t0) / 1000000)) ms behind a ${publish_s} s publish"
