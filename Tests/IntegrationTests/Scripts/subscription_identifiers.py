#!/usr/bin/env python3
"""5.0 subscription identifiers: a message carries the identifiers of every matching
subscription of the receiving client, and none when the subscription had none."""

from scenario import PacketTypes, Peer, check, describe, log, parse_args, properties, unique


def identifiers(messages):
    found = set()
    for message in messages:
        found.update(getattr(message.properties, "SubscriptionIdentifier", []) or [])
    return found


def main():
    args = parse_args(__doc__)
    root = unique("subid")

    receiver = Peer(args, protocol="5")
    _, connack = receiver.connect()
    check(getattr(connack, "SubscriptionIdentifierAvailable", 1) == 1, "broker says subscription identifiers are not available")
    receiver.subscribe(f"{root}/a", props=properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=5))
    receiver.subscribe(f"{root}/b/#", props=properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7))
    receiver.subscribe(f"{root}/+", props=properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=268435455))
    receiver.subscribe(f"{root}/none/#")

    publisher = Peer(args, protocol="5")
    publisher.connect()

    def deliveries(topic, payload):
        publisher.publish(topic, payload)
        publisher.publish(f"{root}/none/sentinel", payload + b"-end")
        return receiver.messages_until(payload + b"-end")

    single = deliveries(f"{root}/b/x", b"deep")
    check([m.payload for m in single] == [b"deep"], f"expected one copy on {root}/b/x, got {describe(single)}")
    check(identifiers(single) == {7}, f"expected identifier 7, got {identifiers(single)}")

    overlapping = deliveries(f"{root}/a", b"both")
    check(len(overlapping) in (1, 2) and all(m.payload == b"both" for m in overlapping),
          f"expected one or two copies on {root}/a, got {describe(overlapping)}")
    check(identifiers(overlapping) == {5, 268435455}, f"expected identifiers 5 and 268435455, got {identifiers(overlapping)}")

    plain = deliveries(f"{root}/none/x", b"plain")
    check([m.payload for m in plain] == [b"plain"], f"expected one copy on {root}/none/x, got {describe(plain)}")
    check(identifiers(plain) == set(), f"expected no identifier, got {identifiers(plain)}")

    publisher.disconnect()
    receiver.disconnect()
    log("subscription identifiers: ok")


if __name__ == "__main__":
    main()
