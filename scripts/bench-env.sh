# Sourced by the benchmark scripts: a scratch flox environment as people have it, and the fake
# flox behind a wrapper that gives it its plan directory.
#   flox_env DIR [UPSTREAM]   .flox/env with manifest.toml and manifest.lock and flox's own
#                             .flox/.gitignore, committed on main; with UPSTREAM, a bare
#                             repository there as origin, main pushed and tracked
#   fake_flox WORK            WORK/flox runs tests/support/fake-flox with the plan WORK/plan
#   serve WORK                $tvd serve on WORK/tvd.json (log WORK/serve.log); sets $pid and
#                             $sock (WORK/state/tvd.sock) and returns once it answers
#   any_job SOCK STATE...     whether some job of `tvctl status` is in one of the STATEs. The
#                             status is read whole before it is looked at: `tvctl ... | grep -q`
#                             under pipefail ends the loop early once the status is over 4 KiB
#                             (grep exits at the first match, tvctl dies of SIGPIPE, 141)
flox_env() {
  local dir=$1 upstream=${2:-}
  mkdir -p "$dir/.flox/env"
  printf 'version = 1\n' > "$dir/.flox/env/manifest.toml"
  printf '{}\n' > "$dir/.flox/env/manifest.lock"
  printf 'run/\ncache/\nlib/\nlog/\n!env/\n' > "$dir/.flox/.gitignore"  # flox's own
  git -C "$dir" init -q -b main
  git -C "$dir" add .flox
  git -C "$dir" -c user.name=b -c user.email=b@b commit -qm env
  if [ -n "$upstream" ]; then
    git init -q --bare "$upstream"
    git -C "$dir" remote add origin "$upstream"
    git -C "$dir" push -q -u origin main
  fi
}

fake_flox() {
  local work=$1
  mkdir -p "$work/plan"
  printf '#!/bin/sh\nFAKE_FLOX_PLAN=%s exec %s "$@"\n' "$work/plan" \
    "$(pwd)/tests/support/fake-flox" > "$work/flox"
  chmod +x "$work/flox"
}

serve() {
  local work=$1
  "$tvd" serve --config "$work/tvd.json" > "$work/serve.log" 2>&1 &
  pid=$!
  sock="$work/state/tvd.sock"
  for _ in $(seq 100); do "$tvctl" --socket "$sock" status >/dev/null 2>&1 && return; sleep 0.05; done
  echo "tvd serve did not answer:" >&2
  cat "$work/serve.log" >&2
  return 1
}

any_job() {
  local sock=$1 s state
  shift
  s=$("$tvctl" --socket "$sock" --json status) || return 1
  for state in "$@"; do
    [[ $s == *"\"state\": \"$state\""* || $s == *"\"state\":\"$state\""* ]] && return 0
  done
  return 1
}
