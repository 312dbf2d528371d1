#!/usr/bin/env python3
"""A burst of QoS 1 and QoS 2 messages for an offline persistent subscriber, in two
phases around a broker crash (the test kills the broker with SIGKILL in between).

--phase publish: the subscriber --client-id makes a persistent session (3.1.1 clean
session 0; 5.0 clean start 0 with Session Expiry Interval 300) with a QoS 2
subscription to --topic and disconnects; then a publisher sends --count QoS 1 messages
(payloads q1-<i>) and --count QoS 2 messages (q2-<i>), interleaved, and the script exits
0 once every one of them was acknowledged with success (PUBACK, or PUBCOMP for QoS 2).

--phase receive: the subscriber resumes its session (session present must be 1) and
receives until every payload arrived, then a sentinel is published and everything
received before it is counted by payload: each QoS 2 payload exactly once, each QoS 1
payload at least once with at most --max-qos1-duplicates extra copies in total (only
messages in flight to the subscriber may come twice; an offline subscriber has none).

--publish-port: the publishers (of the burst and of the sentinel) use another node of a
cluster than the subscriber (--port).

--connected-file/--go-file: the publisher connects, says so with the first file, and starts
publishing when the second appears (the test cuts a link in between).
"""

import os
import threading
import time

from scenario import Peer, PacketTypes, WAIT, check, fail, log, parse_args, properties, unique

SESSION_EXPIRY = 300


def extra(parser):
    parser.add_argument("--phase", choices=["publish", "receive"], required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--max-qos1-duplicates", type=int, default=0)
    parser.add_argument("--publish-port", type=int, default=None)
    parser.add_argument("--session-made", action="store_true",
                        help="publish phase: the persistent session exists already (made by the test)")
    parser.add_argument("--connected-file", default=None,
                        help="publish phase: create this file once the publisher is connected, then wait for --go-file")
    parser.add_argument("--go-file", default=None)
    parser.add_argument("--sentinel-client-id", default=None,
                        help="receive phase: the sentinel publisher's client id (a test that cuts a link picks one)")


args = parse_args(__doc__, extra)
expected = {f"q1-{i}".encode(): 1 for i in range(args.count)}
expected.update({f"q2-{i}".encode(): 2 for i in range(args.count)})


def subscriber():
    peer = Peer(args, client_id=args.client_id, clean_session=False)
    props = properties(PacketTypes.CONNECT, SessionExpiryInterval=SESSION_EXPIRY) if args.protocol == "5" else None
    flags, _ = peer.connect(clean_start=False, props=props)
    return peer, flags.session_present


def publish_phase():
    if not args.session_made:
        sub, _ = subscriber()
        sub.subscribe(args.topic, qos=2)
        sub.disconnect()

    pub = Peer(args, client_id=unique("burst-pub"), port=args.publish_port)
    acks = {}
    lock = threading.Lock()

    def on_publish(client, userdata, mid, reason_code, props):
        with lock:
            acks[mid] = reason_code

    pub.client.on_publish = on_publish
    pub.connect()
    if args.connected_file:
        open(args.connected_file, "w").close()
        deadline = time.monotonic() + WAIT
        while args.go_file and not os.path.exists(args.go_file):
            check(time.monotonic() < deadline, f"no {args.go_file} within {WAIT} s")
            time.sleep(0.01)
    infos = []
    for i in range(args.count):
        for qos in (1, 2):
            info = pub.client.publish(args.topic, f"q{qos}-{i}".encode(), qos=qos)
            check(info.rc == 0, f"publish q{qos}-{i} failed locally: {info.rc}")
            infos.append((f"q{qos}-{i}", info))
    deadline = time.monotonic() + 3 * WAIT
    while time.monotonic() < deadline:
        with lock:
            if len(acks) >= len(infos):
                break
        time.sleep(0.01)
    with lock:
        missing = [name for name, info in infos if info.mid not in acks]
        refused = [(name, str(acks[info.mid])) for name, info in infos if info.mid in acks and acks[info.mid].value != 0]
    check(not missing, f"{len(missing)} of {len(infos)} publishes not acknowledged within {3 * WAIT} s: {missing[:5]}")
    check(not refused, f"{len(refused)} publishes acknowledged with a failure: {refused[:5]}")
    # Leave without waiting for anything else: the test kills the broker as soon as we exit.
    pub.client.disconnect()
    pub.client.loop_stop()
    log(f"published and acknowledged: {len(infos)}")


def receive_phase():
    sub, session_present = subscriber()
    check(session_present, "session present = 0 on resume after the restart: the session was lost")
    received = []
    deadline = time.monotonic() + 3 * WAIT
    distinct = set()
    while len(distinct) < len(expected):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            missing = sorted(p.decode() for p in expected if p not in distinct)
            fail(f"got {len(distinct)}/{len(expected)} distinct payloads within {3 * WAIT} s; "
                 f"missing {len(missing)}: {missing[:10]}")
        message = sub.expect_message("the queued burst", timeout=remaining)
        received.append(message)
        distinct.add(message.payload)

    # Anything still owed (a second copy) was queued before the sentinel.
    sentinel = unique("sentinel").encode()
    pub = Peer(args, client_id=args.sentinel_client_id or unique("sentinel-pub"), port=args.publish_port)
    pub.connect()
    pub.publish(args.topic, sentinel, qos=1)
    pub.disconnect()
    received += sub.messages_until(sentinel)
    sub.disconnect()

    counts = {}
    for message in received:
        counts[message.payload] = counts.get(message.payload, 0) + 1
    unexpected = [m.payload for m in received if m.payload not in expected]
    check(not unexpected, f"unexpected payloads: {unexpected[:5]}")
    wrong_qos = [(m.payload, m.qos) for m in received if m.qos != expected[m.payload]]
    check(not wrong_qos, f"delivered with the wrong QoS (payload, qos): {wrong_qos[:5]}")
    qos2_dups = sorted(p.decode() for p, n in counts.items() if expected[p] == 2 and n != 1)
    check(not qos2_dups, f"QoS 2 messages delivered more than once: {[(p, counts[p.encode()]) for p in qos2_dups[:10]]}")
    qos1_extra = sum(n - 1 for p, n in counts.items() if expected[p] == 1)
    check(qos1_extra <= args.max_qos1_duplicates,
          f"{qos1_extra} duplicate QoS 1 deliveries (allowed: {args.max_qos1_duplicates}): "
          f"{sorted((p.decode(), n) for p, n in counts.items() if n > 1)[:10]}")
    log(f"received {len(counts)} distinct payloads, {len(received)} deliveries, {qos1_extra} QoS 1 duplicates")


if args.phase == "publish":
    publish_phase()
else:
    receive_phase()
