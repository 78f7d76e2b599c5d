#!/usr/bin/env bash
# The test command: installs what it needs, builds tvd with AddressSanitizer and
# UndefinedBehaviorSanitizer (warnings are errors) and runs the whole suite under ctest.
# Usage: scripts/test.sh [ctest arguments, e.g. -R Spec]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test

build=build/asan
# -g1: line tables, all the sanitizers' reports need; a quarter less compile time than -g on CI's
# two cores (docs/BENCHMARKS.md, "CI time").
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
  -DTVD_SANITIZE=ON -DTVD_WERROR=ON \
  -DTVD_SEED="${TVD_SEED:-$(pwd)/../shared/seed/RECIPE_TEMPLATE.md}" >/dev/null
cmake --build "$build" -j2
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build" -j2 --output-on-failure "$@"
