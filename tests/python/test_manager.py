# SPDX-License-Identifier: MIT
"""Manager, Connection, Timer, wakeup, handler model and event loop (spec §1.3, §2.1,
§3.1, §3.2, §3.7, §3.12, §4 event_name/millis, §5)."""

from __future__ import annotations

import gc
import os
import re
import signal
import socket
import threading
import time
import warnings

import pytest

from mgtest_helpers import (
    HOST,
    IMPL,
    IS_REFERENCE,
    HttpReader,
    Recorder,
    capture_stderr,
    connect,
    hello_handler,
    ipv6_available,
    mg,
    req,
)

URL = f"http://{HOST}:0"


def pump(mgr, pred, timeout=3.0, step=10, what="condition"):
    """Poll a main-thread manager until pred() is true (deadline-bounded)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        mgr.poll(step)


@pytest.fixture
def manager():
    made = []

    def make(*a, **kw):
        m = mg.Manager(*a, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


# ------------------------------------------------------------------------- constants

EVENTS = {
    "MG_EV_ERROR": 0, "MG_EV_OPEN": 1, "MG_EV_POLL": 2, "MG_EV_RESOLVE": 3,
    "MG_EV_CONNECT": 4, "MG_EV_ACCEPT": 5, "MG_EV_TLS_HS": 6, "MG_EV_READ": 7,
    "MG_EV_WRITE": 8, "MG_EV_CLOSE": 9, "MG_EV_HTTP_HDRS": 10, "MG_EV_HTTP_MSG": 11,
    "MG_EV_WS_OPEN": 12, "MG_EV_WS_MSG": 13, "MG_EV_WS_CTL": 14, "MG_EV_MQTT_CMD": 15,
    "MG_EV_MQTT_MSG": 16, "MG_EV_MQTT_OPEN": 17, "MG_EV_SNTP_TIME": 18, "MG_EV_WAKEUP": 19,
    "MG_EV_USER": 22,
}
OTHER_CONSTANTS = {
    "WEBSOCKET_OP_TEXT": 1, "WEBSOCKET_OP_BINARY": 2, "WEBSOCKET_OP_PING": 9,
    "WEBSOCKET_OP_PONG": 10, "MG_LL_NONE": 0, "MG_LL_ERROR": 1, "MG_LL_INFO": 2,
    "MG_LL_DEBUG": 3, "MG_LL_VERBOSE": 4, "MQTT_PROP_TYPE_BYTE": 0,
    "MQTT_PROP_TYPE_STRING": 1, "MQTT_PROP_TYPE_STRING_PAIR": 2,
    "MQTT_PROP_TYPE_BINARY_DATA": 3, "MQTT_PROP_TYPE_VARIABLE_INT": 4,
    "MQTT_PROP_TYPE_INT": 5, "MQTT_PROP_TYPE_SHORT": 6,
}
CLASSES = ["AsyncManager", "Connection", "HttpMessage", "Manager", "MqttMessage", "Rpc",
           "RpcReq", "Timer", "TlsOpts", "WsMessage"]
FUNCTIONS = [
    "base64_decode", "base64_encode", "crc32", "event_name", "hmac_sha256",
    "http_parse_multipart", "http_var", "json_get", "json_get_bool", "json_get_long",
    "json_get_num", "json_get_str", "log_get", "log_set", "match", "md5", "millis",
    "random_bytes", "random_str", "sha1", "sha256", "url_encode", "url_host", "url_is_ssl",
    "url_pass", "url_port", "url_uri", "url_user",
]


def test_event_code_values():
    assert {n: getattr(mg, n) for n in EVENTS} == EVENTS
    assert all(type(getattr(mg, n)) is int for n in EVENTS)  # plain ints, not IntEnum


def test_other_constant_values():
    assert {n: getattr(mg, n) for n in OTHER_CONSTANTS} == OTHER_CONSTANTS
    assert all(type(getattr(mg, n)) is int for n in OTHER_CONSTANTS)


P1_NAMES = {"Connection", "HttpMessage", "Manager", "Timer", "event_name", "millis", *EVENTS}


def test_dunder_all_exports_p1_names_and_nothing_outside_the_spec():
    spec = set(CLASSES) | set(EVENTS) | set(OTHER_CONSTANTS) | set(FUNCTIONS)
    assert len(spec) == 10 + 21 + 16 + 28  # §1.3
    exported = set(mg.__all__)
    assert P1_NAMES <= exported, sorted(P1_NAMES - exported)
    assert exported <= spec, sorted(exported - spec)
    for name in exported:
        assert hasattr(mg, name), name
    # the extension module is importable under its own name with the same objects
    from importlib import import_module
    ext = import_module(mg.__name__ + "._mongoose")
    assert ext.Manager is mg.Manager and ext.HttpMessage is mg.HttpMessage


@pytest.mark.parametrize("name", list(EVENTS))
def test_event_name_known_codes(name):
    assert mg.event_name(EVENTS[name]) == name


@pytest.mark.parametrize("code,text", [
    (23, "MG_EV_USER+1"), (22 + 100, "MG_EV_USER+100"), (20, "MG_EV_UNKNOWN(20)"),
    (21, "MG_EV_UNKNOWN(21)"), (-1, "MG_EV_UNKNOWN(-1)"), (-500, "MG_EV_UNKNOWN(-500)"),
])
def test_event_name_user_and_unknown(code, text):
    assert mg.event_name(code) == text


def test_millis_is_positive_and_monotonic():
    a = mg.millis()
    b = mg.millis()
    assert isinstance(a, int) and 0 < a <= b


# ---------------------------------------------------------------------- constructor


@pytest.mark.parametrize("bad", [5, "handler", object()])
def test_manager_rejects_non_callable_handler(bad):
    with pytest.raises(TypeError):
        mg.Manager(bad)


def test_manager_limits_unknown_key():
    with pytest.raises(ValueError) as ei:
        mg.Manager(limits={"max_bogus": 1})
    assert str(ei.value) == "unknown limit 'max_bogus'"


@pytest.mark.parametrize("key,value", [("max_body", -1), ("header_timeout", -0.5),
                                       ("max_headers", "many")])
def test_manager_limits_invalid_value(key, value):
    with pytest.raises(ValueError) as ei:
        mg.Manager(limits={key: value})
    assert str(ei.value) == f"invalid value for limit '{key}'"


def test_manager_limits_property_defaults_and_overrides(manager):
    m = manager(limits={"max_body": 1234, "keepalive_timeout": 0.5})
    lim = m.limits
    assert lim["max_body"] == 1234 and lim["keepalive_timeout"] == 0.5
    defaults = {
        "max_request_line": 8192, "max_header_bytes": 65536, "max_headers": 100,
        "max_recv": 3145728, "max_ws_message": 3145728, "max_path": 4096,
        "header_timeout": 30, "body_timeout": 30, "ws_close_timeout": 5,
        "send_high_water": 4 << 20, "send_low_water": 1 << 20, "max_connections": 0,
        "wakeup_max_payload": 16 << 20, "wakeup_max_queue": 64 << 20,
    }
    assert {k: lim[k] for k in defaults} == defaults
    assert manager().limits["max_body"] == 3145728 and manager().limits["keepalive_timeout"] == 60
    lim["max_body"] = 1  # a copy
    assert m.limits["max_body"] == 1234


def test_manager_is_subclassable(manager):
    class MyManager(mg.Manager):
        pass

    m = MyManager()
    try:
        assert isinstance(m, mg.Manager) and m.connections == ()
    finally:
        m.close()


# --------------------------------------------------------------------------- listen


def test_listen_port_zero_reports_real_port(manager):
    m = manager()
    lst = m.listen(URL)
    ip, port, v6 = lst.local_addr
    assert (ip, v6) == ("127.0.0.1", False) and 0 < port < 65536
    assert lst.remote_addr == ("0.0.0.0", 0, False)
    assert lst.is_listening and not lst.is_client and not lst.is_udp and not lst.is_tls
    assert lst.handler is None and lst.userdata is None
    assert (lst.recv_len, lst.send_len, lst.recv_size, lst.send_size) == (0, 0, 0, 0)
    with socket.create_connection((HOST, port), timeout=5):
        pass  # the port is really listening


def test_listen_localhost_and_empty_host(manager):
    m = manager()
    assert m.listen("http://localhost:0").local_addr[0] == "127.0.0.1"
    assert m.listen("http://:0").local_addr[0] == "0.0.0.0"


@pytest.mark.parametrize("url", [
    "http://example.invalid:0", "http://300.1.1.1:0", "http://127.0.0.1:99999", "http://[::1",
])
def test_listen_failure_message(manager, url):
    m = manager()
    with pytest.raises(RuntimeError) as ei:
        m.listen(url)
    assert str(ei.value) == f"Failed to listen on '{url}'"


def test_listen_port_in_use(manager):
    with socket.socket() as s:
        s.bind((HOST, 0))
        s.listen()
        url = f"http://{HOST}:{s.getsockname()[1]}"
        with pytest.raises(RuntimeError) as ei:
            manager().listen(url)
    assert str(ei.value) == f"Failed to listen on '{url}'"


@pytest.mark.skipif(not ipv6_available(), reason="IPv6 loopback not available")
def test_listen_ipv6_loopback(server):
    srv = server(hello_handler, url="http://[::1]:0")
    ip, port, v6 = srv.listener.local_addr
    assert ip == "0000:0000:0000:0000:0000:0000:0000:0001" and v6 is True
    with connect(port, host="::1") as s:
        s.sendall(req("/"))
        assert HttpReader(s).read_response().body == b"hello"


# ------------------------------------------------------------- connections, close


def test_connections_snapshot(server):
    rec = Recorder(hello_handler)
    srv = server(rec)
    with mg.Manager() as fresh:
        assert fresh.connections == ()
    with connect(srv.port) as s:
        rd = HttpReader(s)
        s.sendall(req("/"))
        rd.read_response()
        conns = srv.call(lambda: srv.mgr.connections)
        child = rec.wait_ev(mg.MG_EV_ACCEPT)[0].conn
        assert isinstance(conns, tuple)
        assert conns == (srv.listener, child)
        assert conns[0] is srv.listener and conns[1] is child  # same objects
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=child.id)
    assert srv.call(lambda: srv.mgr.connections) == (srv.listener,)


def test_wakeup_connection_is_internal(manager):
    m = manager(enable_wakeup=True)
    assert m.wakeup_id == 1 and m.connections == ()
    lst = m.listen(URL)
    assert lst.id == 2 and m.connections == (lst,)
    assert manager().wakeup_id == 0


def test_connection_ids_strictly_increase(manager):
    m = manager()
    ids = [m.listen(URL).id for _ in range(4)]
    assert ids == sorted(ids) and len(set(ids)) == 4 and ids[0] >= 1


def test_context_manager_closes(manager):
    with mg.Manager() as m:
        assert isinstance(m, mg.Manager)
        lst = m.listen(URL)
    assert m.connections == ()
    assert repr(lst) == "<Connection closed>"
    with pytest.raises(RuntimeError, match="^Manager has been freed$"):
        m.poll(0)


def test_context_manager_closes_when_block_raises():
    with pytest.raises(KeyError):
        with mg.Manager() as m:
            m.listen(URL)
            raise KeyError("boom")
    with pytest.raises(RuntimeError, match="^Manager has been freed$"):
        m.poll(0)


def test_close_is_idempotent_and_manager_is_freed():
    m = mg.Manager(enable_wakeup=True)
    m.close()
    m.close()
    for call in (lambda: m.poll(0), lambda: m.listen(URL), lambda: m.timer_add(10, print),
                 lambda: m.wakeup(1, b"x")):
        with pytest.raises(RuntimeError) as ei:
            call()
        assert str(ei.value) == "Manager has been freed"
    assert m.connections == ()


def test_close_delivers_poll_then_close_to_listener():
    rec = Recorder(keep_poll=True)
    m = mg.Manager(rec)
    lst = m.listen(URL)
    m.poll(0)
    n = len(rec.events)
    m.close()
    tail = [e.name for e in rec.events[n:] if e.conn is lst]
    assert tail == ["MG_EV_POLL", "MG_EV_CLOSE"]
    assert repr(lst) == "<Connection closed>"


def test_close_releases_listening_port():
    m = mg.Manager()
    port = m.listen(URL).local_addr[1]
    m.close()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, port))
        s.listen()


def test_close_drops_timers(manager):
    m = manager()
    fired = []
    t = m.timer_add(0, lambda: fired.append(1))
    m.close()
    assert fired == [] and t.active is False


# ----------------------------------------------------------------------------- poll


def test_poll_zero_does_not_block_and_positive_timeout_waits(manager):
    m = manager()
    m.listen(URL)
    t0 = time.monotonic()
    m.poll(0)
    assert time.monotonic() - t0 < 0.1
    t0 = time.monotonic()
    m.poll(200)
    assert 0.15 <= time.monotonic() - t0 < 1.5


def test_nested_poll_from_callback_is_rejected(manager):
    m = manager()
    seen = []

    def cb():
        try:
            m.poll(0)
        except RuntimeError as e:
            seen.append(str(e))
        try:
            m.close()
        except RuntimeError as e:
            seen.append(str(e))

    t = m.timer_add(0, cb)  # noqa: F841
    pump(m, lambda: len(seen) == 2)
    assert seen == [
        "poll() is not reentrant and must not be called concurrently. "
        "Use AsyncManager for multi-threaded access.",
        "Cannot close Manager while poll() is active. Stop all polling threads before "
        "calling close().",
    ]


def test_concurrent_poll_and_close_from_other_thread_rejected():
    m = mg.Manager()
    inside, release = threading.Event(), threading.Event()

    def cb():
        inside.set()
        release.wait(5)

    t = m.timer_add(0, cb)  # noqa: F841
    th = threading.Thread(target=lambda: m.poll(100))
    th.start()
    try:
        assert inside.wait(3)
        t0 = time.monotonic()
        with pytest.raises(RuntimeError) as e1:
            m.poll(0)
        with pytest.raises(RuntimeError) as e2:
            m.close()
        assert time.monotonic() - t0 < 1.0  # fails at once, does not wait for the lock
        assert "not reentrant" in str(e1.value)
        assert str(e2.value).startswith("Cannot close Manager while poll() is active.")
    finally:
        release.set()
        th.join(5)
    assert not th.is_alive()
    m.close()


def test_poll_releases_gil_while_waiting(manager):
    m = manager()
    m.listen(URL)
    m.poll(0)
    m.poll(0)
    stop = threading.Event()
    count = [0]
    running = threading.Event()

    def spin():
        running.set()
        while not stop.is_set():
            count[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    try:
        assert running.wait(3)
        c0 = count[0]
        t0 = time.monotonic()
        m.poll(300)
        waited = time.monotonic() - t0
        progressed = count[0] - c0
    finally:
        stop.set()
        th.join(5)
    assert waited >= 0.2, "poll(300) returned early with nothing to do"
    assert progressed > 10000  # the other thread ran while poll() waited


# --------------------------------------------------------------------------- timers


def test_one_shot_timer(manager):
    m = manager()
    fired = []
    t0 = time.monotonic()
    t = m.timer_add(50, lambda: fired.append(time.monotonic() - t0))
    assert t.active is True
    pump(m, lambda: fired)
    m.poll(150)
    assert len(fired) == 1 and fired[0] >= 0.04
    assert t.active is False


def test_repeating_timer_and_cancel(manager):
    m = manager()
    fired = []
    t0 = time.monotonic()
    t = m.timer_add(20, lambda: fired.append(time.monotonic()), repeat=True)
    pump(m, lambda: len(fired) >= 5)
    assert fired[4] - t0 >= 0.08
    assert t.active is True
    t.cancel()
    assert t.active is False
    n = len(fired)
    m.poll(100)
    m.poll(100)
    assert len(fired) == n
    t.cancel()  # idempotent


def test_run_now_timer_fires_on_next_poll_not_synchronously(manager):
    m = manager()
    fired = []
    t = m.timer_add(10_000, lambda: fired.append(1), run_now=True, repeat=True)  # noqa: F841
    assert fired == []
    m.poll(0)
    assert fired == [1]
    m.poll(50)
    assert fired == [1]


def test_zero_ms_timer_fires_on_next_poll(manager):
    m = manager()
    fired = []
    t = m.timer_add(0, lambda: fired.append(1))  # noqa: F841
    assert fired == []
    m.poll(0)
    assert fired == [1]


def test_timer_shortens_long_poll(manager):
    m = manager()
    m.listen(URL)
    fired = []
    t = m.timer_add(50, lambda: fired.append(1))  # noqa: F841
    t0 = time.monotonic()
    m.poll(3000)
    assert fired == [1] and time.monotonic() - t0 < 1.0


def test_timer_cancel_from_another_thread(server):
    srv = server(hello_handler)
    fired = []
    t = srv.call(lambda: srv.mgr.timer_add(5, lambda: fired.append(1), repeat=True))
    deadline = time.monotonic() + 3
    while len(fired) < 3:
        assert time.monotonic() < deadline
        srv.call(lambda: None)
    t.cancel()  # main thread, while the loop thread polls
    assert t.active is False
    n = len(fired)
    for _ in range(5):
        srv.call(lambda: None)
    assert len(fired) <= n + 1  # at most a firing already in progress completes
    m = len(fired)
    for _ in range(5):
        srv.call(lambda: None)
    assert len(fired) == m


def test_timer_active_false_after_manager_close():
    m = mg.Manager()
    t = m.timer_add(1000, lambda: None, repeat=True)
    assert t.active
    m.close()
    assert t.active is False


def test_timer_add_validation(manager):
    m = manager()
    with pytest.raises(ValueError):
        m.timer_add(-1, lambda: None)
    with pytest.raises(TypeError):
        m.timer_add(10, "not callable")


@pytest.mark.skipif(IS_REFERENCE, reason="the reference implementation needs the Timer kept alive")
def test_discarded_timer_object_still_fires(manager):
    m = manager()
    fired = []
    m.timer_add(10, lambda: fired.append(1))
    gc.collect()
    pump(m, lambda: fired)


def test_timer_exception_printed_to_sys_stderr_and_timer_keeps_running(manager):
    routed = []
    m = manager(None, False, routed.append)
    calls = []

    def cb():
        calls.append(1)
        raise ValueError("boom-timer-42")

    t = m.timer_add(10, cb, repeat=True)  # noqa: F841
    with capture_stderr() as cap:
        pump(m, lambda: len(calls) >= 3)
    text = cap.getvalue()
    assert "Traceback" in text and "ValueError: boom-timer-42" in text
    assert text.count("boom-timer-42") >= 3  # printed each time; the timer keeps running
    assert routed == []  # never sent to error_handler


# ----------------------------------------------------------------- handler errors


def test_handler_exception_goes_to_error_handler_and_loop_continues(server):
    routed, raised = [], []

    class Boom(Exception):
        pass

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            e = Boom("in HDRS")
            raised.append(e)
            raise e
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "still served")

    srv = server(h, error_handler=routed.append)
    with connect(srv.port) as s:
        rd = HttpReader(s)
        for _ in range(2):  # connection not closed because of the exception
            s.sendall(req("/"))
            assert rd.read_response().body == b"still served"
    assert len(routed) == 2 and routed[0] is raised[0] and routed[1] is raised[1]


def test_handler_exception_without_error_handler_prints_traceback(server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            raise RuntimeError("kaboom-77")
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "ok")

    srv = server(h, error_handler=None)
    with capture_stderr() as cap:  # printed on the polling thread to the current sys.stderr
        with connect(srv.port) as s:
            s.sendall(req("/"))
            assert HttpReader(s).read_response().body == b"ok"
    text = cap.getvalue()
    assert "Traceback" in text and "RuntimeError: kaboom-77" in text
    assert 'raise RuntimeError("kaboom-77")' in text  # a real traceback with frames


def test_error_handler_raising_prints_its_traceback(server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            raise KeyError("first")
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "ok")

    def eh(exc):
        raise ValueError("eh-failed-13")

    srv = server(h, error_handler=eh)
    with capture_stderr() as cap:
        with connect(srv.port) as s:
            s.sendall(req("/"))
            assert HttpReader(s).read_response().body == b"ok"
    assert "ValueError: eh-failed-13" in cap.getvalue()


def test_base_exception_in_handler_propagates_from_poll(manager):
    def h(conn, ev, data):
        if ev == mg.MG_EV_WAKEUP:
            raise KeyboardInterrupt("from handler")

    m = manager(h, True)
    lst = m.listen(URL)
    assert m.wakeup(lst.id, b"x")
    with pytest.raises(KeyboardInterrupt):
        pump(m, lambda: False, timeout=2)
    m.poll(0)  # the manager is still usable


# --------------------------------------------------------------------------- wakeup


def test_wakeup_delivers_exact_bytes_in_order_from_threads(manager):
    got = []
    m = manager(lambda c, ev, d: got.append((c, d)) if ev == mg.MG_EV_WAKEUP else None, True)
    lst = m.listen(URL)
    payloads = {t: [f"{t}:{i}".encode() + b"\x00\xff" * (i % 3) for i in range(50)] for t in range(4)}
    payloads[0][7] = b""

    def worker(t):
        for p in payloads[t]:
            assert m.wakeup(lst.id, p)

    threads = [threading.Thread(target=worker, args=(t,)) for t in payloads]
    for th in threads:
        th.start()
    pump(m, lambda: len(got) >= 200)
    for th in threads:
        th.join(5)
    assert all(c is lst for c, _ in got)
    data = [d for _, d in got]
    assert all(type(d) is bytes for d in data)
    for t in range(1, 4):
        assert [d for d in data if d.startswith(f"{t}:".encode())] == payloads[t]
    assert [d for d in data if d.startswith(b"0:") or d == b""] == payloads[0]


@pytest.mark.parametrize("timeout_ms", [-1, 5000])
def test_wakeup_interrupts_blocking_poll_promptly(timeout_ms):
    delivered = []
    got = threading.Event()

    def h(conn, ev, data):
        if ev == mg.MG_EV_WAKEUP:
            delivered.append((time.monotonic(), data))
            got.set()

    m = mg.Manager(h, True)
    lst = m.listen(URL)
    m.poll(0)
    started = threading.Event()

    def loop():
        started.set()
        deadline = time.monotonic() + 5
        while not got.is_set() and time.monotonic() < deadline:
            m.poll(timeout_ms)

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    assert started.wait(3)
    t_wake = time.monotonic()
    assert m.wakeup(lst.id, b"ping")
    th.join(2)
    stuck = th.is_alive()
    if stuck:  # try to unblock it so the manager can be closed
        m.wakeup(m.wakeup_id, b"")
        th.join(10)
    assert not stuck, "poll() was not interrupted by wakeup()"
    assert delivered and delivered[0][1] == b"ping"
    assert delivered[0][0] - t_wake < 1.0
    m.close()


def test_wakeup_disabled_or_bad_id_returns_false(manager):
    m = manager()
    lst = m.listen(URL)
    assert m.wakeup(lst.id, b"x") is False
    m2 = manager(None, True)
    assert m2.wakeup(0, b"x") is False and m2.wakeup(-5, b"x") is False


def test_wakeup_unknown_id_is_accepted_and_dropped(manager):
    got = []
    m = manager(lambda c, ev, d: got.append(d) if ev == mg.MG_EV_WAKEUP else None, True)
    lst = m.listen(URL)
    assert m.wakeup(9999, b"nobody") is True
    assert m.wakeup(m.wakeup_id, b"just interrupt") is True
    assert m.wakeup(lst.id, b"end")
    pump(m, lambda: got)
    assert got == [b"end"]


def test_wakeup_argument_types(manager):
    got = []
    m = manager(lambda c, ev, d: got.append(d) if ev == mg.MG_EV_WAKEUP else None, True)
    lst = m.listen(URL)
    with pytest.raises(TypeError):
        m.wakeup(lst.id, "text")
    with pytest.raises(TypeError):
        m.wakeup(lst.id, 12)
    assert m.wakeup(lst.id, bytearray(b"ba")) and m.wakeup(lst.id, memoryview(b"mv"))
    pump(m, lambda: len(got) == 2)
    assert got == [b"ba", b"mv"]


def test_wakeup_size_limits(manager):
    m = manager(None, True, limits={"wakeup_max_payload": 1024, "wakeup_max_queue": 4096})
    lst = m.listen(URL)
    with pytest.raises(ValueError) as ei:
        m.wakeup(lst.id, b"x" * 1025)
    assert str(ei.value) == "wakeup payload too large"
    assert all(m.wakeup(lst.id, b"y" * 1024) for _ in range(4))
    assert m.wakeup(lst.id, b"z" * 1024) is False  # queue full, not silently dropped
    m.poll(0)
    assert m.wakeup(lst.id, b"z" * 1024) is True


def test_large_wakeup_payload_delivered_intact(manager):
    got = []
    m = manager(lambda c, ev, d: got.append(d) if ev == mg.MG_EV_WAKEUP else None, True)
    lst = m.listen(URL)
    payload = os.urandom(1 << 20)
    threading.Thread(target=lambda: m.wakeup(lst.id, payload)).start()
    pump(m, lambda: got)
    assert got == [payload]


# ------------------------------------------------------------ events and handlers


def test_event_order_for_http_request_with_connection_close(server):
    kinds = []

    def h(conn, ev, data):
        kinds.append((conn, type(ev), type(data)))
        hello_handler(conn, ev, data)

    rec = Recorder(h)
    srv = server(rec)
    with connect(srv.port) as s:
        rd = HttpReader(s)
        s.sendall(req("/", headers={"Connection": "close"}))
        rd.read_response()
        assert rd.wait_closed()
    cid = rec.wait_ev(mg.MG_EV_ACCEPT)[0].conn_id
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    seq = rec.seq(cid)
    dedup = [n for i, n in enumerate(seq) if i == 0 or n != seq[i - 1] or n != "MG_EV_WRITE"]
    assert dedup == ["MG_EV_OPEN", "MG_EV_ACCEPT", "MG_EV_HTTP_HDRS", "MG_EV_HTTP_MSG",
                     "MG_EV_READ", "MG_EV_WRITE", "MG_EV_CLOSE"]
    child = [e.conn for e in rec.events if e.conn_id == cid]
    assert all(c is child[0] for c in child)  # one stable Connection object
    assert {c: 1 for c in child} == {child[0]: 1}  # hashable by identity
    assert all(evt is int for _, evt, _ in kinds)
    data_types = {e.name: type(e.data) for e in rec.events if e.conn_id == cid}
    assert data_types["MG_EV_HTTP_MSG"] is dict  # recorder snapshot of an HttpMessage
    assert all(data_types[n] is type(None) for n in ("MG_EV_OPEN", "MG_EV_ACCEPT",
                                                      "MG_EV_READ", "MG_EV_WRITE",
                                                      "MG_EV_CLOSE"))


def test_http_message_type_passed_to_handler(server):
    types = []

    def h(conn, ev, data):
        if ev in (mg.MG_EV_HTTP_HDRS, mg.MG_EV_HTTP_MSG):
            types.append(type(data))
        hello_handler(conn, ev, data)

    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req("/"))
        HttpReader(s).read_response()
    assert types == [mg.HttpMessage, mg.HttpMessage]


def test_listener_open_is_sync_and_goes_to_listen_handler(manager):
    default, own = Recorder(), Recorder()
    m = manager(default)
    lst = m.listen(URL, own)
    assert [(e.conn, e.name) for e in own.events] == [(lst, "MG_EV_OPEN")]
    assert default.events == []
    assert lst.handler is own


def test_poll_event_reaches_every_connection_each_poll(manager):
    rec = Recorder(keep_poll=True)
    m = manager(rec)
    a, b = m.listen(URL), m.listen(URL)
    for _ in range(3):
        m.poll(0)
    assert len(rec.of(mg.MG_EV_POLL, a.id)) == 3 and len(rec.of(mg.MG_EV_POLL, b.id)) == 3


def test_listen_handler_inherited_by_children(server):
    default, own = Recorder(), Recorder(hello_handler)
    srv = server(default, listener_handler=own)
    with connect(srv.port) as s:
        s.sendall(req("/"))
        assert HttpReader(s).read_response().body == b"hello"
    child = own.wait_ev(mg.MG_EV_ACCEPT)[0]
    assert own.seq(child.conn_id)[:2] == ["MG_EV_OPEN", "MG_EV_ACCEPT"]
    assert child.conn.handler is own
    assert [e for e in default.events if e.conn_id == child.conn_id] == []


def test_set_handler_on_listener_applies_to_later_children_only(server):
    srv = server(lambda c, ev, d: c.reply(200, "default") if ev == mg.MG_EV_HTTP_MSG else None)
    other = lambda c, ev, d: c.reply(200, "other") if ev == mg.MG_EV_HTTP_MSG else None  # noqa: E731
    with connect(srv.port) as old:
        ro = HttpReader(old)
        old.sendall(req("/"))
        assert ro.read_response().body == b"default"
        srv.call(lambda: srv.listener.set_handler(other))
        with connect(srv.port) as new:
            new.sendall(req("/"))
            assert HttpReader(new).read_response().body == b"other"
        old.sendall(req("/"))
        assert ro.read_response().body == b"default"  # existing children unchanged
    srv.call(lambda: srv.listener.set_handler(None))
    with connect(srv.port) as s:
        s.sendall(req("/"))
        assert HttpReader(s).read_response().body == b"default"


def test_listeners_on_different_ports_keep_their_own_handlers(server):
    def named(text):
        return lambda c, ev, d: c.reply(200, text) if ev == mg.MG_EV_HTTP_MSG else None

    srv = server(named("default"), listener_handler=named("first"))
    second = srv.call(lambda: srv.mgr.listen(URL, named("second")))
    for port, text in ((srv.port, b"first"), (second.local_addr[1], b"second")):
        with connect(port) as s:
            s.sendall(req("/"))
            assert HttpReader(s).read_response().body == text


def test_set_handler_on_connection_applies_from_next_event(server):
    def other(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "switched")

    def first(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            conn.set_handler(other)
        elif ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "not switched")

    srv = server(first)
    with connect(srv.port) as s:
        s.sendall(req("/"))
        assert HttpReader(s).read_response().body == b"switched"


def test_set_handler_rejects_non_callable(server):
    seen = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            try:
                conn.set_handler(42)
            except TypeError as e:
                seen.append(e)
            conn.reply(200, "ok")

    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req("/"))
        assert HttpReader(s).read_response().body == b"ok"
    assert len(seen) == 1


# ------------------------------------------------------------------------ Connection


def test_accepted_connection_properties(server):
    props = {}

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            props.update(
                id=conn.id, listening=conn.is_listening, client=conn.is_client,
                udp=conn.is_udp, tls=conn.is_tls, ws=conn.is_websocket,
                closing=conn.is_closing, draining=conn.is_draining, full=conn.is_full,
                local=conn.local_addr, remote=conn.remote_addr, userdata=conn.userdata,
                repr=repr(conn),
            )
            conn.userdata = {"k": "v"}
            props["userdata2"] = conn.userdata
            conn.reply(200, "props")
            props["send_len"] = conn.send_len
            props["send_head"] = conn.send_data()
            props["send8"] = conn.send_data(8)

    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req("/"))
        HttpReader(s).read_response()
        me = s.getsockname()
    assert props["id"] > srv.listener.id
    assert not any(props[k] for k in ("listening", "client", "udp", "tls", "ws", "closing",
                                      "draining", "full"))
    assert props["local"] == ("127.0.0.1", srv.port, False)
    assert props["remote"] == (me[0], me[1], False)
    assert props["userdata"] is None and props["userdata2"] == {"k": "v"}
    assert re.fullmatch(r"<Connection id=\d+ readable=(True|False) writable=(True|False)>",
                        props["repr"])
    assert props["repr"].startswith(f"<Connection id={props['id']} ")
    assert props["send_len"] > 0 and props["send_head"].startswith(b"HTTP/1.1 200 OK\r\n")
    assert props["send8"] == b"HTTP/1.1"


def test_connection_after_close(server):
    kept = []
    rec = Recorder(lambda c, ev, d: (kept.append(c), c.reply(200, "x", {"Connection": "close"}))
                   if ev == mg.MG_EV_HTTP_MSG else None)
    srv = server(rec)
    with connect(srv.port) as s:
        s.sendall(req("/"))
        HttpReader(s).read_response()
    c = kept[0]
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=c.id)
    cid = c.id

    def inspect():
        c.userdata = "kept"
        out = dict(repr=repr(c), id=c.id, local=c.local_addr, remote=c.remote_addr,
                   closing=c.is_closing, draining=c.is_draining, listening=c.is_listening,
                   recv=c.recv_data(), send=c.send_data(), recv_len=c.recv_len,
                   send_len=c.send_len, userdata=c.userdata)
        errs = []
        for fn in (lambda: c.send(b"x"), lambda: c.reply(200, "late")):
            try:
                fn()
            except RuntimeError as e:
                errs.append(str(e))
        c.close()  # no-op
        c.drain()  # no-op
        out["errs"] = errs
        return out

    out = srv.call(inspect)
    assert out == dict(repr="<Connection closed>", id=cid, local=None, remote=None,
                       closing=True, draining=False, listening=False, recv=b"", send=b"",
                       recv_len=0, send_len=0, userdata="kept",
                       errs=["Connection has been closed"] * 2)


def test_unbound_connection_object():
    c = mg.Connection.__new__(mg.Connection)
    assert c.id == 0 and not c.is_listening and not c.is_client
    assert c.local_addr is None and c.remote_addr is None
    assert repr(c) == "<Connection closed>"
    assert c.recv_data() == b"" and c.send_data() == b""


def test_close_in_handler_is_immediate_and_sync(server):
    order = []

    def h(conn, ev, data):
        if ev != mg.MG_EV_POLL:
            order.append(mg.event_name(ev))
        if ev == mg.MG_EV_HTTP_MSG:
            conn.close()
            order.append("close() returned")

    srv = server(h)
    with connect(srv.port) as s:
        rd = HttpReader(s)
        s.sendall(req("/"))
        assert rd.wait_closed()
        assert rd.buf == b""
    srv.call(lambda: None)
    i = order.index("MG_EV_HTTP_MSG")
    assert order[i + 1:i + 3] == ["MG_EV_CLOSE", "close() returned"]
    assert order.count("MG_EV_CLOSE") == 1 and "MG_EV_ERROR" not in order


def test_drain_flushes_then_closes(server):
    body = bytes(range(1, 256)) * 1200  # ~300 KB, several writes
    flags = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, body)
            flags.append(conn.is_draining)
            conn.drain()
            flags.append(conn.is_draining)

    srv = server(h)
    with connect(srv.port) as s:
        rd = HttpReader(s)
        s.sendall(req("/"))
        assert rd.read_response().body == body
        assert rd.wait_closed()
    assert flags == [False, True]


def test_error_delivers_full_text_sync_then_closes(server):
    text = "custom failure: " + "x" * 200
    order = []

    def h(conn, ev, data):
        if ev != mg.MG_EV_POLL:
            order.append((mg.event_name(ev), data if ev == mg.MG_EV_ERROR else None))
        if ev == mg.MG_EV_HTTP_MSG:
            conn.error(text)
            order.append(("error() returned", conn.is_closing))

    srv = server(h)
    with connect(srv.port) as s:
        rd = HttpReader(s)
        s.sendall(req("/"))
        assert rd.wait_closed()
    srv.call(lambda: None)
    i = order.index(("MG_EV_HTTP_MSG", None))
    assert order[i + 1] == ("MG_EV_ERROR", text)  # not truncated
    assert order[i + 2] == ("error() returned", True)
    assert order[-1] == ("MG_EV_CLOSE", None)


def test_raw_receive_buffer_accumulates(server):
    seen = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_READ:
            seen.append((conn.recv_data(), conn.recv_data(2), conn.recv_len))

    srv = server(h, url=f"tcp://{HOST}:0")
    with connect(srv.port) as s:
        s.sendall(b"abc")
        deadline = time.monotonic() + 3
        while not seen:
            assert time.monotonic() < deadline
            srv.call(lambda: None)
        s.sendall(b"def")
        while len(seen) < 2 or seen[-1][0] != b"abcdef":
            assert time.monotonic() < deadline
            srv.call(lambda: None)
    assert seen[0] == (b"abc", b"ab", 3)
    assert seen[-1] == (b"abcdef", b"ab", 6)


# ------------------------------------------------------------ threads and limits


def test_two_managers_in_two_threads_run_in_parallel(server):
    a_in, b_in = threading.Event(), threading.Event()

    def make(mine, theirs):
        def h(conn, ev, data):
            if ev == mg.MG_EV_HTTP_MSG:
                mine.set()
                conn.reply(200, "parallel" if theirs.wait(3) else "serialized")
        return h

    sa, sb = server(make(a_in, b_in)), server(make(b_in, a_in))
    results = {}

    def client(name, port):
        with connect(port) as s:
            s.sendall(req("/"))
            results[name] = HttpReader(s).read_response().body

    ts = [threading.Thread(target=client, args=("a", sa.port)),
          threading.Thread(target=client, args=("b", sb.port))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(8)
    assert results == {"a": b"parallel", "b": b"parallel"}


def test_max_connections_limit(server):
    srv = server(hello_handler, limits={"max_connections": 3})  # listener + 2 children
    c1, c2 = connect(srv.port), connect(srv.port)
    try:
        r1, r2 = HttpReader(c1), HttpReader(c2)
        for s, r in ((c1, r1), (c2, r2)):
            s.sendall(req("/"))
            assert r.read_response().body == b"hello"
        with connect(srv.port) as c3:
            r3 = HttpReader(c3)
            c3.sendall(req("/"))
            assert r3.nothing_within(0.5)  # not accepted while at the limit
            c1.close()
            assert r3.read_response().body == b"hello"
    finally:
        c1.close()
        c2.close()


# ------------------------------------------------------------------------------ run


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_run_stops_on_signal_and_restores_handlers(signum):
    assert threading.current_thread() is threading.main_thread()
    leaked = []

    def prev(sig, frame):  # must not be reached while run() owns the signal
        leaked.append(sig)
        raise KeyboardInterrupt

    old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, prev)
    signal.signal(signal.SIGTERM, prev)
    try:
        m = mg.Manager()
        lst = m.listen(URL)
        t = m.timer_add(50, lambda: os.kill(os.getpid(), signum))  # noqa: F841
        t0 = time.monotonic()
        m.run(10)
        assert time.monotonic() - t0 < 3
        assert leaked == []
        assert signal.getsignal(signal.SIGINT) is prev
        assert signal.getsignal(signal.SIGTERM) is prev
        assert repr(lst) == "<Connection closed>"
        with pytest.raises(RuntimeError, match="^Manager has been freed$"):
            m.poll(0)
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def test_run_outside_main_thread_raises_value_error():
    m = mg.Manager()
    out = []

    def target():
        try:
            m.run(10)
        except ValueError as e:
            out.append(e)

    th = threading.Thread(target=target)
    th.start()
    th.join(5)
    assert not th.is_alive() and len(out) == 1
    m.close()


def test_unclosed_manager_emits_resource_warning_when_collected():
    m = mg.Manager()
    port = m.listen(URL).local_addr[1]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        del m
        gc.collect()
    assert any(issubclass(x.category, ResourceWarning) and "unclosed Manager" in str(x.message)
               for x in w)
    with socket.socket() as s:  # its sockets were released
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, port))


def test_cross_manager_deadlock_is_detected_not_hung():
    """Handlers of two managers calling into each other synchronously would deadlock
    (spec §5.10): one call raises the spec's RuntimeError, the other completes."""
    barrier = threading.Barrier(2, timeout=3)
    outcomes = []
    lock = threading.Lock()

    def make_handler(other):
        def h(conn, ev, data):
            if ev == mg.MG_EV_WAKEUP:
                barrier.wait()  # both managers are now inside a handler, holding their locks
                try:
                    other[0].timer_add(1000, lambda: None)
                    result = "ok"
                except RuntimeError as e:
                    result = str(e)
                with lock:
                    outcomes.append(result)
        return h

    ref_a, ref_b = [], []
    a = mg.Manager(make_handler(ref_b), enable_wakeup=True)
    b = mg.Manager(make_handler(ref_a), enable_wakeup=True)
    ref_a.append(a)
    ref_b.append(b)
    la, lb = a.listen(URL), b.listen(URL)
    stop = threading.Event()

    def run(m):
        while not stop.is_set():
            m.poll(10)

    threads = [threading.Thread(target=run, args=(m,), daemon=True) for m in (a, b)]
    for t in threads:
        t.start()
    try:
        assert a.wakeup(la.id, b"go") and b.wakeup(lb.id, b"go")
        deadline = time.monotonic() + 4
        while len(outcomes) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting on handler results from the two poll threads
        assert sorted(outcomes) == sorted(["ok", "cross-manager call would deadlock; use Manager.wakeup()"])
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        a.close()
        b.close()


@pytest.mark.timeout(60)
def test_interpreter_exit_with_a_daemon_thread_inside_poll_is_clean():
    """CPython ends daemon threads that come back from a blocking call while it finalizes;
    one inside poll() must not abort the process (it did: "terminate called without an
    active exception", exit status 134), and nothing is printed."""
    import subprocess
    import sys

    if IMPL == "pymongoose_asan":
        pytest.skip("the child interpreter would need the sanitizer runtimes preloaded first")
    program = (
        f"import threading, time, {IMPL} as mg\n"
        "m = mg.Manager(None)\n"
        "m.listen('http://127.0.0.1:0')\n"
        "threading.Thread(target=lambda: [m.poll(50) for _ in iter(int, 1)], daemon=True).start()\n"
        "time.sleep(0.2)\n"
    )
    for _ in range(3):
        p = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=30,
                           cwd=os.path.dirname(os.path.abspath(__file__)))
        assert p.returncode == 0, p.stderr.decode(errors="replace")[-2000:]
        assert p.stderr == b""
