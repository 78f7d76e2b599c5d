#!/usr/bin/env bash
# The daemon's memory while 8 builds write their logs fast: each writes MiB-per-second of log for
# the given seconds (the fake flox's mb_per_s), under the default log_limit (256 MiB: a head of
# 128 MiB, then the tail). tvd's resident memory (VmRSS) is sampled every second; its peak is
# printed. Prints figures; asserts nothing.
# Usage: scripts/bench-logs.sh [seconds] [MiB-per-second] [tvd-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
rate=${2:-10}
. scripts/release-build.sh
[ -n "${3:-}" ] && tvd=$3
. scripts/bench-env.sh

work=$(mktemp -d /tmp/tvd-bench-logs-XXXXXX)
pid=
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
flox_env "$work/env"
fake_flox "$work"
specs="cpu-avx2 cpu-avx512 cpu-armv8_2 cpu-armv9 sm89-avx2 sm90-avx2 sm86-avx2 sm120-avx2"
for s in $specs; do
  case $s in
    cpu-*) pkg=torchvision-python313-$s ;;
    *) pkg=torchvision-python313-cuda12_8-$s ;;
  esac
  printf 'seconds=%s\nmb_per_s=%s\n' "$seconds" "$rate" > "$work/plan/$pkg.build"
done
printf '{ "flox_env": "env", "state_dir": "state", "socket": "state/tvd.sock", "flox": "%s",
  "socket_group": "%s", "http": { "listen": "off" },
  "scheduler": { "max_parallel": 8, "memory_budget": "64GiB",
                 "memory_per_build": { "gpu": "1GiB", "cpu": "1GiB" }, "min_free_disk": "1GiB" } }\n' \
  "$work/flox" "$(id -gn)" > "$work/tvd.json"
serve "$work"
rss() { awk '/^VmRSS/ { print int($2 / 1024) }' /proc/$pid/status; }
echo "tvd idle: $(rss) MiB"
# shellcheck disable=SC2086
"$tvctl" --socket "$sock" enqueue --no-publish $specs >/dev/null
peak=0 start=$(date +%s)
while any_job "$sock" building queued; do
  now=$(rss)
  [ "$now" -gt "$peak" ] && peak=$now
  sleep 1
done
status=$("$tvctl" --socket "$sock" --json status)
built=$(grep -oE '"succeeded": *[0-9]+' <<<"$status" | grep -oE '[0-9]+$' || echo 0)
echo "8 builds x ${rate} MiB/s x ${seconds} s: peak $peak MiB, at the end $(rss) MiB;" \
  "measured $(($(date +%s) - start)) s; ${built:-0} of 8 built;" \
  "logs $(du -sm "$work/state/logs" | cut -f1) MiB on disk"
