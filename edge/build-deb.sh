#!/usr/bin/env bash
# Builds a Debian package of the Meridian edge gateway for the machine's architecture:
#
#   edge/build-deb.sh [--binary-dir DIR] [--output DIR]
#
# writes meridian-edge_<version>_<arch>.deb, where <arch> is `dpkg --print-architecture`
# (amd64 here, arm64 when run on an ARM64 Debian machine or build host with the Swift
# toolchain; nothing in it names an architecture). The binary is a release build
# (swift build -c release --static-swift-stdlib, stripped) unless --binary-dir (or
# MERIDIAN_BINARY_DIR) names a directory holding a meridian-edge built for the same
# architecture. The package installs under /usr, the unit in /lib/systemd/system, and its
# postinst creates the `meridian` system user and /var/lib/meridian.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
binary_dir="${MERIDIAN_BINARY_DIR:-}"
output="$repo/.build/deb"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary-dir) binary_dir="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

arch="$(dpkg --print-architecture)"
stage="$(mktemp -d "${TMPDIR:-/tmp}/meridian-deb.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
root="$stage/root"

args=(--prefix /usr --unit-dir /lib/systemd/system)
[ -n "$binary_dir" ] && args+=(--binary-dir "$binary_dir")
DESTDIR="$root" bash "$repo/edge/install.sh" "${args[@]}"

version="$("$root/usr/bin/meridian-edge" --version | awk '{print $2}')"
installed_size="$(du -sk "$root" | cut -f1)"
# The Swift standard library is linked in statically (--static-swift-stdlib); libc, the C++
# runtime it needs and the system SQLite are shared libraries of the distribution.

install -d -m 0755 "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: meridian-edge
Version: $version
Architecture: $arch
Maintainer: Meridian maintainers <meridian@localhost>
Installed-Size: $installed_size
Depends: libc6, libgcc-s1, libstdc++6, libsqlite3-0, adduser
Section: net
Priority: optional
Homepage: https://github.com/meridian/meridian
Description: Meridian edge gateway, an MQTT 3.1.1/5.0 broker
 An MQTT broker for field gateways: devices keep publishing while the uplink is
 down, messages wait in a SQLite store and bridges forward them to the region
 brokers. Exposes Prometheus metrics and health probes on http_listener.
CONTROL
printf '%s\n' /etc/meridian/meridian-edge.conf /etc/meridian/passwd > "$root/DEBIAN/conffiles"

cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd meridian >/dev/null; then
    adduser --system --group --home /var/lib/meridian --no-create-home \
      --shell /usr/sbin/nologin --gecos "Meridian edge gateway" meridian
  fi
  install -d -m 0750 -o meridian -g meridian /var/lib/meridian
  # The service reads the password file; devices are added with mosquitto_passwd.
  chgrp meridian /etc/meridian/passwd && chmod 0640 /etc/meridian/passwd
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
    systemctl enable meridian-edge.service >/dev/null || true
    systemctl restart meridian-edge.service || true
  fi
fi
exit 0
POSTINST

cat > "$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl disable --now meridian-edge.service >/dev/null || true
fi
exit 0
PRERM

cat > "$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi
# The store in /var/lib/meridian and the user stay unless purged.
if [ "$1" = purge ]; then
  rm -rf /var/lib/meridian
  if getent passwd meridian >/dev/null && command -v deluser >/dev/null; then deluser --system meridian >/dev/null || true; fi
fi
exit 0
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$output"
package="$output/meridian-edge_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$package" >/dev/null
echo "$package"
