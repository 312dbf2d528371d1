#!/usr/bin/env bash
# Installs the Meridian edge gateway: binary, configuration, systemd unit, state directory and
# the `meridian` system user.
#
#   edge/install.sh [--prefix DIR] [--unit-dir DIR] [--binary-dir DIR] [--no-user] [--no-strip]
#
# Without --binary-dir it builds a release binary first:
#   swift build -c release --static-swift-stdlib
# --binary-dir DIR (or MERIDIAN_BINARY_DIR) installs DIR/meridian-edge instead, e.g. a debug
# build for tests or a binary built on another machine of the same architecture. The installed
# copy is stripped unless --no-strip.
#
# DESTDIR is honoured as in GNU make: everything goes under $DESTDIR, paths inside the files stay
# the final ones, and the user is not created (packaging creates it in postinst). An existing
# configuration file is never overwritten; the new one is written beside it as .dist.
#
# Layout (defaults):
#   $PREFIX/bin/meridian-edge                       PREFIX=/usr/local
#   /etc/meridian/meridian-edge.conf                the default configuration, persistence in /var/lib/meridian
#   /etc/meridian/bridges/                          for bridge blocks (include_dir)
#   $UNIT_DIR/meridian-edge.service                 UNIT_DIR=/etc/systemd/system
#   /var/lib/meridian/                              the store (StateDirectory of the unit)
#   $PREFIX/share/doc/meridian-edge/bridge.conf.example
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${PREFIX:-/usr/local}"
unit_dir="${UNIT_DIR:-/etc/systemd/system}"
binary_dir="${MERIDIAN_BINARY_DIR:-}"
create_user=1
strip_binary=1
destdir="${DESTDIR:-}"

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --unit-dir) unit_dir="$2"; shift 2 ;;
    --binary-dir) binary_dir="$2"; shift 2 ;;
    --no-user) create_user=0; shift ;;
    --no-strip) strip_binary=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$binary_dir" ]; then
  export PATH="$PATH:/opt/swift/usr/bin"
  (cd "$repo" && swift build -c release --static-swift-stdlib --product meridian-edge)
  binary_dir="$(cd "$repo" && swift build -c release --static-swift-stdlib --show-bin-path)"
fi
binary="$binary_dir/meridian-edge"
[ -x "$binary" ] || { echo "install.sh: no executable $binary" >&2; exit 1; }

bindir="$prefix/bin"
docdir="$prefix/share/doc/meridian-edge"
confdir=/etc/meridian
statedir=/var/lib/meridian

install -d -m 0755 "$destdir$bindir" "$destdir$confdir" "$destdir$confdir/bridges" "$destdir$unit_dir" "$destdir$docdir"
install -d -m 0750 "$destdir$statedir"

install -m 0755 "$binary" "$destdir$bindir/meridian-edge"
if [ "$strip_binary" = 1 ] && command -v strip >/dev/null 2>&1; then
  strip "$destdir$bindir/meridian-edge"
fi

# The repository's default configuration, with the store in the state directory.
conf="$destdir$confdir/meridian-edge.conf"
target="$conf"
[ -e "$conf" ] && target="$conf.dist"
sed -e "s|^persistence_location .*|persistence_location $statedir/|" \
    -e "s|^#include_dir\$|#include_dir $confdir/bridges|" \
    -e "s|^password_file .*|password_file $confdir/passwd|" \
    "$repo/edge/meridian-edge.conf" > "$target"
chmod 0644 "$target"
[ "$target" = "$conf" ] || echo "install.sh: kept $conf; the new default is $target"

# The password file the configuration names: empty, so no device can log in until the operator
# adds one with mosquitto_passwd (anonymous clients are refused). An existing file is kept.
passwd="$destdir$confdir/passwd"
if [ ! -e "$passwd" ]; then
  : > "$passwd"
  chmod 0640 "$passwd"
fi

sed -e "s|/usr/local/bin/meridian-edge|$bindir/meridian-edge|" \
    "$repo/edge/systemd/meridian-edge.service" > "$destdir$unit_dir/meridian-edge.service"
chmod 0644 "$destdir$unit_dir/meridian-edge.service"

install -m 0644 "$repo/bridge.conf.example" "$destdir$docdir/bridge.conf.example"

if [ -n "$destdir" ] || [ "$create_user" = 0 ]; then
  exit 0
fi

# A real install: the service user, its state directory, and systemd.
if ! getent passwd meridian >/dev/null; then
  useradd --system --user-group --home-dir "$statedir" --no-create-home \
    --shell /usr/sbin/nologin --comment "Meridian edge gateway" meridian
fi
chown meridian:meridian "$statedir"
chgrp meridian "$confdir/passwd"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "installed; start with: systemctl enable --now meridian-edge"
fi
