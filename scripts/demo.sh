#!/usr/bin/env bash
# The demo: tvd on a scratch flox environment. Installs what it needs, builds tvd, makes a
# throw-away environment (a git checkout with .flox/ and a sibling build-pytorch with one recipe)
# and shows the matrix, recipe generation, the pattern check and the errors a user meets.
# Usage: scripts/demo.sh [scratch-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTVD_TESTS=OFF -DTVD_BENCHMARKS=OFF >/dev/null
cmake --build build/release -j2 --target tvd >/dev/null
tvd=$(pwd)/build/release/daemon/tvd

scratch=${1:-$(mktemp -d /tmp/tvd-demo-XXXXXX)}
mkdir -p "$scratch"
cd "$scratch"
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n$ %s\n' "$bold" "$1" "$plain" "$2"; }

# A scratch environment: what `flox init` and a git clone would leave behind.
rm -rf build-torchvision build-pytorch
mkdir -p build-torchvision/.flox/env build-pytorch/.flox/pkgs
printf 'version = 1\n' > build-torchvision/.flox/env/manifest.toml
git -C build-torchvision init -q -b main
git -C build-torchvision -c user.name=demo -c user.email=demo@example.invalid commit -q --allow-empty -m "Initial environment"
# The sibling PyTorch environment has an sm120 recipe that uses gpuArchSM, so it decides
# pattern A for sm120 although the seed's table says B.
printf '  gpuArchNum = "120";\n  gpuArchSM = "sm_120";\n  gpuTargets = [ gpuArchSM ];\n' \
  > build-pytorch/.flox/pkgs/pytorch-python313-cuda12_8-sm120-avx2.nix
cat > tvd.json <<'JSON'
// The demo's config: everything else keeps its default.
{ "flox_env": "build-torchvision" }
JSON

echo "tvd demo in $scratch"
echo "Note: this shows the matrix and recipe generation. Builds and publishing come with the"
echo "daemon (tvd serve); flox is not installed on this machine, so nothing is built here."

step "The configuration is valid" "tvd check-config --config tvd.json"
"$tvd" check-config --config tvd.json

step "The matrix: 60 cells, 42 buildable (first rows and the summary)" "tvd matrix --config tvd.json"
"$tvd" matrix --config tvd.json | { head -12; echo "  ..."; tail -3; }

step "Generate one variant" "tvd generate --config tvd.json sm89-avx512vnni"
"$tvd" generate --config tvd.json sm89-avx512vnni
step "The recipe (pattern A from matrix.json: gpuArchSM = \"sm_89\")" \
  "sed -n '1,32p' .flox/pkgs/torchvision-python313-cuda12_8-sm89-avx512vnni.nix"
sed -n '1,32p' build-torchvision/.flox/pkgs/torchvision-python313-cuda12_8-sm89-avx512vnni.nix

step "sm120 follows the PyTorch recipe; CUDA 12.9 is really selected" \
  "tvd generate --config tvd.json sm120-avx2 python313-cuda12_9-sm121-armv9"
"$tvd" generate --config tvd.json sm120-avx2 python313-cuda12_9-sm121-armv9
grep -n 'cudaPackages_12_9' build-torchvision/.flox/pkgs/torchvision-python313-cuda12_9-sm121-armv9.nix

step "A typo gets a suggestion and exit 2; nothing is written" "tvd generate --config tvd.json sm89-avx512vnn"
"$tvd" generate --config tvd.json sm89-avx512vnn || echo "(exit $?)"
step "An excluded variant says why" "tvd generate --config tvd.json sm121-avx512"
"$tvd" generate --config tvd.json sm121-avx512 || echo "(exit $?)"

step "The rest of the matrix (excluded cells are reported, not written)" "tvd generate --config tvd.json --all"
"$tvd" generate --config tvd.json --all | tail -3

step "A hand-edited recipe is never overwritten" "tvd generate --config tvd.json cpu-avx2"
echo "# tuned by hand" >> build-torchvision/.flox/pkgs/torchvision-python313-cpu-avx2.nix
"$tvd" generate --config tvd.json cpu-avx2

step "Commit the recipes, as the daemon will before each build" "git add .flox/pkgs/*.nix && git commit"
git -C build-torchvision add .flox/pkgs
git -C build-torchvision -c user.name=demo -c user.email=demo@example.invalid commit -q -m "Add TorchVision recipes"
git -C build-torchvision log --oneline --stat | sed -n '1,8p'
echo
echo "Done. The scratch environment is in $scratch"
