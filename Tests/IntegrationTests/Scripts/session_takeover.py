#!/usr/bin/env python3
"""5.0 session takeover: a second connection with the same client id makes the broker
disconnect the first one with reason code 0x8E (Session taken over); the second one
works normally."""

from scenario import Peer, check, log, parse_args, unique


def main():
    args = parse_args(__doc__, lambda parser: parser.add_argument(
        "--any-disconnect", action="store_true",
        help="accept a plain close instead of DISCONNECT 0x8E (mosquitto 2.0.11 sends none)"))
    client_id = unique("takeover")
    topic = unique("takeover/topic")

    first = Peer(args, client_id=client_id, protocol="5")
    first.connect()
    second = Peer(args, client_id=client_id, protocol="5")
    second.connect()

    reason = first.expect_disconnect()
    check(args.any_disconnect or reason.value == 0x8E, f"first connection disconnected with {reason} (0x{reason.value:02X}), expected 0x8E")

    second.subscribe(topic, qos=1)
    second.publish(topic, b"alive")
    message = second.expect_message("round trip on the new connection")
    check(message.payload == b"alive", f"unexpected payload {message.payload!r}")
    check(second.disconnects.empty(), "the new connection was disconnected too")
    first.client.loop_stop()
    second.disconnect()
    log("session takeover: ok")


if __name__ == "__main__":
    main()
