#!/usr/bin/env python3
"""One live session per client id across a cluster: a client that connects to node B while it
is connected to node A takes the session over (the connection on A gets DISCONNECT 0x8E Session
taken over); a client of another user with the same client id is refused (0x87) and the session
stays with its owner; and two CONNECTs of one client id sent to A and B at the same moment, many
times over, end each time with exactly one live connection."""

import queue
import threading
import time

import paho.mqtt.client as mqtt
from scenario import Peer, check, log, parse_args, unique


def takeover(args):
    client_id = unique("roamer")
    first = Peer(args, client_id=client_id, protocol="5", port=args.port)
    first.connect()
    second = Peer(args, client_id=client_id, protocol="5", port=args.other_port)
    second.connect()
    reason = first.expect_disconnect()
    check(reason.value == 0x8E, f"the connection on A was disconnected with {reason} (0x{reason.value:02X}), expected 0x8E")
    topic = unique("roamer/topic")
    second.subscribe(topic, qos=1)
    second.publish(topic, b"alive")
    check(second.expect_message("round trip on B").payload == b"alive", "no round trip on B")
    time.sleep(0.5)
    check(second.disconnects.empty(), "the connection on B was disconnected too")
    first.client.loop_stop()

    # And back to A: B's connection is taken over in turn.
    third = Peer(args, client_id=client_id, protocol="5", port=args.port)
    third.connect()
    reason = second.expect_disconnect()
    check(reason.value == 0x8E, f"the connection on B was disconnected with {reason}, expected 0x8E")
    third.disconnect()
    second.client.loop_stop()


def other_user(args):
    client_id = unique("owned")
    alice = Peer(args, client_id=client_id, protocol="5", port=args.port)
    alice.client.username_pw_set("alice")
    alice.connect()
    mallory = Peer(args, client_id=client_id, protocol="5", port=args.other_port)
    mallory.client.username_pw_set("mallory")
    mallory.client.connect(args.host, args.other_port, keepalive=30, clean_start=True)
    mallory.client.loop_start()
    try:
        flags, reason, props = mallory.connack.get(timeout=10)
    except queue.Empty:
        check(False, "mallory got no CONNACK")
    check(reason.value == 0x87, f"mallory's CONNECT with alice's client id answered {reason} (0x{reason.value:02X}), expected 0x87")
    mallory.client.loop_stop()
    topic = unique("owned/topic")
    alice.subscribe(topic, qos=1)
    alice.publish(topic, b"still mine")
    check(alice.expect_message("round trip for alice").payload == b"still mine", "alice lost her session")
    check(alice.disconnects.empty(), "alice was disconnected")
    alice.disconnect()


class Racer:
    """A raw paho client whose CONNECT goes out when the barrier opens; records how it ended."""

    def __init__(self, args, client_id, port, barrier):
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
            protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        self.connack = queue.Queue()
        self.disconnects = queue.Queue()
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.put(rc)
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.put(rc)
        self.args, self.port, self.barrier = args, port, barrier

    def run(self):
        self.barrier.wait()
        self.client.connect(self.args.host, self.port, keepalive=30, clean_start=True)
        self.client.loop_start()

    def alive(self):
        """Connected (CONNACK success) and not disconnected since."""
        try:
            rc = self.connack.get_nowait()
            self.connack.put(rc)
        except queue.Empty:
            return False
        return not rc.is_failure and self.disconnects.empty()

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def race(args, rounds):
    for n in range(rounds):
        client_id = unique(f"racer-{n}")
        barrier = threading.Barrier(2)
        racers = [Racer(args, client_id, args.port, barrier), Racer(args, client_id, args.other_port, barrier)]
        threads = [threading.Thread(target=r.run) for r in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Settled: both answered (a CONNACK each), and a taken-over one has had its DISCONNECT.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and any(r.connack.empty() for r in racers):
            time.sleep(0.05)
        time.sleep(1.0)
        alive = [r.alive() for r in racers]
        check(sum(alive) == 1, f"round {n}: {sum(alive)} live connections of {client_id} (A, B alive: {alive})")
        for racer in racers:
            racer.stop()


def main():
    args = parse_args(__doc__, lambda parser: (
        parser.add_argument("--other-port", type=int, required=True),
        parser.add_argument("--rounds", type=int, default=10)))
    takeover(args)
    other_user(args)
    race(args, args.rounds)
    log("cluster sessions: ok")


if __name__ == "__main__":
    main()
