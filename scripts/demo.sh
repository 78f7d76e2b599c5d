#!/usr/bin/env bash
# The demo: tvd on a scratch flox environment. Installs what it needs, builds tvd, makes a
# throw-away environment (a git checkout with .flox/ and a sibling build-pytorch with one recipe)
# and shows the matrix, recipe generation, the pre-flight checks and the errors a user meets.
# Usage: scripts/demo.sh [scratch-dir]
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/release-build.sh
fake_flox=$(pwd)/tests/support/fake-flox
stub=$(pwd)/tests/support/nixpkgs-stub

scratch=${1:-$(mktemp -d /tmp/tvd-demo-XXXXXX)}
mkdir -p "$scratch"
cd "$scratch"
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n$ %s\n' "$bold" "$1" "$plain" "$2"; }

# A scratch environment: what `flox init` and a git clone would leave behind.
rm -rf build-torchvision build-pytorch upstream.git state plan
mkdir -p build-torchvision/.flox/env build-pytorch/.flox/pkgs plan
printf 'version = 1\n' > build-torchvision/.flox/env/manifest.toml
printf '{"lockfile-version": 1}\n' > build-torchvision/.flox/env/manifest.lock
printf 'run/\ncache/\nlib/\nlog/\n' > build-torchvision/.flox/.gitignore
git init -q --bare -b main upstream.git
git -C build-torchvision init -q -b main
git -C build-torchvision add .flox
git -C build-torchvision -c user.name=demo -c user.email=demo@example.invalid commit -q -m "Initial environment"
git -C build-torchvision remote add origin "$scratch/upstream.git"
git -C build-torchvision push -q -u origin main
git -C build-torchvision config user.name demo
git -C build-torchvision config user.email demo@example.invalid
# The sibling PyTorch environment: an sm120 recipe written as build-pytorch writes them today (a
# dotted gpuArchSM, here with +PTX), whose value tvd passes too, and an sm90 one from the seed's
# era ("sm_90", which PyTorch's CMake rejects), which tvd reports and never copies.
printf '  gpuArchNum = "120";\n  gpuArchSM = "12.0+PTX";\n  gpuTargets = [ gpuArchSM ];\n' \
  > build-pytorch/.flox/pkgs/pytorch-python313-cuda12_8-sm120-avx2.nix
printf '  gpuArchNum = "90";\n  gpuArchSM = "sm_90";\n  gpuTargets = [ gpuArchSM ];\n' \
  > build-pytorch/.flox/pkgs/pytorch-python313-cuda12_8-sm90-avx2.nix
# flox: the real one if it is installed, else the project's fake, which behaves like it.
if command -v flox >/dev/null 2>&1; then
  flox_cmd=$(command -v flox)
  flox_note="flox is installed: the builds below are real and take hours"
else
  printf '#!/bin/sh\nFAKE_FLOX_PLAN=%s exec %s "$@"\n' "$scratch/plan" "$fake_flox" > flox
  chmod +x flox
  flox_cmd=$scratch/flox
  flox_note="flox is not installed here: builds are SIMULATED by tests/support/fake-flox"
  printf 'seconds=3\n' > plan/torchvision-python313-cuda12_8-sm89-avx512vnni.build
  printf 'seconds=2\n' > plan/torchvision-python313-cpu-armv8_2.build
  printf 'result=fail\n' > plan/torchvision-python313-cuda12_8-sm90-avx2.build
fi
cat > tvd.json <<JSON
// The demo's config: everything else keeps its default.
{
  "flox_env": "build-torchvision",
  "state_dir": "state",
  "socket": "state/tvd.sock",
  "flox": "$flox_cmd",
  "socket_group": "$(id -gn)",
  "publish": { "enabled": true, "org": "demo-org", "push": true },
  "scheduler": { "memory_budget": "8GiB", "max_parallel": 2,
                 "memory_per_build": { "gpu": "3GiB", "cpu": "1GiB" } },
  "http": { "listen": "127.0.0.1:0" },  // the dashboard; 0: any free port (default 8347)
  // Where builds run: this host builds both platforms here (the fake flox builds anything; a
  // real host needs aarch64-linux in Nix's extra-platforms, or an aarch64 machine in Nix's
  // machines file with its memory budget under "remote").
  "builders": { "local": { "systems": ["x86_64-linux", "aarch64-linux"] },
                "machines_file": "no-machines" },
  // tvd check evaluates recipes with nix-instantiate; the demo serves the pinned nixpkgs from the
  // project's stub of it (tests/support/nixpkgs-stub) instead of downloading nixpkgs.
  "check": { "store": "dummy://", "nix_path": ["nixpkgs=$stub"],
             "nixpkgs_sources": { "fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3": "$stub" } }
}
JSON

echo "tvd demo in $scratch"
echo "Note: $flox_note."

step "The configuration is valid" "tvd check-config --config tvd.json"
"$tvd" check-config --config tvd.json

step "The matrix: 60 cells, 42 buildable (first rows and the summary)" "tvd matrix --config tvd.json"
"$tvd" matrix --config tvd.json | { head -12; echo "  ..."; tail -3; }

step "Generate one variant" "tvd generate --config tvd.json sm89-avx512vnni"
"$tvd" generate --config tvd.json sm89-avx512vnni
step "The recipe: the pinned nixpkgs for flox's system, CUDA 12.8 by overlay, torch, gpuTargets 8.9" \
  "sed -n '5,45p' .flox/pkgs/torchvision-python313-cuda12_8-sm89-avx512vnni.nix"
sed -n '5,45p' build-torchvision/.flox/pkgs/torchvision-python313-cuda12_8-sm89-avx512vnni.nix

step "sm120 passes its PyTorch recipe's value; sm90's PyTorch recipe is reported, never copied" \
  "tvd generate --config tvd.json sm120-avx2 sm90-avx2"
"$tvd" generate --config tvd.json sm120-avx2 sm90-avx2
step "CUDA 12.9 is not in this environment's nixpkgs pin (pytorch-2.8): refused with the pins that have it" \
  "tvd generate --config tvd.json python313-cuda12_9-sm121-armv9"
"$tvd" generate --config tvd.json python313-cuda12_9-sm121-armv9 || echo "(exit $?)"

step "A typo gets a suggestion and exit 2; nothing is written" "tvd generate --config tvd.json sm89-avx512vnn"
"$tvd" generate --config tvd.json sm89-avx512vnn || echo "(exit $?)"
step "An excluded variant says why" "tvd generate --config tvd.json sm121-avx512"
"$tvd" generate --config tvd.json sm121-avx512 || echo "(exit $?)"

step "A hand-edited recipe is never overwritten" "tvd generate --config tvd.json cpu-avx2"
"$tvd" generate --config tvd.json cpu-avx2 >/dev/null
echo "# tuned by hand" >> build-torchvision/.flox/pkgs/torchvision-python313-cpu-avx2.nix
"$tvd" generate --config tvd.json cpu-avx2
git -C build-torchvision add .flox/pkgs
git -C build-torchvision commit -q -m "Add recipes generated by hand with tvd generate"
git -C build-torchvision push -q

step "Pre-flight: a hand-written recipe from the seed's era (pytorch, sm_100) fails tvd check in seconds" \
  "tvd check --config tvd.json"
sed -e 's/"8.9"/"sm_100"/' -e 's/pythonPackages.torch.override/pythonPackages.pytorch.override/' \
  -e 's/sm89-avx512vnni/sm100-avx2/g' \
  build-torchvision/.flox/pkgs/torchvision-python313-cuda12_8-sm89-avx512vnni.nix \
  > build-torchvision/.flox/pkgs/torchvision-python313-cuda12_8-sm100-avx2.nix
"$tvd" check --config tvd.json | grep -v ': warning: not tracked' || echo "(exit 1: error findings)"

step "The service" "tvd serve --config tvd.json &"
export FLOX_FLOXHUB_TOKEN=demo-token
"$tvd" serve --config tvd.json > serve.log 2>&1 &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null' EXIT
for _ in $(seq 50); do "$tvctl" --socket state/tvd.sock status >/dev/null 2>&1 && break; sleep 0.1; done
cat serve.log

step "Enqueue three variants (one will fail: the plan says so)" \
  "tvctl enqueue sm89-avx512vnni cpu-armv8.2 sm90-avx2"
"$tvctl" --socket state/tvd.sock enqueue sm89-avx512vnni cpu-armv8.2 sm90-avx2
step "The hand-written sm100 recipe: failed at enqueue, nothing built" "tvctl enqueue sm100-avx2"
"$tvctl" --socket state/tvd.sock enqueue sm100-avx2 || echo "(exit $?)"
rm build-torchvision/.flox/pkgs/torchvision-python313-cuda12_8-sm100-avx2.nix

step "While they run: what runs, what waits and why" "tvctl status"
sleep 1
"$tvctl" --socket state/tvd.sock status

step "A typo queues nothing" "tvctl enqueue sm89-avx512vnn"
"$tvctl" --socket state/tvd.sock enqueue sm89-avx512vnn || echo "(exit $?)"

for _ in $(seq 150); do
  "$tvctl" --socket state/tvd.sock --json status | grep -q '"queued"\|"building"\|"publishing"' || break
  sleep 0.2
done
step "Done: two succeeded and were published; two failed, each with its reason" "tvctl status"
"$tvctl" --socket state/tvd.sock status
port=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\)/.*|\1|p' serve.log | tail -1)
fetch() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$1"; }
step "The dashboard: the matrix page's summary (open http://127.0.0.1:$port/ in a browser)" \
  "GET http://127.0.0.1:$port/"
fetch "http://127.0.0.1:$port/" | grep -o '<p class="summary">.*</p><p class="legend">' |
  sed 's/<[^>]*>//g'
step "Prometheus metrics (a few of them)" "GET http://127.0.0.1:$port/metrics"
fetch "http://127.0.0.1:$port/metrics" |
  grep -E '^tvd_(jobs|build_duration_seconds_count|publish_duration_seconds_count|failures_total|memory_budget_bytes|build_info)'
step "A job's attempts and logs" "tvctl show 1"
"$tvctl" --socket state/tvd.sock show 1 || true
log=$(ls state/logs/torchvision-python313-cuda12_8-sm89-avx512vnni/*build.log | head -1)
echo "\$ tail -3 $log"
tail -3 "$log"

step "Each recipe was committed on its own and pushed before its build" "git log --oneline"
git -C build-torchvision log --oneline | sed -n '1,8p'
[ -f plan/calls ] && { step "What the fake flox was asked to do" "cat plan/calls"; cat plan/calls; }

step "Stop the service" "kill -TERM tvd"
kill -TERM $serve_pid; wait $serve_pid || true
trap - EXIT
echo
echo "Done. The scratch environment is in $scratch"
