#!/usr/bin/env python3
"""5.0 inbound topic alias: a publisher maps a topic to an alias, then publishes with the
alias alone (empty topic name); the subscriber gets every message on the full topic.
Re-mapping the alias to another topic is honoured too."""

import paho.mqtt.client as mqtt

from scenario import PacketTypes, Peer, check, describe, log, parse_args, properties, unique


def alias(number):
    return properties(PacketTypes.PUBLISH, TopicAlias=number)


def main():
    args = parse_args(__doc__)
    root = unique("alias")
    first, second = f"{root}/first/topic", f"{root}/second/topic"

    subscriber = Peer(args, protocol="5")
    subscriber.connect()
    subscriber.subscribe(f"{root}/#", qos=1)

    publisher = Peer(args, protocol="5")
    _, connack = publisher.connect()
    maximum = getattr(connack, "TopicAliasMaximum", 0)
    check(maximum >= 1, f"broker allows no inbound topic aliases (Topic Alias Maximum {maximum})")

    publisher.publish(first, b"set", props=alias(1))
    publisher.publish("", b"alias-only-1", props=alias(1))
    publisher.publish("", b"alias-only-2", props=alias(1))
    publisher.publish(second, b"remap", props=alias(1))
    publisher.publish("", b"alias-after-remap", props=alias(1))
    publisher.publish(f"{root}/done", b"end")

    received = subscriber.messages_until(b"end")
    got = [(m.topic, m.payload) for m in received]
    expected = [
        (first, b"set"),
        (first, b"alias-only-1"),
        (first, b"alias-only-2"),
        (second, b"remap"),
        (second, b"alias-after-remap"),
    ]
    check(got == expected, f"expected {expected}, got {describe(received)}")
    publisher.disconnect()
    subscriber.disconnect()
    log("topic alias: ok")


if __name__ == "__main__":
    main()
