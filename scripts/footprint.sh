#!/usr/bin/env bash
# Measures the edge gateway's footprint for the README: the stripped binary's size, RSS when
# idle with the default configuration (edge/meridian-edge.conf, only its ports moved to free
# ones), and RSS with N idle MQTT connections (default 1,000).
#
#   swift build -c release --static-swift-stdlib --product meridian-edge
#   scripts/footprint.sh [BINARY] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-.build/release/meridian-edge}"
connections="${2:-1000}"
work="$(mktemp -d "${TMPDIR:-/tmp}/meridian-footprint.XXXXXX")"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

cp "$binary" "$work/meridian-edge"
strip "$work/meridian-edge"
echo "stripped binary: $(stat -c %s "$work/meridian-edge") bytes ($(uname -m))"

read -r mqtt http < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
sed -e "s/^listener 1883\$/listener $mqtt 127.0.0.1/" -e "s/^http_listener 9883 /http_listener $http /" \
  edge/meridian-edge.conf > "$work/meridian-edge.conf"
(cd "$work" && exec ./meridian-edge --config meridian-edge.conf 2>"$work/stderr.log") &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.1; done
rss() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$pid/status"; }
sleep 2
idle="$(rss)"
echo "idle RSS, default configuration: $idle bytes"

python3 - "$mqtt" "$connections" "$pid" "$idle" <<'PY'
import socket, sys, time
port, count, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def connect(i):
    client = ("fp-%d" % i).encode()
    body = b"\x00\x04MQTT\x04\x02\x02\x58" + len(client).to_bytes(2, "big") + client  # 3.1.1, clean, keep-alive 600 s
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(bytes([0x10, len(body)]) + body)
    assert s.recv(4)[:2] == b"\x20\x02"
    return s
sockets = [connect(i) for i in range(count)]
time.sleep(2)
rss = [int(l.split()[1]) * 1024 for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0]
print("RSS with %d idle connections: %d bytes (%d bytes per connection over idle)" % (count, rss, (rss - int(sys.argv[4])) // count))
PY
