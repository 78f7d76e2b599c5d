#!/usr/bin/env bash
# Installs the Debian 12 packages tvd needs to build, test and demo. Idempotent: it does nothing
# when everything is already installed. Usage: scripts/deps.sh [--test]
#   --test  also what only the test suite needs: Chromium and chromedriver for the dashboard's
#           page tests, and promtool (Debian's prometheus package) for /metrics.
#           openssh-server: a second Nix store over ssh-ng:// on the loopback address (the remote
#           builder tests). lintian: the Debian package is checked by Debian's rules.
#           init-system-helpers and dpkg-dev: the maintainer scripts and dpkg-shlibdeps.
set -euo pipefail

packages=(
  g++ cmake ninja-build git pkg-config python3
  libboost1.81-dev libboost-filesystem1.81-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libexpected-dev
  libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev
  nix-bin clang-format-14 bc systemd
)
if [ "${1:-}" = --test ]; then
  packages+=(chromium chromium-driver prometheus openssh-server lintian init-system-helpers dpkg-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
