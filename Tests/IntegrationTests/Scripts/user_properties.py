#!/usr/bin/env python3
"""5.0 pass-through: user properties (in order, duplicates kept), content type, response
topic, correlation data and payload format reach the subscriber unchanged."""

from scenario import PacketTypes, Peer, check, log, parse_args, properties, unique

USER_PROPERTIES = [("site", "north"), ("unit", "°C"), ("site", "south")]


def main():
    args = parse_args(__doc__)
    topic = unique("props")

    subscriber = Peer(args, protocol="5")
    subscriber.connect()
    subscriber.subscribe(topic, qos=1)

    publisher = Peer(args, protocol="5")
    publisher.connect()
    props = properties(
        PacketTypes.PUBLISH,
        UserProperty=USER_PROPERTIES,
        ContentType="application/json",
        ResponseTopic=f"{topic}/reply",
        CorrelationData=b"\x00\x01corr",
        PayloadFormatIndicator=1,
    )
    publisher.publish(topic, b'{"t": 21.5}', props=props)

    message = subscriber.expect_message("published message")
    got = message.properties
    check(message.payload == b'{"t": 21.5}', f"payload changed: {message.payload!r}")
    check(getattr(got, "UserProperty", None) == USER_PROPERTIES, f"user properties: {getattr(got, 'UserProperty', None)}")
    check(getattr(got, "ContentType", None) == "application/json", f"content type: {getattr(got, 'ContentType', None)}")
    check(getattr(got, "ResponseTopic", None) == f"{topic}/reply", f"response topic: {getattr(got, 'ResponseTopic', None)}")
    check(getattr(got, "CorrelationData", None) == b"\x00\x01corr", f"correlation data: {getattr(got, 'CorrelationData', None)}")
    check(getattr(got, "PayloadFormatIndicator", None) == 1, f"payload format: {getattr(got, 'PayloadFormatIndicator', None)}")

    publisher.disconnect()
    subscriber.disconnect()
    log("user properties: ok")


if __name__ == "__main__":
    main()
