#!/usr/bin/env bash
# Builds and runs the edge gateway with the default configuration (edge/meridian-edge.conf).
# Extra arguments are passed to meridian-edge (for example: -p 1884).
#
# The shipped configuration refuses anonymous clients and reads the password file data/passwd
# (Mosquitto's format). On the first run this script creates it with one user, so that the gateway
# can be reached at once: the username is $MERIDIAN_USER (default "device"), the password
# $MERIDIAN_PASSWORD or, if unset, a random one printed below. Add users with
#   mosquitto_passwd data/passwd NAME
# and send SIGHUP to meridian-edge (or restart it) to load them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/install-deps.sh
swift build -c release --product meridian-edge

mkdir -p data
if [ ! -e data/passwd ]; then
  user="${MERIDIAN_USER:-device}"
  password="${MERIDIAN_PASSWORD:-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')}"
  (umask 077 && mosquitto_passwd -c -b data/passwd "$user" "$password")
  echo "run-edge: created data/passwd with user '$user', password '$password'"
  echo "run-edge: try: mosquitto_sub -h 127.0.0.1 -u '$user' -P '$password' -t 'test/#' -v"
fi

exec .build/release/meridian-edge --config edge/meridian-edge.conf "$@"
