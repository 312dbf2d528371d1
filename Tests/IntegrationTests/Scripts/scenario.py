"""Shared pieces of the paho-mqtt 2.x scenarios: argument parsing, a client wrapper
whose every wait is bounded, and a clear failure exit.

Each scenario script is run as `python3 SCRIPT --host H --port P [...]`, exits 0 when
the broker behaved and 1 with a `FAIL:` line on stderr when it did not.
"""

import argparse
import queue
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

WAIT = 10.0  # seconds: the bound on every single wait


def parse_args(description, extra=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--protocol", choices=["311", "5"], default="5")
    if extra:
        extra(parser)
    return parser.parse_args()


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def log(message):
    print(message, flush=True)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def properties(packet_type, **values):
    props = Properties(packet_type)
    for name, value in values.items():
        setattr(props, name, value)
    return props


class Peer:
    """One paho client on its own network thread, with bounded waits for every step."""

    def __init__(self, args, client_id=None, protocol=None, clean_session=True, port=None):
        """`clean_session` is the 3.1.1 flag; in 5.0 pass `clean_start` (and a Session
        Expiry Interval) to `connect` instead. `port` overrides `--port` (another node)."""
        self.args = args
        self.port = port or args.port
        self.client_id = client_id or unique("paho")
        version = protocol or args.protocol
        self.protocol = mqtt.MQTTv5 if version == "5" else mqtt.MQTTv311
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=self.protocol,
            clean_session=None if self.protocol == mqtt.MQTTv5 else clean_session,
            reconnect_on_failure=False,
        )
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.subacks = {}
        self.disconnects = queue.Queue()
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, reason_code, props):
        self.connack.put((flags, reason_code, props))

    def _on_subscribe(self, client, userdata, mid, reason_codes, props):
        with self._lock:
            self.subacks[mid] = reason_codes

    def _on_disconnect(self, client, userdata, flags, reason_code, props):
        self.disconnects.put(reason_code)

    def connect(self, clean_start=True, props=None, keepalive=60):
        if self.protocol == mqtt.MQTTv5:
            self.client.connect(self.args.host, self.port, keepalive=keepalive,
                                clean_start=clean_start, properties=props)
        else:
            self.client.connect(self.args.host, self.port, keepalive=keepalive)
        self.client.loop_start()
        try:
            flags, reason_code, props = self.connack.get(timeout=WAIT)
        except queue.Empty:
            fail(f"{self.client_id}: no CONNACK within {WAIT} s")
        check(not reason_code.is_failure, f"{self.client_id}: CONNECT refused: {reason_code}")
        return flags, props

    def subscribe(self, topic, qos=1, options=None, props=None):
        """Subscribes and waits for the SUBACK; returns its reason codes."""
        if self.protocol == mqtt.MQTTv5:
            result, mid = self.client.subscribe(topic, qos=0 if options else qos, options=options, properties=props)
        else:
            result, mid = self.client.subscribe(topic, qos=qos)
        check(result == mqtt.MQTT_ERR_SUCCESS, f"subscribe({topic}) failed: {result}")
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self._lock:
                if mid in self.subacks:
                    codes = self.subacks.pop(mid)
                    check(all(not c.is_failure for c in codes), f"SUBACK for {topic} refused: {codes}")
                    return codes
            time.sleep(0.01)
        fail(f"{self.client_id}: no SUBACK for {topic} within {WAIT} s")

    def publish(self, topic, payload, qos=1, retain=False, props=None):
        """Publishes and, for QoS > 0, waits until the broker acknowledged it."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        check(info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish({topic!r}) failed: {info.rc}")
        info.wait_for_publish(timeout=WAIT)
        check(info.is_published(), f"publish({topic!r}) not acknowledged within {WAIT} s")

    def expect_message(self, what, timeout=WAIT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            fail(f"{self.client_id}: no message ({what}) within {timeout} s")

    def messages_until(self, payload, timeout=WAIT):
        """Collects messages until one with `payload` arrives; returns those before it."""
        before = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                fail(f"{self.client_id}: {payload!r} not received within {timeout} s; got {describe(before)}")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message.payload == payload:
                return before
            before.append(message)

    def expect_disconnect(self, timeout=WAIT):
        try:
            return self.disconnects.get(timeout=timeout)
        except queue.Empty:
            fail(f"{self.client_id}: still connected after {timeout} s")

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()


def describe(messages):
    return [(m.topic, m.payload, m.retain) for m in messages]
