#!/usr/bin/env python3
"""paho-mqtt over TLS: connect with a CA (and optionally a client certificate), subscribe,
publish one QoS 1 message and receive it back. Exit 0 on success, 2 if the connection was
refused or failed, 1 on anything else."""

import argparse
import ssl
import sys
import threading

import paho.mqtt.client as mqtt


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--protocol", choices=["3.1.1", "5"], default="5")
    parser.add_argument("--topic", default="tls/paho")
    args = parser.parse_args()

    protocol = mqtt.MQTTv5 if args.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-tls", protocol=protocol)
    client.tls_set(ca_certs=args.cafile, certfile=args.cert, keyfile=args.key, cert_reqs=ssl.CERT_REQUIRED)
    connected = threading.Event()
    received = threading.Event()
    outcome = {}

    def on_connect(client, userdata, flags, reason_code, properties):
        outcome["connect"] = str(reason_code)
        if not reason_code.is_failure:
            client.subscribe(args.topic, qos=1)
        connected.set()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        client.publish(args.topic, b"over-tls", qos=1)

    def on_message(client, userdata, message):
        if message.payload == b"over-tls":
            received.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(args.host, args.port, keepalive=30)
    except Exception as error:  # TLS handshake failures surface here
        print(f"connect failed: {error!r}", file=sys.stderr)
        sys.exit(2)
    client.loop_start()
    if not connected.wait(10):
        print("no CONNACK", file=sys.stderr)
        sys.exit(2)
    if outcome["connect"] != "Success":
        print(f"refused: {outcome['connect']}", file=sys.stderr)
        sys.exit(2)
    if not received.wait(10):
        print("message did not come back", file=sys.stderr)
        sys.exit(1)
    client.disconnect()
    client.loop_stop()
    print("tls client: ok")


if __name__ == "__main__":
    main()
