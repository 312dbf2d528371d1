#!/usr/bin/env python3
"""5.0 No Local: a client subscribed with No Local does not get its own messages back;
other subscribers do, and without No Local the client does get its own."""

from scenario import Peer, SubscribeOptions, check, describe, log, parse_args, unique


def main():
    args = parse_args(__doc__)
    topic = unique("nolocal")
    echo_topic = unique("echo")

    alice = Peer(args, protocol="5")
    alice.connect()
    alice.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=True))
    alice.subscribe(echo_topic, options=SubscribeOptions(qos=1, noLocal=False))

    bob = Peer(args, protocol="5")
    bob.connect()
    bob.subscribe(topic, qos=1)

    alice.publish(topic, b"from-alice")
    bob.publish(topic, b"from-bob")

    before = alice.messages_until(b"from-bob")
    check(before == [], f"No Local subscriber got its own message: {describe(before)}")
    bob_before = bob.messages_until(b"from-bob")
    check([m.payload for m in bob_before] == [b"from-alice"], f"other subscriber missed the message: {describe(bob_before)}")

    alice.publish(echo_topic, b"echo")
    echoed = alice.expect_message("own message on a subscription without No Local")
    check(echoed.payload == b"echo" and echoed.topic == echo_topic, f"unexpected {echoed.topic} {echoed.payload!r}")

    alice.disconnect()
    bob.disconnect()
    log("no local: ok")


if __name__ == "__main__":
    main()
