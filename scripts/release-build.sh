# Sourced by the demo and the benchmark scripts: installs what is needed, builds release tvd and
# tvctl, and sets $tvd and $tvctl. Run from the repository's root.
scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTVD_TESTS=OFF -DTVD_BENCHMARKS=OFF >/dev/null
cmake --build build/release -j2 --target tvd tvctl >/dev/null
tvd=$(pwd)/build/release/daemon/tvd
tvctl=$(pwd)/build/release/client/tvctl
