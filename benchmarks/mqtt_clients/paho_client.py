"""MQTT benchmark client on paho-mqtt: the program a user would write.

    python paho_client.py {validate,rtt,throughput} --port P --topic T [--qos Q] ...

paho-mqtt 2 with CallbackAPIVersion.VERSION2 and MQTT 3.1.1, driven by callbacks:
- rtt: one client in loop_forever() on the main thread (no network thread and no wake-up
  socket pair, paho's cheapest mode); on_message publishes the next message.
- throughput: the subscriber and the publisher each in loop_start() (their own network
  threads; publish() from another thread is paho's documented thread-safe use). The
  subscriber's on_message and, at QoS 1, the publisher's on_publish (called on PUBACK)
  publish as much as the window allows; max_inflight_messages_set(window) so that paho's own
  limit is the same window.
TCP_NODELAY is set on the socket in on_connect (paho leaves Nagle's algorithm on; the other
clients' sockets have it off).
The command line, the payloads and the lines printed for the runner are in mqtt_common.py.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mqtt_common as common  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402

NODELAY = os.environ.get("BENCH_PAHO_NODELAY", "1") != "0"


def make_client(a, suffix: str, errors: list) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-paho-{os.getpid()}{suffix}",
                    protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(a.window)
    c.on_disconnect = lambda cl, ud, flags, rc, props: (
        errors.append(f"disconnected: {rc}") if rc.is_failure else None)
    return c


def on_connect_factory(errors: list, then):
    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            errors.append(f"CONNACK {reason_code}")
            return
        if NODELAY:
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        then(client)
    return on_connect


def wait_event(ev: threading.Event, what: str, errors: list, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not ev.wait(0.05):
        if errors:
            common.fail(f"{what}: {'; '.join(map(str, errors))}")
        if time.monotonic() > deadline:
            common.fail(f"timed out waiting for {what}")


def validate(a) -> None:
    errors: list = []
    received: list = []
    acks: list = []
    got = threading.Condition()
    subscribed = threading.Event()
    c = make_client(a, "", errors)
    c.on_connect = on_connect_factory(errors, lambda cl: cl.subscribe(a.topic, 1))
    c.on_subscribe = lambda cl, ud, mid, rcs, props: subscribed.set()

    def on_message(client, userdata, msg):
        with got:
            received.append((msg.topic, msg.payload, msg.qos))
            got.notify_all()

    c.on_message = on_message
    c.on_publish = lambda cl, ud, mid, rc, props: acks.append(mid)
    c.connect(a.host, a.port, keepalive=60)
    c.loop_start()
    try:
        wait_event(subscribed, "CONNACK and SUBACK", errors)
        q1 = []
        for i, (qos, data) in enumerate(a.plan):
            info = c.publish(a.topic, data, qos)
            if qos:
                q1.append(info.mid)
            with got:
                got.wait_for(lambda: len(received) > i, common.VALIDATION_TIMEOUT)
        deadline = time.monotonic() + common.VALIDATION_TIMEOUT
        while not set(q1) <= set(acks) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        q1_acks = [m for m in acks if m in q1]
        problems = common.check_received(a.plan, list(received), a.topic, len(q1_acks))
        problems += [f"error: {e}" for e in errors]
        common.emit("MQTT_VALID", {"ok": not problems, "problems": problems,
                                   "received": [len(d) for _, d, _ in received]})
    finally:
        c.disconnect()
        c.loop_stop()


def rtt(a) -> None:
    topic, qos, pl = a.topic, a.qos, a.payload
    errors: list = []
    n = bad = n0 = bad0 = 0
    w = None
    dog = common.Watchdog(lambda: n, "round trips")

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        nonlocal w
        common.emit("MQTT_READY")
        w = common.Window(a.warmup, a.duration)
        client.publish(topic, pl, qos)

    def on_message(client, userdata, msg):
        nonlocal n, bad, n0, bad0
        if msg.payload != pl:
            bad += 1
        n += 1
        s = w.check(time.monotonic())
        if s == 1:
            n0, bad0 = n, bad
            common.emit("MQTT_COUNTING")
        elif s == 2:
            dog.armed = False
            common.emit("MQTT_RESULT", common.result("rtt", qos, n - n0, w.t_end - w.t_count,
                                                     bad=bad - bad0))
            common.wait_go()
            client.disconnect()  # loop_forever returns
            return
        client.publish(topic, pl, qos)

    c = make_client(a, "", errors)
    c.on_connect = on_connect_factory(errors, lambda cl: cl.subscribe(topic, qos))
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.connect(a.host, a.port, keepalive=60)
    c.loop_forever()
    if errors or w is None or w.state != 2:
        common.fail(f"loop ended early: {'; '.join(map(str, errors)) or 'no result'}")
    common.emit("MQTT_FINAL", {"round_trips_total": n, "bad_total": bad, "errors": errors})


def throughput(a) -> None:
    topic, qos, pl, window, cap = a.topic, a.qos, a.payload, a.window, a.cap
    errors: list = []
    lock = threading.Lock()
    published = delivered = acked = bad = 0
    publishing = False
    sub_ready, pub_ready = threading.Event(), threading.Event()
    sub = make_client(a, "-sub", errors)
    pub = make_client(a, "-pub", errors)

    def pump():
        # As fast as it can, with at most `cap` messages published and not yet delivered
        # back; at QoS 1 also at most `window` waiting for their PUBACK. Called from both
        # network threads.
        nonlocal published
        with lock:
            if not publishing:
                return
            room = cap - (published - delivered)
            if qos and window - (published - acked) < room:
                room = window - (published - acked)
            if room <= 0:
                return
            published += room
        for _ in range(room):
            pub.publish(topic, pl, qos)

    def on_message(client, userdata, msg):
        nonlocal delivered, bad
        if msg.payload != pl:
            bad += 1
        delivered += 1
        pump()

    def on_publish(client, userdata, mid, reason_code, properties):
        nonlocal acked
        acked += 1
        pump()

    sub.on_connect = on_connect_factory(errors, lambda cl: cl.subscribe(topic, qos))
    sub.on_subscribe = lambda cl, ud, mid, rcs, props: sub_ready.set()
    sub.on_message = on_message
    pub.on_connect = on_connect_factory(errors, lambda cl: pub_ready.set())
    if qos:
        pub.on_publish = on_publish
    sub.connect(a.host, a.port, keepalive=60)
    pub.connect(a.host, a.port, keepalive=60)
    sub.loop_start()
    pub.loop_start()
    try:
        wait_event(sub_ready, "subscriber CONNACK and SUBACK", errors)
        wait_event(pub_ready, "publisher CONNACK", errors)
        common.emit("MQTT_READY")
        publishing = True
        pump()
        time.sleep(a.warmup)
        t0 = time.monotonic()
        d0, p0, a0, b0 = delivered, published, acked, bad
        common.emit("MQTT_COUNTING")
        time.sleep(a.duration)
        t1 = time.monotonic()
        d1, p1, a1, b1 = delivered, published, acked, bad
        with lock:
            publishing = False
        common.emit("MQTT_RESULT", common.result("throughput", qos, d1 - d0, t1 - t0,
                                                 published=p1 - p0, acked=a1 - a0, bad=b1 - b0))
        common.wait_go()
        deadline = time.monotonic() + common.DRAIN_TIMEOUT
        while (delivered < published or (qos and acked < published)) and \
                time.monotonic() < deadline:
            time.sleep(0.01)
        common.emit("MQTT_FINAL", {"published_total": published, "delivered_total": delivered,
                                   "acked_total": acked, "bad_total": bad,
                                   "lost": published - delivered, "errors": errors})
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()


def main(argv: list[str] | None = None) -> None:
    a = common.parse_args(argv, __doc__.split("\n\n")[0])
    {"validate": validate, "rtt": rtt, "throughput": throughput}[a.mode](a)


if __name__ == "__main__":
    main()
