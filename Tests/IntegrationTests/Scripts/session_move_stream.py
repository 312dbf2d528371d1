#!/usr/bin/env python3
"""A persistent session that moves between two nodes of a cluster while messages stream to it
from a third: every message published (and acknowledged) reaches it, QoS 2 exactly once.

A subscriber (MQTT 5, Clean Start 0, Session Expiry 300) subscribes on --port (node A). A
publisher on --publish-port (node C) publishes --count messages at --qos, one every --interval
seconds, waiting for each acknowledgement. Meanwhile the subscriber moves --moves times,
alternating between node B (--other-port) and node A: it disconnects and connects with the same
client id, so the session (subscription and queue) moves with it while other nodes' messages are
on their way. At the end every payload must have arrived; at QoS 2 none twice, at QoS 1 no more
twice than were in flight at the moves.
"""

import threading
import time

from scenario import Peer, check, fail, log, parse_args, unique


def extra(parser):
    parser.add_argument("--other-port", type=int, required=True)
    parser.add_argument("--publish-port", type=int, required=True)
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--qos", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.002)
    parser.add_argument("--moves", type=int, default=6)


args = parse_args(__doc__, extra)
topic = unique("stream")
client_id = unique("mover")
expiry = {"SessionExpiryInterval": 300}

from scenario import properties
from paho.mqtt.packettypes import PacketTypes

received = []
lock = threading.Lock()


subscriber = Peer(args, client_id=client_id)
subscriber.client.on_message = lambda client, userdata, message: record(message)


def attach(port, clean_start):
    """Connects the one subscriber client to `port` (the same paho client throughout, so that its
    own QoS 2 state, a PUBREC sent and the PUBREL awaited, survives each move)."""
    subscriber.port = port
    flags, _ = subscriber.connect(clean_start=clean_start, props=properties(PacketTypes.CONNECT, **expiry))
    return flags


def record(message):
    with lock:
        received.append(message.payload.decode())


attach(args.port, True)
subscriber.subscribe(topic, qos=args.qos)
time.sleep(1.0)  # the route reaches node C

publisher = Peer(args, port=args.publish_port)
publisher.connect()
payloads = [f"m-{i}" for i in range(args.count)]
done = threading.Event()


def publish_all():
    for payload in payloads:
        publisher.publish(topic, payload, qos=args.qos)
        time.sleep(args.interval)
    done.set()


thread = threading.Thread(target=publish_all, daemon=True)
thread.start()
ports = [args.other_port, args.port]
span = args.count * args.interval
for move in range(args.moves):
    time.sleep(span / (args.moves + 1))
    subscriber.client.disconnect()
    subscriber.client.loop_stop()
    flags = attach(ports[move % 2], False)
    check(flags.session_present, f"move {move + 1}: the session did not move (Session Present 0)")
    log(f"move {move + 1}: on port {ports[move % 2]} with {len(received)} received")
thread.join(timeout=120)
check(done.is_set(), "the publisher did not finish")

deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    with lock:
        if set(received) >= set(payloads):
            break
    time.sleep(0.1)
time.sleep(0.5)
with lock:
    got = list(received)
missing = [p for p in payloads if p not in set(got)]
duplicates = len(got) - len(set(got))
log(f"received {len(got)} of {len(payloads)}: {len(missing)} missing, {duplicates} duplicates")
check(not missing, f"{len(missing)} acknowledged messages never arrived: {missing[:20]}")
twice = sorted({p for p in got if got.count(p) > 1}, key=lambda p: int(p[2:]))
if args.qos == 2:
    check(duplicates == 0, f"{duplicates} QoS 2 messages arrived twice: {twice[:20]}")
else:
    # A QoS 1 message in flight when the client leaves is sent again: at most a few per move, never
    # the stream that reached the session both directly and through its old node.
    check(duplicates <= 3 * args.moves, f"{duplicates} QoS 1 messages arrived twice (more than the in-flight window at each move)")
subscriber.disconnect()
publisher.disconnect()
log("every message reached the moving session")
