#!/usr/bin/env bash
# `tvd check` over every branch of a real recipes repository (build-torchvision or build-pytorch), as a user would
# run it before pointing tvd at one: per branch, errors and warnings by code. Evaluation uses the
# project's Nix stub of nixpkgs for every pin (tests/support/nixpkgs-stub), offline.
#
#   bash scripts/check-real-branches.sh REPO [TVD]
#   PRODUCT=pytorch bash scripts/check-real-branches.sh PATH/TO/build-pytorch
#
# REPO: a git repository (a clone, or a bare mirror) of build-torchvision, or with PRODUCT=pytorch
# of build-pytorch (checked as an environment of product pytorch); every branch is checked.
# TVD: the tvd binary (default build/asan/daemon/tvd). Prints one table per branch and a summary
# line; the JSON of each run is kept in $OUT (default /tmp/tvd-real-branches).
set -euo pipefail
repo=${1:?usage: check-real-branches.sh REPO [TVD]}
here=$(cd "$(dirname "$0")/.." && pwd)
tvd=${2:-$here/build/asan/daemon/tvd}
out=${OUT:-/tmp/tvd-real-branches}
stub=$here/tests/support/nixpkgs-stub
product=${PRODUCT:-torchvision}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for branch in $(git -C "$repo" for-each-ref --format='%(refname:short)' refs/heads); do
  dir=$work/$branch
  git clone -q --branch "$branch" "$repo" "$dir" 2>/dev/null
  rev=$(git -C "$dir" rev-parse --short HEAD)
  # Every nixpkgs commit the branch's recipes pin reads the stub.
  sources=$(grep -rhoE 'nixpkgs/archive/[0-9a-f]{40}' "$dir/.flox/pkgs" | sort -u |
              sed -E 's|nixpkgs/archive/([0-9a-f]{40})|"\1": "'"$stub"'"|' | paste -sd, -)
  if [ "$product" = torchvision ]; then
    where="\"flox_env\": \"$dir\""
  else
    where="\"environments\": [{\"name\": \"$product\", \"product\": \"$product\", \"flox_env\": \"$dir\"}]"
  fi
  cat > "$work/$branch.json" <<JSON
{ $where, "state_dir": "$work/state-$branch",
  "check": { "store": "dummy://", "nix_path": ["nixpkgs=$stub"], "nixpkgs_sources": { $sources } } }
JSON
  "$tvd" check --json --config "$work/$branch.json" > "$out/$branch.json" 2> "$out/$branch.err" || true
  python3 - "$out/$branch.json" "$branch" "$rev" <<'PY'
import json, sys, collections
report = json.load(open(sys.argv[1]))
counts = collections.Counter()
files = collections.defaultdict(set)
for f in report["environment"]:
    counts[(f["code"], f["severity"])] += 1
    files[(f["code"], f["severity"])].add(f["file"].rsplit("/", 1)[-1])
for r in report["recipes"]:
    for f in r["findings"]:
        counts[(f["code"], f["severity"])] += 1
        files[(f["code"], f["severity"])].add(f["file"].rsplit("/", 1)[-1])
s = report["summary"]
present = sum(1 for r in report["recipes"] if r["state"] != "missing")
print(f"## {sys.argv[2]} ({sys.argv[3]}): {present} recipes checked, {s['evaluated']} evaluated, "
      f"{s['errors']} errors, {s['warnings']} warnings")
for (code, sev), n in sorted(counts.items(), key=lambda x: (x[0][1], x[0][0])):
    print(f"  {sev:7} {code:18} {n:4}   e.g. {sorted(files[(code, sev)])[0]}")
PY
done
