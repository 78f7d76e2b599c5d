#!/usr/bin/env bash
# The daemon's memory and `tvctl status` while one user who may only read (uid nobody; the socket
# opened to local users, as the README allows) holds many connections that ask for the matrix
# and never read the replies. Prints tvd's peak RSS (VmHWM), its RSS after they close, and the
# latency of `tvctl status` (root) meanwhile. Prints figures; asserts nothing. Run as root.
# Usage: scripts/bench-readers.sh [connections] [requests-each] [tvd-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-200}
requests=${2:-100}
. scripts/release-build.sh
[ -n "${3:-}" ] && tvd=$3
. scripts/bench-env.sh

work=$(mktemp -d /tmp/tvd-bench-readers-XXXXXX)
chmod 0755 "$work"
pid=
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
flox_env "$work/env"
fake_flox "$work"
printf '{ "flox_env": "env", "state_dir": "state", "socket": "run/tvd.sock", "flox": "%s",
  "socket_group": "%s", "http": { "listen": "off" }, "scheduler": { "min_free_disk": "1GiB" } }\n' \
  "$work/flox" "$(id -gn)" > "$work/tvd.json"
"$tvd" serve --config "$work/tvd.json" > "$work/serve.log" 2>&1 &
pid=$!
sock="$work/run/tvd.sock"
for _ in $(seq 100); do "$tvctl" --socket "$sock" status >/dev/null 2>&1 && break; sleep 0.05; done
chmod 0755 "$work/run"
chmod 0666 "$sock"
echo "tvd idle: $(awk '/^VmRSS/ { print int($2 / 1024) }' /proc/$pid/status) MiB;" \
  "a matrix reply is $("$tvctl" --socket "$sock" --json matrix | wc -c) bytes"
python3 - "$pid" "$sock" "$connections" "$requests" "$tvctl" <<'PY'
import os, socket, subprocess, sys, time
pid, path, n, each, tvctl = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def status(key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1]) // 1024
ready_r, ready_w = os.pipe()
close_r, close_w = os.pipe()
child = os.fork()
if child == 0:
    os.setgid(65534); os.setuid(65534)
    socks, refused = [], 0
    ask = b'{"v":1,"id":1,"op":"matrix"}\n' * each
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except OSError:
            refused += 1
            continue
        s.setblocking(False)
        try:
            s.send(ask)
        except OSError:
            pass
        socks.append(s)
    os.write(ready_w, f"{len(socks)} {refused}".encode())
    os.read(close_r, 1)
    for s in socks:
        s.close()
    os._exit(0)
opened, refused = os.read(ready_r, 64).decode().split()
latencies = []
end = time.time() + 10
while time.time() < end:
    t = time.time()
    subprocess.run([tvctl, "--socket", path, "status"], stdout=subprocess.DEVNULL, check=True)
    latencies.append((time.time() - t) * 1000)
    time.sleep(0.2)
peak = status("VmHWM")
os.write(close_w, b"x")
os.waitpid(child, 0)
time.sleep(2)
latencies.sort()
print(f"{n} connections of uid nobody ({opened} open, {refused} refused), {each} matrix requests "
      f"each, unread: tvd peak RSS {peak} MiB, {status('VmRSS')} MiB 2 s after they closed; "
      f"tvctl status meanwhile ({len(latencies)} runs): p50 {latencies[len(latencies) // 2]:.0f} ms, "
      f"max {latencies[-1]:.0f} ms")
PY
