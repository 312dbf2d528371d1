#!/usr/bin/env bash
# Installs what building and testing Meridian needs on Debian, skipping what is already there.
# Needs root (or sudo) for apt-get. The Swift toolchain itself is expected on PATH or in /opt/swift.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(mosquitto mosquitto-clients libmosquitto-dev libsqlite3-dev libssl-dev openssl python3-pip curl etcd-server)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ] || [ "${MERIDIAN_FORCE_APT:-0}" = 1 ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${packages[@]}"
fi

if ! python3 -c 'import paho.mqtt, sys; sys.exit(0 if paho.mqtt.__version__.startswith("2") else 1)' 2>/dev/null; then
  python3 -m pip install --quiet 'paho-mqtt>=2,<3' || python3 -m pip install --quiet --break-system-packages 'paho-mqtt>=2,<3'
fi

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  echo "note: add /opt/swift/usr/bin to PATH" >&2
fi
