"""queue_full_policy: a subscriber that stops acknowledging fills its queue.

With --expect backpressure the broker must stop taking messages from the publisher (its
PUBACKs stall) and then, once the subscriber acknowledges again, deliver every message in
order: nothing dropped. With --expect drop (Mosquitto's behaviour) the messages past the
queue are dropped and the publisher is never slowed down.

The broker runs with max_inflight_messages 5 and max_queued_messages 10.
"""

import threading
import time

import paho.mqtt.client as mqtt

from scenario import WAIT, check, fail, log, parse_args, unique

TOTAL = 200
args = parse_args(__doc__, lambda p: p.add_argument("--expect", choices=["backpressure", "drop"], required=True))
topic = unique("bp")
version = mqtt.MQTTv5 if args.protocol == "5" else mqtt.MQTTv311

received = []
pending_acks = []
lock = threading.Lock()
subscribed = threading.Event()
acking = threading.Event()

sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("bp-sub"), protocol=version, manual_ack=True)


def on_message(client, userdata, message):
    with lock:
        received.append(message.payload.decode())
        if acking.is_set():
            client.ack(message.mid, message.qos)
        else:
            pending_acks.append((message.mid, message.qos))


sub.on_message = on_message
sub.on_subscribe = lambda *a: subscribed.set()
sub.connect(args.host, args.port)
sub.loop_start()
sub.subscribe(topic, qos=1)
check(subscribed.wait(WAIT), "no SUBACK")

acked = []
pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("bp-pub"), protocol=version)
pub.max_inflight_messages_set(20)
pub.max_queued_messages_set(0)
pub.on_publish = lambda client, userdata, mid, reason, properties: acked.append(mid)
pub.connect(args.host, args.port)
pub.loop_start()
for i in range(TOTAL):
    pub.publish(topic, f"m{i}", qos=1)

# Give the publisher time to push while the subscriber does not acknowledge.
deadline = time.time() + 2.0
while time.time() < deadline and len(acked) < TOTAL:
    time.sleep(0.05)
stalled_at = len(acked)
log(f"publisher acknowledged {stalled_at}/{TOTAL} while the subscriber was silent; subscriber has {len(received)}")

# The subscriber acknowledges everything from now on.
with lock:
    acking.set()
    for mid, qos in pending_acks:
        sub.ack(mid, qos)
    pending_acks.clear()

deadline = time.time() + WAIT
while time.time() < deadline and len(acked) < TOTAL:
    time.sleep(0.05)
check(len(acked) == TOTAL, f"publisher got {len(acked)}/{TOTAL} PUBACKs")

expected = [f"m{i}" for i in range(TOTAL)]
if args.expect == "backpressure":
    check(stalled_at < TOTAL, "the publisher was never slowed down")
    deadline = time.time() + WAIT
    while time.time() < deadline and len(received) < TOTAL:
        time.sleep(0.05)
    with lock:
        got = list(received)
    check(got == expected, f"subscriber got {len(got)} messages, first differences: {[x for x in expected if x not in got][:5]}")
else:
    check(stalled_at == TOTAL, f"drop policy slowed the publisher: {stalled_at}/{TOTAL}")
    time.sleep(0.5)
    with lock:
        got = list(received)
    check(len(got) < TOTAL, "nothing was dropped with a full queue")
    check(got == sorted(got, key=lambda m: int(m[1:])), "out of order")
log(f"ok: subscriber received {len(got)}")
pub.loop_stop()
sub.loop_stop()
