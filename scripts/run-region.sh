#!/usr/bin/env bash
# Tries a region cluster on one machine: a 3-member etcd and three meridian-region nodes on
# loopback (MQTT on 1891-1893, HTTP on 9891-9893), anonymous access, data under a temp directory.
# Ctrl-C stops everything it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/install-deps.sh
swift build -c release --product meridian-region
work=$(mktemp -d -t meridian-region.XXXXXX)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped; logs and data in $work"
}
trap stop EXIT
trap 'exit 130' INT TERM

cluster="e0=http://127.0.0.1:12380,e1=http://127.0.0.1:12381,e2=http://127.0.0.1:12382"
for i in 0 1 2; do
  etcd --name "e$i" --data-dir "$work/etcd$i" \
    --listen-client-urls "http://127.0.0.1:1237$i" --advertise-client-urls "http://127.0.0.1:1237$i" \
    --listen-peer-urls "http://127.0.0.1:1238$i" --initial-advertise-peer-urls "http://127.0.0.1:1238$i" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token meridian-try \
    >"$work/etcd$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  cat >"$work/node$i.conf" <<CONF
listener 189$i 127.0.0.1
allow_anonymous true
http_listener 989$i 127.0.0.1
cluster_name try
node_name node-$i
cluster_listener 789$i 127.0.0.1
cluster_secret try-this-cluster-secret
etcd_endpoints http://127.0.0.1:12370 http://127.0.0.1:12371 http://127.0.0.1:12372
membership_ttl 5
CONF
  .build/release/meridian-region --config "$work/node$i.conf" >"$work/node$i.log" 2>&1 &
  pids+=($!)
done
echo "etcd on 12370-12372; nodes: MQTT 1891-1893, HTTP 9891-9893 (try: curl 127.0.0.1:9891/cluster)"
echo "cross-node: mosquitto_sub -p 1892 -t demo/# -v   and   mosquitto_pub -p 1891 -t demo/1 -m hello"
echo "logs in $work; Ctrl-C stops everything"
wait
