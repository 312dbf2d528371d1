#!/usr/bin/env bash
# Builds and runs the edge gateway with the default configuration (edge/meridian-edge.conf).
# Extra arguments are passed to meridian-edge (for example: -p 1884).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/install-deps.sh
swift build -c release --product meridian-edge
exec .build/release/meridian-edge --config edge/meridian-edge.conf "$@"
