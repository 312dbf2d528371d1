#!/usr/bin/env python3
"""A shared subscription's member that leaves with unacknowledged QoS 1 messages: they go to
another member of the group, on another node of a cluster.

A member of $share/<group>/<topic> connects to --port (node B) and acknowledges nothing; --count
QoS 1 messages are published on --publish-port (node A), where the group has no member, so all
go to it. Then a second member subscribes on --other-port (node C), and once its route had time
to reach B the first member disconnects. The second member must receive every one of the
messages (its copies may come with DUP set); nothing else of the group arrives.
"""

import time

from scenario import Peer, check, fail, log, parse_args, unique


def extra(parser):
    parser.add_argument("--other-port", type=int, required=True)
    parser.add_argument("--publish-port", type=int, required=True)
    parser.add_argument("--count", type=int, default=10)


args = parse_args(__doc__, extra)
group = unique("g")
topic = unique("jobs")
shared = f"$share/{group}/{topic}"
payloads = [f"job-{i}".encode() for i in range(args.count)]

holder = Peer(args, client_id=unique("holder"))
holder.client.manual_ack_set(True)  # receives, never acknowledges
holder.connect()
holder.subscribe(shared, qos=1)
time.sleep(1.0)  # the group's route reaches node A

publisher = Peer(args, port=args.publish_port)
publisher.connect()
for payload in payloads:
    publisher.publish(topic, payload, qos=1)
held = sorted(holder.expect_message(f"held {i}").payload for i in range(args.count))
check(held == sorted(payloads), f"the first member did not get every message: {held}")
log(f"first member holds {len(held)} unacknowledged messages")

taker = Peer(args, port=args.other_port)
taker.connect()
taker.subscribe(shared, qos=1)
time.sleep(1.0)  # the second member's route reaches node B
holder.disconnect()

got = sorted(taker.expect_message(f"redelivered {i}").payload for i in range(args.count))
check(got == sorted(payloads), f"the second member got {got}, not every held message")
time.sleep(0.5)
check(taker.messages.empty(), f"more than the held messages reached the second member: {taker.messages.qsize()} extra")
publisher.disconnect()
taker.disconnect()
log("every unacknowledged message went to the member on the other node")
