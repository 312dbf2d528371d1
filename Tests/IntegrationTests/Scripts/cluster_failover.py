#!/usr/bin/env python3
"""Failover of a node's clients: --count clients connect to node A (--port); once all are up the
script creates --connected-file and waits for --go-file (the test kills A with SIGKILL in
between); then every client connects to node B (--other-port), trying again 200 ms after each
refusal or unanswered CONNECT, until all are connected or --within seconds have passed. Prints
the seconds from the go file to each client's CONNACK on B; exits 0 when all got in."""

import os
import queue
import threading
import time

import paho.mqtt.client as mqtt
from scenario import check, log, parse_args, unique


def attempt(args, client_id, port, timeout):
    """One CONNECT (5.0, clean start): the paho client when accepted, else None."""
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5, reconnect_on_failure=False)
    answers = queue.Queue()
    client.on_connect = lambda c, u, f, rc, p: answers.put(rc)
    try:
        client.connect(args.host, port, keepalive=30, clean_start=True)
    except OSError:
        return None
    client.loop_start()
    try:
        rc = answers.get(timeout=timeout)
    except queue.Empty:
        rc = None
    if rc is None or rc.is_failure:
        client.loop_stop()
        try:
            client.disconnect()
        except Exception:
            pass
        return None
    return client


def main():
    args = parse_args(__doc__, lambda parser: (
        parser.add_argument("--other-port", type=int, required=True),
        parser.add_argument("--count", type=int, default=20),
        parser.add_argument("--within", type=float, default=30),
        parser.add_argument("--connected-file", required=True),
        parser.add_argument("--go-file", required=True)))
    ids = [unique(f"field-{n}") for n in range(args.count)]
    on_a = [attempt(args, client_id, args.port, 10) for client_id in ids]
    check(all(on_a), f"{sum(1 for c in on_a if c is None)} of {args.count} clients could not connect to A")
    open(args.connected_file, "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists(args.go_file):
        check(time.monotonic() < deadline, "no go file")
        time.sleep(0.01)
    killed = time.monotonic()
    for client in on_a:
        client.loop_stop()

    results = {}

    def reconnect(client_id):
        while time.monotonic() - killed < args.within:
            client = attempt(args, client_id, args.other_port, 6)
            if client is not None:
                results[client_id] = time.monotonic() - killed
                client.loop_stop()
                return
            time.sleep(0.2)

    threads = [threading.Thread(target=reconnect, args=(client_id,)) for client_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = sorted(results.values())
    check(len(times) == args.count, f"{len(times)} of {args.count} clients connected to B within {args.within} s")
    log(f"failover: {args.count} clients connected to B, first {times[0]:.2f} s, median {times[len(times) // 2]:.2f} s, "
        f"last {times[-1]:.2f} s after the kill")


if __name__ == "__main__":
    main()
