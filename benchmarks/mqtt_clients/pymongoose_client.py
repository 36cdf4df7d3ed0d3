"""MQTT benchmark client on pymongoose: the program a user would write.

    python pymongoose_client.py {validate,rtt,throughput} --port P --topic T [--qos Q] ...

One Manager(handler, poll_events=False) polled with poll(100); connections from
mqtt_connect (MQTT 3.1.1); mqtt_sub on MG_EV_MQTT_OPEN, mqtt_pub from the handler when a
message (MG_EV_MQTT_MSG) or a PUBACK (MG_EV_MQTT_CMD, cmd 4) arrives. QoS acknowledgements
of received messages are sent by the engine. The command line, the payloads and the lines
printed for the runner are in mqtt_common.py (shared by the three clients).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mqtt_common as common  # noqa: E402
from pymongoose import (MG_EV_CLOSE, MG_EV_ERROR, MG_EV_MQTT_CMD, MG_EV_MQTT_MSG,  # noqa: E402
                        MG_EV_MQTT_OPEN, Manager)

PUBACK, SUBACK = 4, 9


def wait(mgr: Manager, cond, what: str, timeout: float, st: dict) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if st.get("errors") or st.get("closed"):
            why = "; ".join(st.get("errors", [])) or "closed"
            common.fail(f"{what}: connection failed ({why})")
        if time.monotonic() > deadline:
            common.fail(f"timed out waiting for {what}")
        mgr.poll(50)


def validate(a) -> None:
    st: dict = {"open": [], "subacks": 0, "received": [], "acks": [], "errors": []}

    def handler(conn, ev, data):
        if ev == MG_EV_MQTT_MSG:
            st["received"].append((data.topic, data.data, data.qos))
        elif ev == MG_EV_MQTT_CMD:
            if data.cmd == SUBACK:
                st["subacks"] += 1
            elif data.cmd == PUBACK:
                st["acks"].append(data.id)
        elif ev == MG_EV_MQTT_OPEN:
            st["open"].append(data)
        elif ev == MG_EV_ERROR:
            st["errors"].append(data)
        elif ev == MG_EV_CLOSE:
            st["closed"] = True

    mgr = Manager(handler, poll_events=False)
    conn = mgr.mqtt_connect(f"mqtt://{a.host}:{a.port}", client_id=f"bench-pm-{os.getpid()}")
    wait(mgr, lambda: st["open"], "CONNACK", 10, st)
    if st["open"] != [0]:
        common.fail(f"CONNACK code {st['open']}")
    conn.mqtt_sub(a.topic, 1)
    wait(mgr, lambda: st["subacks"], "SUBACK", common.VALIDATION_TIMEOUT, st)
    ids = []
    for i, (qos, data) in enumerate(a.plan):
        pid = conn.mqtt_pub(a.topic, data, qos)
        if qos:
            ids.append(pid)
        deadline = time.monotonic() + common.VALIDATION_TIMEOUT
        while len(st["received"]) <= i and time.monotonic() < deadline and not st["errors"]:
            mgr.poll(50)
    deadline = time.monotonic() + common.VALIDATION_TIMEOUT
    while len(st["acks"]) < len(ids) and time.monotonic() < deadline and not st["errors"]:
        mgr.poll(50)
    mgr.poll(50)  # anything extra that was on its way
    problems = common.check_received(a.plan, st["received"], a.topic, len(st["acks"]))
    if sorted(st["acks"]) != sorted(ids):
        problems.append(f"PUBACK ids {st['acks']} for published ids {ids}")
    problems += [f"error: {e}" for e in st["errors"]]
    common.emit("MQTT_VALID", {"ok": not problems, "problems": problems,
                               "received": [len(d) for _, d, _ in st["received"]]})
    conn.mqtt_disconnect()
    conn.drain()
    for _ in range(10):
        mgr.poll(10)
    mgr.close()


def rtt(a) -> None:
    topic, qos, pl = a.topic, a.qos, a.payload
    st: dict = {"errors": [], "ready": False}
    n = bad = 0

    def handler(conn, ev, data):
        nonlocal n, bad
        if ev == MG_EV_MQTT_MSG:
            if data.data != pl:
                bad += 1
            n += 1
            conn.mqtt_pub(topic, pl, qos)
        elif ev == MG_EV_MQTT_CMD:
            if data.cmd == SUBACK:
                st["ready"] = True
                conn.mqtt_pub(topic, pl, qos)
        elif ev == MG_EV_MQTT_OPEN:
            if data != 0:
                st["errors"].append(f"CONNACK code {data}")
            else:
                conn.mqtt_sub(topic, qos)
        elif ev == MG_EV_ERROR:
            st["errors"].append(data)
        elif ev == MG_EV_CLOSE:
            st["closed"] = True

    mgr = Manager(handler, poll_events=False)
    conn = mgr.mqtt_connect(f"mqtt://{a.host}:{a.port}", client_id=f"bench-pm-{os.getpid()}")
    wait(mgr, lambda: st["ready"], "CONNACK and SUBACK", 10, st)
    common.emit("MQTT_READY")
    w = common.Window(a.warmup, a.duration)
    n0 = bad0 = 0
    last, t_last = n, time.monotonic()
    while True:
        mgr.poll(100)
        now = time.monotonic()
        s = w.check(now)
        if s == 1:
            n0, bad0 = n, bad
            common.emit("MQTT_COUNTING")
        elif s == 2:
            break
        if n != last:
            last, t_last = n, now
        elif now - t_last > common.STALL_TIMEOUT or st["errors"] or st.get("closed"):
            common.fail(f"stalled after {n} round trips: "
                        f"{'; '.join(st['errors']) or 'no progress'}")
    common.emit("MQTT_RESULT", common.result("rtt", qos, n - n0, w.t_end - w.t_count,
                                             bad=bad - bad0))
    common.wait_go()
    conn.mqtt_disconnect()
    conn.drain()
    for _ in range(10):
        mgr.poll(10)
    common.emit("MQTT_FINAL", {"round_trips_total": n, "bad_total": bad, "errors": st["errors"]})
    mgr.close()


def throughput(a) -> None:
    topic, qos, pl, window, cap = a.topic, a.qos, a.payload, a.window, a.cap
    st: dict = {"errors": [], "open": 0, "suback": False}
    published = delivered = acked = bad = 0
    publishing = False
    pub = None

    def pump():
        # As fast as it can, with at most `cap` messages published and not yet delivered
        # back; at QoS 1 also at most `window` waiting for their PUBACK.
        nonlocal published
        room = cap - (published - delivered)
        if qos and window - (published - acked) < room:
            room = window - (published - acked)
        while room > 0:
            pub.mqtt_pub(topic, pl, qos)
            published += 1
            room -= 1

    def handler(conn, ev, data):
        nonlocal delivered, acked, bad
        if ev == MG_EV_MQTT_MSG:
            if data.data != pl:
                bad += 1
            delivered += 1
            if publishing:
                pump()
        elif ev == MG_EV_MQTT_CMD:
            if data.cmd == PUBACK:
                acked += 1
                if publishing:
                    pump()
            elif data.cmd == SUBACK:
                st["suback"] = True
        elif ev == MG_EV_MQTT_OPEN:
            if data != 0:
                st["errors"].append(f"CONNACK code {data}")
            else:
                st["open"] += 1
                if conn.id == sub.id:
                    conn.mqtt_sub(topic, qos)
        elif ev == MG_EV_ERROR:
            st["errors"].append(data)
        elif ev == MG_EV_CLOSE:
            st["closed"] = True

    mgr = Manager(handler, poll_events=False)
    url = f"mqtt://{a.host}:{a.port}"
    sub = mgr.mqtt_connect(url, client_id=f"bench-pm-{os.getpid()}-sub")
    pub = mgr.mqtt_connect(url, client_id=f"bench-pm-{os.getpid()}-pub")
    wait(mgr, lambda: st["open"] == 2 and st["suback"], "CONNACKs and SUBACK", 10, st)
    common.emit("MQTT_READY")
    w = common.Window(a.warmup, a.duration)
    publishing = True
    pump()
    d0 = p0 = a0 = b0 = 0
    last, t_last = delivered, time.monotonic()
    while True:
        mgr.poll(100)
        now = time.monotonic()
        s = w.check(now)
        if s == 1:
            d0, p0, a0, b0 = delivered, published, acked, bad
            common.emit("MQTT_COUNTING")
        elif s == 2:
            break
        if delivered != last:
            last, t_last = delivered, now
        elif now - t_last > common.STALL_TIMEOUT or st["errors"] or st.get("closed"):
            common.fail(f"stalled after {delivered} deliveries: "
                        f"{'; '.join(st['errors']) or 'no progress'}")
    publishing = False
    common.emit("MQTT_RESULT", common.result(
        "throughput", qos, delivered - d0, w.t_end - w.t_count, published=published - p0,
        acked=acked - a0, bad=bad - b0))
    common.wait_go()
    deadline = time.monotonic() + common.DRAIN_TIMEOUT
    while (delivered < published or (qos and acked < published)) and time.monotonic() < deadline:
        mgr.poll(50)
    common.emit("MQTT_FINAL", {"published_total": published, "delivered_total": delivered,
                               "acked_total": acked, "bad_total": bad,
                               "lost": published - delivered, "errors": st["errors"]})
    for c in (pub, sub):
        c.mqtt_disconnect()
        c.drain()
    for _ in range(10):
        mgr.poll(10)
    mgr.close()


def main(argv: list[str] | None = None) -> None:
    a = common.parse_args(argv, __doc__.split("\n\n")[0])
    {"validate": validate, "rtt": rtt, "throughput": throughput}[a.mode](a)


if __name__ == "__main__":
    main()
