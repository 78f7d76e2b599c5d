#!/usr/bin/env bash
# The daemon's memory while clients follow a loud build's log badly: a build writes 10 MiB/s of
# log for 60 s (the fake flox's mb_per_s), one `logs -f` client reads 4 KiB every 100 ms (40 KiB/s,
# far behind), and another asks to follow and never reads at all. tvd's resident memory (VmRSS)
# is printed before the build, every 10 s, and at the end. Prints figures; asserts nothing.
# Usage: scripts/bench-follow.sh [seconds] [MiB-per-second] [tvd-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
rate=${2:-10}
. scripts/release-build.sh
[ -n "${3:-}" ] && tvd=$3
. scripts/bench-env.sh

work=$(mktemp -d /tmp/tvd-bench-follow-XXXXXX)
pid= slow= mute=
trap 'kill $pid $slow $mute 2>/dev/null; rm -rf "$work"' EXIT
flox_env "$work/env"
fake_flox "$work"
pkg=torchvision-python313-cpu-avx2
printf 'seconds=%s\nmb_per_s=%s\n' "$seconds" "$rate" > "$work/plan/$pkg.build"
printf '{ "flox_env": "env", "state_dir": "state", "socket": "state/tvd.sock", "flox": "%s",
  "socket_group": "%s", "http": { "listen": "off" }, "builds": { "log_limit": "2GiB" } }\n' \
  "$work/flox" "$(id -gn)" > "$work/tvd.json"
serve "$work"
rss() { awk '/^VmRSS/ { printf "%d MiB", $2 / 1024 }' /proc/$pid/status; }
echo "tvd idle: $(rss)"
"$tvctl" --socket "$sock" enqueue --no-publish cpu-avx2 >/dev/null
until any_job "$sock" building; do sleep 0.05; done
python3 - "$sock" slow > "$work/slow.out" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"id":1,"op":"logs","args":{"job":1,"offset":0,"follow":true}}\n')
got = 0
while True:
    b = s.recv(4096)
    if not b:
        break
    got += len(b)
    time.sleep(0.1)
print(got)
EOF
slow=$!
python3 - "$sock" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"id":1,"op":"logs","args":{"job":1,"offset":0,"follow":true}}\n')
time.sleep(100000)
EOF
mute=$!
start=$(date +%s)
while any_job "$sock" building; do
  sleep 10
  echo "after $(($(date +%s) - start)) s: tvd $(rss), log $(du -m "$work/state/logs/$pkg" | cut -f1) MiB"
done
echo "build over: tvd $(rss)"
grep -h "cutting off" "$work/serve.log" || echo "(no client was cut off)"
