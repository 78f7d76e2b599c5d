#!/usr/bin/env bash
# The package's maintainer scripts, run by the real dpkg into a scratch root (dpkg --root, the
# scripts outside a chroot with $DPKG_ROOT, as dpkg does for such roots): an install with the
# example config, a purge, an install with a config of the admin's own, an upgrade after the
# admin disabled the timer, a remove and a purge. Each step checks what the scripts left.
# Usage: deb_scripts_check.sh PACKAGE.deb WORKDIR
set -euo pipefail
deb=$1
work=$2
root=$work/root
rm -rf "$work"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc/systemd/system"
: >"$root/var/lib/dpkg/status"
# The root's own users: sysusers adds tvd to these, never to the host's.
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

fail() {
  echo "deb_scripts_check: $*" >&2
  exit 1
}
dpkg_root() {
  dpkg --root="$root" --force-script-chrootless --force-depends --force-unsafe-io \
    --log=/dev/null "$@" 2>&1
}
host_passwd=$(sha256sum </etc/passwd)
timer_link=$root/etc/systemd/system/timers.target.wants/tvd-nightly.timer

# 1. A first install: user, group, /etc/tvd, the example config; the timer stays off.
said=$(dpkg_root -i "$deb")
grep -q '^tvd:' "$root/etc/passwd" || fail "install: no tvd user in the root's /etc/passwd"
grep -q '^tvd:' "$root/etc/group" || fail "install: no tvd group"
[ "$(sha256sum </etc/passwd)" = "$host_passwd" ] || fail "install: the host's /etc/passwd changed"
cmp -s "$root/etc/tvd/tvd.json" "$root/usr/share/tvd/examples/tvd.json" ||
  fail "install: /etc/tvd/tvd.json is not the example"
[ "$(stat -c %a "$root/etc/tvd/tvd.json")" = 640 ] || fail "install: tvd.json is not 0640"
gid=$(awk -F: '$1 == "tvd" { print $3 }' "$root/etc/group")
[ "$(stat -c %g "$root/etc/tvd/tvd.json")" = "$gid" ] || fail "install: tvd.json's group is not tvd"
[ ! -e "$timer_link" ] || fail "install: the timer was enabled with the example config"
grep -q "is the example; the nightly timer stays off" <<<"$said" ||
  fail "install: it did not say why the timer is off: $said"
[ -x "$root/usr/lib/tvd/tvd-run" ] || fail "install: no /usr/lib/tvd/tvd-run"
echo "install with the example config: user, group, config 0640 root:tvd, timer off"

# 2. Purge: what the scripts made goes; the user stays (Debian keeps system users).
mkdir -p "$root/var/lib/tvd/logs" && echo db >"$root/var/lib/tvd/tvd.db"
dpkg_root --purge tvd >/dev/null
for gone in etc/tvd var/lib/tvd usr/bin/tvd; do
  [ ! -e "$root/$gone" ] || fail "purge: /$gone is still there"
done
if find "$root/etc/systemd" -name 'tvd*' | grep -q .; then
  fail "purge: links or masks of tvd's units are left: $(find "$root/etc/systemd" -name 'tvd*')"
fi
grep -q '^tvd:' "$root/etc/passwd" || fail "purge: the tvd user was deleted"
echo "purge: /etc/tvd, /var/lib/tvd and every unit link gone; the user kept"

# 3. A first install onto a config of the admin's own: the nights begin.
mkdir -p "$root/etc/tvd"
printf '{ "flox_env": "/srv/build-torchvision" }\n' >"$root/etc/tvd/tvd.json"
dpkg_root -i "$deb" >/dev/null
[ -L "$timer_link" ] || fail "install with a config: the timer was not enabled"
grep -q /srv/build-torchvision "$root/etc/tvd/tvd.json" || fail "install: the admin's config was replaced"
echo "install with the admin's config: config kept, timer enabled"

# 4. The admin disables the timer; an upgrade (the same package again) leaves it off.
systemctl --root="$root" disable tvd-nightly.timer >/dev/null 2>&1
[ ! -e "$timer_link" ] || fail "systemctl --root disable did not disable the timer"
dpkg_root -i "$deb" >/dev/null
[ ! -e "$timer_link" ] || fail "upgrade: the timer the admin disabled was enabled again"
echo "upgrade after a disable: the timer stays off"

# 5. Remove: the programs go, the config and the state stay, the units are masked.
mkdir -p "$root/var/lib/tvd" && echo db >"$root/var/lib/tvd/tvd.db"
dpkg_root -r tvd >/dev/null
[ ! -e "$root/usr/bin/tvd" ] || fail "remove: /usr/bin/tvd is still there"
[ -e "$root/etc/tvd/tvd.json" ] || fail "remove: the config went (only a purge deletes it)"
[ -e "$root/var/lib/tvd/tvd.db" ] || fail "remove: the database went (only a purge deletes it)"
echo "remove: programs gone, config and database kept"

# 6. Purge after the remove.
dpkg_root --purge tvd >/dev/null
for gone in etc/tvd var/lib/tvd; do
  [ ! -e "$root/$gone" ] || fail "purge after remove: /$gone is still there"
done
if find "$root/etc/systemd" -name 'tvd*' | grep -q .; then
  fail "purge after remove: unit links or masks are left: $(find "$root/etc/systemd" -name 'tvd*')"
fi
echo "purge after remove: nothing of tvd left but its user"
