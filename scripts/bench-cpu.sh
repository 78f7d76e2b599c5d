#!/usr/bin/env bash
# The daemon's own CPU per build on a quiet host and on a busy one: N instant builds (the fake
# flox, no publish) with 0 and then 1,000 extra processes on the host (sleeps), tvd's CPU time
# (utime + stime of /proc/PID/stat) divided by the builds. Prints figures; asserts nothing.
# Usage: scripts/bench-cpu.sh [builds] [tvd-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
builds=${1:-40}
. scripts/release-build.sh
[ -n "${2:-}" ] && tvd=$2
. scripts/bench-env.sh
ticks=$(getconf CLK_TCK)
sleepers=()
cleanup() { kill "${sleepers[@]}" 2>/dev/null || true; }
trap cleanup EXIT

run() {
  local extra=$1 work
  work=$(mktemp -d /tmp/tvd-bench-cpu-XXXXXX)
  flox_env "$work/env"
  fake_flox "$work"
  printf '{ "flox_env": "env", "state_dir": "state", "socket": "state/tvd.sock", "flox": "%s",
    "socket_group": "%s", "http": { "listen": "off" },
    "scheduler": { "max_parallel": 8, "memory_budget": "64GiB", "min_free_disk": "1GiB",
                   "memory_per_build": { "gpu": "1GiB", "cpu": "1GiB" } } }\n' \
    "$work/flox" "$(id -gn)" > "$work/tvd.json"
  serve "$work"
  cpu() { awk '{ print $14 + $15 }' /proc/$pid/stat; }
  local before done=0 round=0
  before=$(cpu)
  # Rounds of every buildable variant until `builds` builds have ended.
  while [ "$done" -lt "$builds" ]; do
    round=$((round + 1))
    "$tvctl" --socket "$sock" enqueue --force --no-publish --all >/dev/null
    while any_job "$sock" building queued; do sleep 0.2; done
    done=$("$tvctl" --socket "$sock" --json status | grep -oE '"succeeded": *[0-9]+' | grep -oE '[0-9]+$')
    done=${done:-0}
    [ "$round" -gt 20 ] && { echo "no builds succeed: $(tail -3 "$work/serve.log")"; exit 1; }
  done
  local used=$(( $(cpu) - before ))
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$work"
  echo "$extra extra processes: $done builds, tvd CPU $((used * 1000 / ticks)) ms," \
    "$((used * 1000 / ticks / done)) ms per build"
}

run 0
for _ in $(seq 1000); do sleep 600 & sleepers+=($!); done
run 1000
