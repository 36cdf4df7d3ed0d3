"""MQTT benchmark client on gmqtt (asyncio): the program a user would write.

    python gmqtt_client.py {validate,rtt,throughput} --port P --topic T [--qos Q] ...

gmqtt.Client with MQTT 3.1.1 on uvloop when it is installed (BENCH_GMQTT_LOOP=asyncio for
the default loop); on_message publishes the next message. gmqtt has no callback for a
PUBACK, so the messages/s figure at QoS 1 counts them in a subclass that extends the method
gmqtt calls when a PUBACK releases a message (Client._remove_message_from_queue). Acks of
received messages are gmqtt's (optimistic acknowledgement).
The command line, the payloads and the lines printed for the runner are in mqtt_common.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gmqtt  # noqa: E402
import mqtt_common as common  # noqa: E402
from gmqtt.mqtt.constants import MQTTv311  # noqa: E402

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the benchmark's requirements
    uvloop = None
if os.environ.get("BENCH_GMQTT_LOOP") == "asyncio":
    uvloop = None


class Client(gmqtt.Client):
    """gmqtt.Client that also reports PUBACKs. gmqtt handles them without a callback: its
    package handler calls the client's _remove_message_from_queue(mid) to drop the acked
    message from its resend store (QoS 1: on PUBACK), which this extends."""

    on_puback = None

    def _remove_message_from_queue(self, mid):
        super()._remove_message_from_queue(mid)
        if self.on_puback is not None:
            self.on_puback(self)


async def connect(c: Client, a, topic: str | None = None, qos: int = 0) -> None:
    subscribed = asyncio.Event()
    c.on_subscribe = lambda client, mid, granted, props: subscribed.set()
    try:
        await asyncio.wait_for(c.connect(a.host, a.port, keepalive=60, version=MQTTv311), 10)
        if topic is not None:
            c.subscribe(topic, qos=qos)
            await asyncio.wait_for(subscribed.wait(), 10)
    except (asyncio.TimeoutError, OSError, gmqtt.mqtt.handler.MQTTConnectError) as exc:
        common.fail(f"connect/subscribe: {type(exc).__name__}: {exc}")


async def validate(a) -> None:
    received: list = []
    acks = 0
    got = asyncio.Event()

    def on_message(client, topic, payload, qos, properties):
        received.append((topic, payload, qos))
        got.set()
        return 0

    def on_puback(client):
        nonlocal acks
        acks += 1

    c = Client(f"bench-gmqtt-{os.getpid()}")
    c.on_message = on_message
    c.on_puback = on_puback
    await connect(c, a, a.topic, 1)
    for i, (qos, data) in enumerate(a.plan):
        c.publish(a.topic, data, qos=qos)
        deadline = time.monotonic() + common.VALIDATION_TIMEOUT
        while len(received) <= i and time.monotonic() < deadline:
            got.clear()
            try:
                await asyncio.wait_for(got.wait(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
    want = sum(1 for q, _ in a.plan if q)
    deadline = time.monotonic() + common.VALIDATION_TIMEOUT
    while acks < want and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    problems = common.check_received(a.plan, list(received), a.topic, acks)
    common.emit("MQTT_VALID", {"ok": not problems, "problems": problems,
                               "received": [len(d) for _, d, _ in received]})
    await c.disconnect()


async def watchdog(progress, done: asyncio.Future, what: str) -> None:
    last, t_last = progress(), time.monotonic()
    while not done.done():
        await asyncio.sleep(0.5)
        cur, now = progress(), time.monotonic()
        if cur != last:
            last, t_last = cur, now
        elif now - t_last > common.STALL_TIMEOUT and not done.done():
            common.fail(f"stalled after {cur} {what}")


async def rtt(a) -> None:
    topic, qos, pl = a.topic, a.qos, a.payload
    done = asyncio.get_running_loop().create_future()
    n = bad = n0 = bad0 = 0
    w = None

    def on_message(client, t, payload, q, properties):
        nonlocal n, bad, n0, bad0
        if payload != pl:
            bad += 1
        n += 1
        s = w.check(time.monotonic())
        if s == 1:
            n0, bad0 = n, bad
            common.emit("MQTT_COUNTING")
        elif s == 2:
            done.set_result(None)
            return 0
        client.publish(topic, pl, qos=qos)
        return 0

    c = Client(f"bench-gmqtt-{os.getpid()}")
    c.on_message = on_message
    await connect(c, a, topic, qos)
    common.emit("MQTT_READY")
    w = common.Window(a.warmup, a.duration)
    dog = asyncio.ensure_future(watchdog(lambda: n, done, "round trips"))
    c.publish(topic, pl, qos=qos)
    await done
    common.emit("MQTT_RESULT", common.result("rtt", qos, n - n0, w.t_end - w.t_count,
                                             bad=bad - bad0))
    common.wait_go()  # blocks the loop on purpose: the client stops until the runner's go
    await dog
    await c.disconnect()
    common.emit("MQTT_FINAL", {"round_trips_total": n, "bad_total": bad, "errors": []})


async def throughput(a) -> None:
    topic, qos, pl, window, cap = a.topic, a.qos, a.payload, a.window, a.cap
    published = delivered = acked = bad = 0
    publishing = False
    sub = Client(f"bench-gmqtt-{os.getpid()}-sub")
    pub = Client(f"bench-gmqtt-{os.getpid()}-pub")

    def pump():
        # As fast as it can, with at most `cap` messages published and not yet delivered
        # back; at QoS 1 also at most `window` waiting for their PUBACK.
        nonlocal published
        room = cap - (published - delivered)
        if qos and window - (published - acked) < room:
            room = window - (published - acked)
        while room > 0:
            pub.publish(topic, pl, qos=qos)
            published += 1
            room -= 1

    def on_message(client, t, payload, q, properties):
        nonlocal delivered, bad
        if payload != pl:
            bad += 1
        delivered += 1
        if publishing:
            pump()
        return 0

    def on_puback(client):
        nonlocal acked
        acked += 1
        if publishing:
            pump()

    sub.on_message = on_message
    if qos:
        pub.on_puback = on_puback
    await connect(sub, a, topic, qos)
    await connect(pub, a)
    common.emit("MQTT_READY")
    publishing = True
    pump()
    await asyncio.sleep(a.warmup)
    t0 = time.monotonic()
    d0, p0, a0, b0 = delivered, published, acked, bad
    common.emit("MQTT_COUNTING")
    await asyncio.sleep(a.duration)
    t1 = time.monotonic()
    d1, p1, a1, b1 = delivered, published, acked, bad
    publishing = False
    common.emit("MQTT_RESULT", common.result("throughput", qos, d1 - d0, t1 - t0,
                                             published=p1 - p0, acked=a1 - a0, bad=b1 - b0))
    common.wait_go()
    deadline = time.monotonic() + common.DRAIN_TIMEOUT
    while (delivered < published or (qos and acked < published)) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    common.emit("MQTT_FINAL", {"published_total": published, "delivered_total": delivered,
                               "acked_total": acked, "bad_total": bad,
                               "lost": published - delivered, "errors": []})
    await pub.disconnect()
    await sub.disconnect()


def main(argv: list[str] | None = None) -> None:
    a = common.parse_args(argv, __doc__.split("\n\n")[0])
    coro = {"validate": validate, "rtt": rtt, "throughput": throughput}[a.mode](a)
    common.emit("MQTT_INFO", {"loop": "uvloop" if uvloop else "asyncio"})
    if uvloop is not None and hasattr(uvloop, "run"):
        uvloop.run(coro)
    else:
        if uvloop is not None:
            uvloop.install()
        asyncio.run(coro)


if __name__ == "__main__":
    main()
