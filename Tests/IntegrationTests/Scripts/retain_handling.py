#!/usr/bin/env python3
"""5.0 Retain Handling and Retain As Published.

0: retained messages are sent at every subscribe, even a repeated one.
1: sent only when the subscription did not exist yet.
2: never sent at subscribe.
Retain As Published keeps the RETAIN flag on live deliveries; without it the flag is 0."""

from scenario import Peer, SubscribeOptions, check, describe, log, parse_args, unique

RETAINED = b"retained-state"


def retained_at_subscribe(peer, publisher, topic, handling, tag):
    """Subscribes with `handling`, then sends a live sentinel; returns what came before."""
    peer.subscribe(topic, options=SubscribeOptions(qos=1, retainHandling=handling))
    sentinel = f"sentinel-{tag}".encode()
    publisher.publish(topic, sentinel)
    return peer.messages_until(sentinel)


def main():
    args = parse_args(__doc__)
    topic = unique("rh") + "/state"

    publisher = Peer(args, protocol="5")
    publisher.connect()
    publisher.publish(topic, RETAINED, retain=True)

    def expect(before, wanted, what):
        got = [(m.payload, m.retain) for m in before]
        check(got == wanted, f"{what}: expected {wanted}, got {describe(before)}")

    always = Peer(args, protocol="5")
    always.connect()
    expect(retained_at_subscribe(always, publisher, topic, 0, "0a"), [(RETAINED, True)], "retain handling 0, first subscribe")
    expect(retained_at_subscribe(always, publisher, topic, 0, "0b"), [(RETAINED, True)], "retain handling 0, repeated subscribe")

    if_new = Peer(args, protocol="5")
    if_new.connect()
    expect(retained_at_subscribe(if_new, publisher, topic, 1, "1a"), [(RETAINED, True)], "retain handling 1, new subscription")
    expect(retained_at_subscribe(if_new, publisher, topic, 1, "1b"), [], "retain handling 1, existing subscription")

    never = Peer(args, protocol="5")
    never.connect()
    expect(retained_at_subscribe(never, publisher, topic, 2, "2"), [], "retain handling 2")

    as_published = Peer(args, protocol="5")
    as_published.connect()
    as_published.subscribe(topic, options=SubscribeOptions(qos=1, retainAsPublished=True, retainHandling=2))
    publisher.publish(topic, b"live-retained", retain=True)
    live = as_published.expect_message("live retained publish")
    check(live.payload == b"live-retained" and live.retain, f"Retain As Published lost the flag: {describe([live])}")
    plain = never.expect_message("live retained publish")
    check(plain.payload == b"live-retained" and not plain.retain, f"live delivery kept the flag: {describe([plain])}")

    for peer in (always, if_new, never, as_published, publisher):
        peer.disconnect()
    log("retain handling: ok")


if __name__ == "__main__":
    main()
