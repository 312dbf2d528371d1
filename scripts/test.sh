#!/usr/bin/env bash
# Runs the whole test suite: codec, broker core and config unit tests, the decoder fuzz run,
# and the integration tests that start the real meridian-edge binary and drive it with
# mosquitto_pub/mosquitto_sub and paho-mqtt.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
