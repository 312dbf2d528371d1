#!/usr/bin/env python3
"""Many retained messages: --phase publish sets --count retained QoS 0 messages on distinct topics
under --prefix (then one QoS 1 message, so that all of them were taken when it is acknowledged);
--phase check subscribes to --prefix/# and expects exactly --count retained messages, one per
topic, with the payloads publish gave them, within --timeout seconds.
"""

import time

from scenario import Peer, check, fail, log, parse_args


def extra(parser):
    parser.add_argument("--phase", choices=["publish", "check"], required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--timeout", type=float, default=30)


args = parse_args(__doc__, extra)
expected = {f"{args.prefix}/{i // 100}/{i}": f"v{i}" for i in range(args.count)}

if args.phase == "publish":
    publisher = Peer(args)
    publisher.connect()
    for topic, value in expected.items():
        info = publisher.client.publish(topic, value, qos=0, retain=True)
        check(info.rc == 0, f"publish {topic} failed: {info.rc}")
    publisher.publish(f"{args.prefix}-done", b"x", qos=1)
    publisher.disconnect()
    log(f"published {args.count} retained messages")
else:
    sub = Peer(args)
    sub.connect()
    sub.subscribe(f"{args.prefix}/#", qos=0)
    got = {}
    deadline = time.monotonic() + args.timeout
    while len(got) < args.count and time.monotonic() < deadline:
        try:
            message = sub.messages.get(timeout=max(0.01, deadline - time.monotonic()))
        except Exception:
            break
        check(message.retain, f"{message.topic}: not sent as retained")
        check(message.topic not in got, f"{message.topic}: sent twice")
        got[message.topic] = message.payload.decode()
    time.sleep(0.3)
    check(sub.messages.empty(), "more retained messages than were set")
    wrong = [t for t, v in got.items() if expected.get(t) != v]
    check(not wrong, f"wrong values: {wrong[:5]}")
    check(len(got) == args.count, f"{len(got)} of {args.count} retained messages")
    sub.disconnect()
    log(f"all {args.count} retained messages")
