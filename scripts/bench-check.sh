#!/usr/bin/env bash
# `tvd check` on the 60 cells of the default matrix (all generated with --force), with and without
# the evaluation by Nix (nix-instantiate against tests/support/nixpkgs-stub, as the suite does;
# on a real host the pinned nixpkgs is a real one, and the first evaluation fetches it).
# Prints the figures; asserts nothing. Usage: scripts/bench-check.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. scripts/release-build.sh
stub=$(pwd)/tests/support/nixpkgs-stub

work=$(mktemp -d /tmp/tvd-bench-check-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/env/.flox/env"
printf 'version = 1\n' > "$work/env/.flox/env/manifest.toml"
git -C "$work/env" init -q -b main
cat > "$work/tvd.json" <<JSON
{ "flox_env": "env",
  "check": { "store": "dummy://", "nix_path": ["nixpkgs=$stub"], "parallel": ${PARALLEL:-2},
             "nixpkgs_sources": { "fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3": "$stub" } } }
JSON
"$tvd" generate --config "$work/tvd.json" --all --force >/dev/null
git -C "$work/env" add -A && git -C "$work/env" -c user.name=b -c user.email=b@b commit -qm recipes

measure() {  # prints the median wall time in ms of `tvd check "$@"` over $runs runs
  local times=()
  for _ in $(seq "$runs"); do
    local t0; t0=$(date +%s%N)
    "$tvd" check --config "$work/tvd.json" "$@" > "$work/out" || true
    times+=($((($(date +%s%N) - t0) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}
echo "tvd check, 60 recipes, median of $runs runs ($(nproc) cores, ${PARALLEL:-2} evaluations at once)"
echo "  text checks only (--no-eval): $(measure --no-eval) ms"
echo "  with nix-instantiate:         $(measure) ms"
tail -1 "$work/out"
