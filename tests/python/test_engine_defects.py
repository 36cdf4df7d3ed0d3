# SPDX-License-Identifier: MIT
"""Engine defects found in review, one section each, as users observe them (bytes on the
wire, events in order, errors raised, CPU and memory bounded). Every test here failed on
the engine before the fix, except those marked "(control)" (whole tests or single
parameter cases), which pin down behaviour that already worked and must keep working.
Scenarios that crashed the old engine (section 6) or need their own process (sections 3
and 5) run as programs under ``programs/defects_*.py``.

1. Messages larger than ``max_recv`` (spec §8.1): ``max_recv`` bounds only raw TCP
   receive buffers; HTTP bodies are bounded by ``max_body`` (server requests and client
   responses), WebSocket messages by ``max_ws_message``. A connection whose reading is
   paused behind an unanswered request costs no CPU, also after the peer reset it.
2. ``send_timeout`` [ext] (§8.1): no progress writing pending output for that long →
   ``MG_EV_ERROR("send timeout")``, then ``MG_EV_CLOSE``; 0 disables it.
3. Idle keep-alive connections are cheap: server RSS per idle connection ≤ 2 KiB.
4. ``Manager(poll_events=False)`` [ext] (§3.1): no ``MG_EV_POLL`` at all.
5. ``fork()`` after ``listen()``: the child's ``poll()`` raises; the parent keeps serving
   even though its closed connection's socket lives on in the child.
6. A view passed to ``serve_file``/``serve_dir``/``ws_upgrade`` from another thread after
   its handler returned raises the stale-view ``ValueError`` (§3.3, §5.10).
7. ``poll(ms)`` blocks after a synchronously answered request (§5.5 step 3).
8. TLS and UDP schemes fail loudly while TLS and UDP are not available (§3.6).
9. Request-target forms (RFC 9112 §3.2): origin, absolute, authority (CONNECT only) and
   asterisk (OPTIONS only) forms, ASCII only.
10. Found in review of the new engine: a driver replaced twice in one handler, a
   half-closed peer with a blocked reply (no spinning on EOF), a reply from the READ
   handler with pipelined requests buffered, drain() on a listener.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mgtest_helpers import (
    HOST,
    IMPL,
    SOCK_TIMEOUT,
    HttpReader,
    PeerClosed,
    Recorder,
    assert_server_alive,
    connect,
    get,
    hello_handler,
    mg,
    req,
    wait_until,
)
from ws_helpers import OP_BINARY, OP_CONT, RawWs, frame, poll_until

pytestmark = pytest.mark.timeout(30)

PROGRAMS = Path(__file__).parent / "programs"
KiB, MiB = 1024, 1024 * 1024
ZERO_MASK = b"\0\0\0\0"  # a masked frame whose payload bytes go on the wire unchanged


def digest(data: bytes) -> str:
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}"


def chunk(data) -> bytes:
    return b"%x\r\n" % len(data) + bytes(data) + b"\r\n"


def child_env() -> dict:
    env = dict(os.environ)
    if "PYMONGOOSE_ASAN_PRELOAD" in env:  # the sanitizer build needs its runtime first
        env["LD_PRELOAD"] = env["PYMONGOOSE_ASAN_PRELOAD"]
    return env


def serve_while(mgr, client_fn, timeout: float = 5.0):
    """Run ``client_fn()`` on a thread while this thread polls ``mgr``; return its result
    (or re-raise its exception). For managers a test drives itself."""
    out: dict = {}

    def run():
        try:
            out["value"] = client_fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    poll_until(mgr, lambda: not t.is_alive(), timeout, what="client thread")
    if "error" in out:
        raise out["error"]
    return out.get("value")


def compact(names: list[str]) -> str:
    """Event names with runs collapsed: ``OPEN, READ x40, CLOSE``."""
    out: list[list] = []
    for n in names:
        n = n.replace("MG_EV_", "")
        if out and out[-1][0] == n:
            out[-1][1] += 1
        else:
            out.append([n, 1])
    return ", ".join(n if k == 1 else f"{n} x{k}" for n, k in out)


def poll_until_seen(mgr, rec: Recorder, evs=(mg.MG_EV_CLOSE,), timeout: float = 3.0) -> None:
    """Poll ``mgr`` on this thread until ``rec`` saw one of ``evs``."""
    try:
        poll_until(mgr, lambda: any(rec.of(ev) for ev in evs), timeout,
                   what=" or ".join(mg.event_name(ev) for ev in evs))
    except AssertionError as e:
        raise AssertionError(f"{e}; events: {compact(rec.seq())}") from None


def errors_of(rec: Recorder, conn_id: int | None = None) -> list:
    return [e.data for e in rec.of(mg.MG_EV_ERROR, conn_id)]


def only_child(rec: Recorder) -> int:
    kids = rec.children()
    assert len(kids) == 1, kids
    return kids[0]


def body_digest(conn, ev, data):
    """Answer every request with the length and SHA-256 of the body it received."""
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, digest(data.body_bytes))


def upload(port: int, body: bytes, *, chunked: bool = False, piece: int = 256 * KiB,
           timeout: float = 10.0):
    """POST ``body`` (Content-Length or chunked framing) and read the response."""
    view = memoryview(body)
    with connect(port, timeout=timeout) as s:
        if chunked:
            s.sendall(req("/up", "POST", headers={"Transfer-Encoding": "chunked"}))
            for i in range(0, len(body), piece):
                s.sendall(chunk(view[i:i + piece]))
            s.sendall(b"0\r\n\r\n")
        else:
            s.sendall(req("/up", "POST", headers={"Content-Length": str(len(body))}))
            s.sendall(view)
        return HttpReader(s).read_response()


def send_until_answered(sock: socket.socket, pieces) -> None:
    """Send ``pieces`` one by one, stopping as soon as the server answers or goes away."""
    for p in pieces:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            return
        try:
            sock.sendall(p)
        except (BrokenPipeError, ConnectionResetError):
            return


# ======================================================================================
# 1. Messages larger than max_recv
# ======================================================================================

BIG = 10 * MiB
SHORT_TIMEOUTS = {"header_timeout": 5, "body_timeout": 5}  # the old engine answered 408


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_10mib_upload_delivered_whole_with_max_body_raised(server, chunked):
    rec = Recorder(body_digest)
    srv = server(rec, limits={"max_body": 64 * MiB, **SHORT_TIMEOUTS})
    body = os.urandom(BIG)
    r = upload(srv.port, body, chunked=chunked)
    assert (r.status, r.text) == (200, digest(body))
    assert not errors_of(rec)


LOW_RECV = {"max_recv": 64 * KiB, "max_body": 8 * MiB, **SHORT_TIMEOUTS}


@pytest.mark.parametrize("size,chunked", [
    (4 * MiB, False),          # below max_body, 64x max_recv
    (8 * MiB - 1, False),      # just below
    (8 * MiB, False),          # exactly max_body
    (8 * MiB, True),           # exactly max_body, accumulated from chunks
], ids=["4MiB", "max_body-1", "max_body", "max_body-chunked"])
def test_upload_bounded_by_max_body_not_max_recv(server, size, chunked):
    srv = server(body_digest, limits=LOW_RECV)
    body = os.urandom(size)
    r = upload(srv.port, body, chunked=chunked)
    assert (r.status, r.text) == (200, digest(body))


def test_upload_exactly_max_body_below_max_recv_accepted(server):
    """(control) max_body below max_recv: a body of exactly max_body is accepted."""
    srv = server(body_digest, limits={"max_body": 1 * MiB})
    body = os.urandom(1 * MiB)
    r = upload(srv.port, body)
    assert (r.status, r.text) == (200, digest(body))


def test_upload_above_max_body_with_low_max_recv_gets_413_before_body(server):
    """(control) Content-Length max_body+1: 413 from the head alone, body never read."""
    rec = Recorder(body_digest)
    srv = server(rec, limits=LOW_RECV)
    with connect(srv.port) as s:
        s.sendall(req("/up", "POST", headers={"Content-Length": str(8 * MiB + 1)}))
        r = HttpReader(s).read_response()
    assert r.status == 413
    rec.wait_ev(mg.MG_EV_CLOSE)
    assert errors_of(rec) == ["MG_MAX_RECV_SIZE"]
    assert not rec.of(mg.MG_EV_HTTP_MSG)


def test_chunked_upload_above_max_body_with_low_max_recv_gets_413(server):
    rec = Recorder(body_digest)
    srv = server(rec, limits=LOW_RECV)
    piece = os.urandom(256 * KiB)
    pieces = [chunk(piece)] * 32 + [chunk(b"!"), b"0\r\n\r\n"]  # 8 MiB + 1
    with connect(srv.port, timeout=10) as s:
        s.sendall(req("/up", "POST", headers={"Transfer-Encoding": "chunked"}))
        send_until_answered(s, pieces)
        r = HttpReader(s).read_response()
    assert r.status == 413
    rec.wait_ev(mg.MG_EV_CLOSE)
    assert errors_of(rec) == ["MG_MAX_RECV_SIZE"]
    assert not rec.of(mg.MG_EV_HTTP_MSG)


def ws_echo(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.ws_upgrade(data)
    elif ev == mg.MG_EV_WS_MSG:
        conn.ws_send(data.data, data.opcode)


def big_frame(op: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame built fast: zero mask key, payload sent as is."""
    return frame(op, b"", fin=fin, declared_len=len(payload), mask_key=ZERO_MASK) + payload


def test_4mib_ws_message_echoed_with_max_ws_message_raised(server):
    rec = Recorder(ws_echo)
    srv = server(rec, limits={"max_ws_message": 32 * MiB})
    payload = os.urandom(4 * MiB)
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send(big_frame(OP_BINARY, payload))
        f = ws.recv_non_control()
    assert (f.op, f.fin, len(f.payload)) == (OP_BINARY, True, len(payload))
    assert f.payload == payload
    assert not errors_of(rec)


WS_LOW = {"max_recv": 64 * KiB, "max_ws_message": 1 * MiB}


@pytest.mark.parametrize("size,fragments", [
    (1 * MiB - 1, 1), (1 * MiB, 1), (1 * MiB, 4)
], ids=["max_ws_message-1", "max_ws_message", "max_ws_message-fragmented"])
def test_ws_message_bounded_by_max_ws_message_not_max_recv(server, size, fragments):
    rec = Recorder(ws_echo)
    srv = server(rec, limits=WS_LOW)
    payload = os.urandom(size)
    step = -(-size // fragments)
    parts = [payload[i:i + step] for i in range(0, size, step)]
    wire = b"".join(big_frame(OP_BINARY if i == 0 else OP_CONT, p, fin=i == len(parts) - 1)
                    for i, p in enumerate(parts))
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send(wire)
        f = ws.recv_non_control()
    assert (f.op, len(f.payload)) == (OP_BINARY, size)
    assert f.payload == payload
    assert not errors_of(rec)


def test_ws_message_above_max_ws_message_with_low_max_recv_closes_1009(server):
    """(control) max_ws_message + 1 → close 1009, ERROR("MG_MAX_RECV_SIZE")."""
    rec = Recorder(ws_echo)
    srv = server(rec, limits=WS_LOW)
    with RawWs(srv.port) as ws:
        ws.handshake()
        try:
            ws.send(big_frame(OP_BINARY, os.urandom(1 * MiB + 1)))
        except (BrokenPipeError, ConnectionResetError):
            pass
        f = ws.expect_close()
    assert f.close_code == 1009
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert errors_of(rec, cid) == ["MG_MAX_RECV_SIZE"]
    assert not rec.of(mg.MG_EV_WS_MSG, cid)


class OneResponseServer:
    """A raw-socket HTTP server on a thread: accepts one connection, reads the request
    head, sends ``response`` and closes."""

    def __init__(self, response: bytes):
        self.lsock = socket.socket()
        self.lsock.bind((HOST, 0))
        self.lsock.listen(1)
        self.lsock.settimeout(SOCK_TIMEOUT)
        self.port = self.lsock.getsockname()[1]
        self.response = response
        self.request = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            s, _ = self.lsock.accept()
        except OSError:
            return
        with s:
            s.settimeout(SOCK_TIMEOUT)
            try:
                self.request = HttpReader(s).read_until(b"\r\n\r\n")
                s.sendall(self.response)
            except (OSError, PeerClosed):
                pass  # the client gave up (the over-limit cases)

    def close(self):
        self.thread.join(SOCK_TIMEOUT)
        self.lsock.close()
        assert not self.thread.is_alive(), "raw server thread hung"


def client_fetch(response: bytes, limits: dict, timeout: float = 5.0) -> Recorder:
    """Manager.connect(http=True) to a raw server sending ``response``; polled on this
    thread until the connection closes. Returns the client's Recorder."""
    raw = OneResponseServer(response)
    errors: list = []

    def on_connect(conn, ev, data):
        if ev == mg.MG_EV_CONNECT:
            conn.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")

    rec = Recorder(on_connect)
    mgr = mg.Manager(None, False, errors.append, limits=limits)
    try:
        mgr.connect(f"http://{HOST}:{raw.port}", rec, http=True)
        poll_until_seen(mgr, rec, timeout=timeout)
    finally:
        mgr.close()
        raw.close()
    assert not errors, errors
    return rec


def content_length_response(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def chunked_response(body: bytes, piece: int = 256 * KiB) -> bytes:
    view = memoryview(body)
    return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(chunk(view[i:i + piece]) for i in range(0, len(body), piece))
            + b"0\r\n\r\n")


@pytest.mark.parametrize("framing", [content_length_response, chunked_response],
                         ids=["content-length", "chunked"])
def test_http_client_receives_8mib_response_with_max_body_raised(framing):
    body = os.urandom(8 * MiB)
    rec = client_fetch(framing(body), {"max_body": 16 * MiB})
    msgs = rec.of(mg.MG_EV_HTTP_MSG)
    assert len(msgs) == 1, rec.seq()
    assert msgs[0].data["uri"] == "200"
    assert digest(msgs[0].data["body"]) == digest(body)
    assert not errors_of(rec)


def test_http_client_response_exactly_max_body_with_low_max_recv():
    body = os.urandom(1 * MiB)
    rec = client_fetch(content_length_response(body), {"max_recv": 64 * KiB, "max_body": 1 * MiB})
    msgs = rec.of(mg.MG_EV_HTTP_MSG)
    assert len(msgs) == 1, rec.seq()
    assert digest(msgs[0].data["body"]) == digest(body)
    assert not errors_of(rec)


def test_http_client_response_above_max_body_with_low_max_recv_errors():
    """(control) max_body + 1 → ERROR("MG_MAX_RECV_SIZE"), CLOSE, no HTTP_MSG."""
    rec = client_fetch(content_length_response(os.urandom(1 * MiB + 1)),
                       {"max_recv": 64 * KiB, "max_body": 1 * MiB})
    assert errors_of(rec) == ["MG_MAX_RECV_SIZE"]
    assert not rec.of(mg.MG_EV_HTTP_MSG)
    assert rec.seq()[-2:] == ["MG_EV_ERROR", "MG_EV_CLOSE"]


def test_raw_tcp_receive_buffer_still_bounded_by_max_recv(server):
    """(control) max_recv keeps bounding raw TCP receive buffers (nothing consumed):
    exactly max_recv bytes stay buffered, one more → ERROR("MG_MAX_RECV_SIZE"), CLOSE."""
    rec = Recorder()
    srv = server(rec, url=f"tcp://{HOST}:0", limits={"max_recv": 64 * KiB})
    with connect(srv.port) as s:
        s.sendall(os.urandom(64 * KiB))
        child = rec.wait_ev(mg.MG_EV_ACCEPT)[0].conn
        wait_until(lambda: srv.call(lambda: child.recv_len) == 64 * KiB,
                   what="64 KiB buffered")
        assert errors_of(rec) == []
        s.sendall(b"!")
        rec.wait_ev(mg.MG_EV_CLOSE, conn_id=child.id)
    assert errors_of(rec) == ["MG_MAX_RECV_SIZE"]
    assert rec.seq(child.id)[-2:] == ["MG_EV_ERROR", "MG_EV_CLOSE"]


# --- a connection paused behind an unanswered request ---------------------------------

PIPELINED = 256          # POST requests queued behind the unanswered one
PIPELINED_BODY = 256 * KiB  # 64 MiB in all: far more than kernel buffers plus any read cap
CPU_WINDOW = 1.0
MAX_CPU_SHARE = 0.2


class HoldFirst:
    """Leaves ``/held`` unanswered (so reading pauses behind it); answers every other
    request with its URI and body length."""

    def __init__(self):
        self.held = None
        self.got_held = threading.Event()

    def __call__(self, conn, ev, data):
        if ev != mg.MG_EV_HTTP_MSG:
            return
        if data.uri == "/held":
            self.held = conn
            self.got_held.set()
        else:
            conn.reply(200, f"{data.uri} {len(data.body_bytes)}")


def pipelined_requests() -> bytes:
    body = b"p" * PIPELINED_BODY
    return b"".join(req(f"/r{i}", "POST", body=body) for i in range(PIPELINED))


def push_until_stalled(sock: socket.socket, data: bytes, stall: float = 0.5,
                       deadline: float = 10.0) -> int:
    """Send as much of ``data`` as the peer takes; stop when the socket stays unwritable
    for ``stall`` seconds (the server stopped reading). Returns the bytes sent."""
    view = memoryview(data)
    off = 0
    end = time.monotonic() + deadline
    sock.setblocking(False)
    try:
        while off < len(data) and time.monotonic() < end:
            try:
                off += sock.send(view[off:off + 256 * KiB])
            except BlockingIOError:
                _, writable, _ = select.select([], [sock], [], stall)
                if not writable:
                    break
    finally:
        sock.settimeout(SOCK_TIMEOUT)
    return off


def paused_client(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 128 * KiB)
    s.settimeout(SOCK_TIMEOUT)
    s.connect((HOST, port))
    return s


def poll_thread_cpu_share(srv, window: float = CPU_WINDOW) -> float:
    """CPU seconds used by the server's poll thread per wall-clock second over ``window``."""
    c0, w0 = srv.call(time.thread_time), time.monotonic()
    time.sleep(window)  # the measurement window itself, not a wait for the server
    c1, w1 = srv.call(time.thread_time), time.monotonic()
    return (c1 - c0) / (w1 - w0)


def test_paused_connection_costs_no_cpu_then_answers_in_order(server):
    """(control) Reading paused behind an unanswered request: the poll thread stays
    (nearly) idle; once the request is answered, every pipelined request is answered in
    order."""
    hold = HoldFirst()
    rec = Recorder(hold)
    srv = server(rec)
    data = pipelined_requests()
    s = paused_client(srv.port)
    with s:
        s.sendall(req("/held"))
        assert hold.got_held.wait(SOCK_TIMEOUT)
        sent = push_until_stalled(s, data)
        assert sent < len(data), "the server kept reading 64 MiB behind an unanswered request"
        share = poll_thread_cpu_share(srv)
        assert share < MAX_CPU_SHARE, f"paused connection: poll thread at {share:.0%} CPU"

        srv.call(lambda: hold.held.reply(200, "held"))
        rest: dict = {}

        def send_rest():
            try:
                s.sendall(memoryview(data)[sent:])
            except OSError as e:
                rest["error"] = e

        sender = threading.Thread(target=send_rest, daemon=True)
        sender.start()
        r = HttpReader(s)
        first = r.read_response()
        assert (first.status, first.body) == (200, b"held")
        for i in range(PIPELINED):
            resp = r.read_response()
            assert (resp.status, resp.text) == (200, f"/r{i} {PIPELINED_BODY}"), i
        sender.join(SOCK_TIMEOUT)
        assert not sender.is_alive() and "error" not in rest, rest
    assert not errors_of(rec)


def test_paused_connection_costs_no_cpu_after_peer_reset(server):
    """The same after the client reset its socket (SO_LINGER 0): the reset must not make
    the loop spin; the connection closes at the latest once the request is answered."""
    hold = HoldFirst()
    rec = Recorder(hold)
    srv = server(rec)
    s = paused_client(srv.port)
    s.sendall(req("/held"))
    assert hold.got_held.wait(SOCK_TIMEOUT)
    cid = hold.held.id
    data = pipelined_requests()
    sent = push_until_stalled(s, data)
    assert sent < len(data), "the server kept reading 64 MiB behind an unanswered request"
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # RST while the server is paused
    share = poll_thread_cpu_share(srv)
    assert share < MAX_CPU_SHARE, f"paused + reset connection: poll thread at {share:.0%} CPU"

    def answer():
        try:
            hold.held.reply(200, "held")
        except RuntimeError:
            pass  # already closed: the reset was detected while paused
    srv.call(answer)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert_server_alive(srv.port)


# ======================================================================================
# 2. send_timeout
# ======================================================================================

HUGE = 64 * MiB


def test_send_timeout_default_and_configurable():
    with mg.Manager(None) as m:
        assert m.limits["send_timeout"] == 60.0
    for value in (0.5, 0, 120):
        with mg.Manager(None, limits={"send_timeout": value}) as m:
            assert m.limits["send_timeout"] == value
    with pytest.raises(ValueError, match=r"^invalid value for limit 'send_timeout'$"):
        mg.Manager(None, limits={"send_timeout": -1})


class TimedRecorder(Recorder):
    """Records when the first MG_EV_ERROR arrived."""

    def __init__(self, inner=None):
        super().__init__(inner)
        self.error_at: float | None = None

    def __call__(self, conn, ev, data):
        if ev == mg.MG_EV_ERROR and self.error_at is None:
            self.error_at = time.monotonic()
        super().__call__(conn, ev, data)


def huge_reply(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, b"x" * HUGE)


@pytest.mark.parametrize("connection", ["keep-alive", "close"])
def test_send_timeout_closes_a_client_that_never_reads(server, connection):
    rec = TimedRecorder(huge_reply)
    srv = server(rec, limits={"send_timeout": 0.5})
    with connect(srv.port) as s:
        start = time.monotonic()
        s.sendall(req("/huge", headers={"Connection": connection}))
        cid = rec.wait_ev(mg.MG_EV_HTTP_MSG)[0].conn_id
        rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid, timeout=5)
        assert rec.error_at is not None and rec.error_at - start >= 0.4, "timed out too early"
        r = HttpReader(s)
        assert r.wait_closed(5), "the client still sees an open connection"
        assert len(r.buf) < HUGE  # cut short, not delivered
    assert errors_of(rec, cid) == ["send timeout"]
    assert rec.seq(cid)[-2:] == ["MG_EV_ERROR", "MG_EV_CLOSE"]


def test_send_timeout_closes_a_websocket_client_that_never_reads(server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_OPEN:
            conn.ws_send(b"y" * HUGE, mg.WEBSOCKET_OP_BINARY)
    rec = TimedRecorder(h)
    srv = server(rec, limits={"send_timeout": 0.5})
    with RawWs(srv.port) as ws:
        ws.handshake()  # then never read again
        cid = only_child(rec)
        rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid, timeout=5)
        assert ws.reader.wait_closed(5)
    assert errors_of(rec, cid) == ["send timeout"]
    assert rec.seq(cid)[-2:] == ["MG_EV_ERROR", "MG_EV_CLOSE"]


@pytest.mark.parametrize("limits", [{"send_timeout": 0}, {"send_timeout": 10}, None],
                         ids=["disabled", "10s", "default"])
def test_no_send_timeout_within_the_limit(server, limits):
    """A stalled reader stays connected for 1.5 s with send_timeout 0 (disabled), 10 s or
    the default 60 s ("default" is a control); the connection closes when the client
    goes away."""
    rec = Recorder(huge_reply)
    srv = server(rec, limits=limits)
    with connect(srv.port) as s:
        s.sendall(req("/huge"))
        cid = rec.wait_ev(mg.MG_EV_HTTP_MSG)[0].conn_id
        time.sleep(1.5)  # observation window: nothing may happen in it
        assert srv.call(lambda: rec.of(mg.MG_EV_CLOSE, cid)) == []
        assert errors_of(rec, cid) == []
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert errors_of(rec, cid) == []


def test_slow_steady_reader_gets_everything_despite_send_timeout(server):
    """Progress resets the timer: a reader taking 256 KiB every 0.1 s (about 6.5 s for
    16 MiB) never stalls the writer for send_timeout (1 s)."""
    total = 16 * MiB
    body = os.urandom(total)

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, body)
    rec = Recorder(h)
    srv = server(rec, limits={"send_timeout": 1.0})
    with connect(srv.port) as s:
        s.sendall(req("/slow"))
        r = HttpReader(s)
        r.read_head()
        got = [r.buf]
        n = len(r.buf)
        while n < total:
            want = min(256 * KiB, total - n)
            while want > 0:  # 256 KiB, then a pause: about 2.5 MiB/s
                b = s.recv(want)
                assert b, f"closed after {n} of {total} bytes; errors={errors_of(rec)}"
                got.append(b)
                n += len(b)
                want -= len(b)
            time.sleep(0.1)  # the client's own pace
        assert b"".join(got) == body
        assert r.nothing_within(0.3), "the connection ended after the response"
    rec.wait_ev(mg.MG_EV_CLOSE)
    assert errors_of(rec) == []


# ======================================================================================
# 3. Idle keep-alive connections are cheap
# ======================================================================================

IDLE_N = 5000
IDLE_WARMUP = 200
MAX_BYTES_PER_IDLE = 2048


def vm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_idle(port: int, n: int, batch: int = 250) -> list[socket.socket]:
    """``n`` keep-alive connections, each after one request and its response."""
    socks: list[socket.socket] = []
    try:
        for start in range(0, n, batch):
            group = [connect(port) for _ in range(min(batch, n - start))]
            socks += group
            for s in group:
                s.sendall(req("/idle"))
            for s in group:
                r = HttpReader(s).read_response()
                assert (r.status, r.body) == (200, b"ok")
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def stats(port: int) -> dict:
    r = get(port, "/stats")
    assert r.status == 200
    return json.loads(r.body)


@pytest.mark.parametrize("poll_events", ["false", "default"])
def test_idle_keepalive_connections_cost_little_memory(poll_events):
    """5000 keep-alive connections, each after one answered request, left idle: the
    server's RSS grows by at most 2 KiB per connection (the old engine: about 18.5 KB)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE_N + IDLE_WARMUP + 200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {IDLE_N} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    proc = subprocess.Popen([sys.executable, str(PROGRAMS / "defects_idle_server.py"), IMPL,
                             poll_events], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env())
    socks: list[socket.socket] = []
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if ready else b""
        if not line.strip():
            proc.kill()
            raise AssertionError("server did not start: "
                                 + proc.communicate(timeout=5)[1].decode()[-2000:])
        port = int(line)
        socks += open_idle(port, IDLE_WARMUP)
        assert stats(port)["seen"] == IDLE_WARMUP
        before = vm_rss(proc.pid)
        socks += open_idle(port, IDLE_N)
        st = stats(port)
        assert st["seen"] == IDLE_WARMUP + IDLE_N
        assert st["open"] >= IDLE_WARMUP + IDLE_N  # all still open, idle
        after = vm_rss(proc.pid)
        per_conn = (after - before) / IDLE_N
        print(f"\nidle keep-alive connections: {per_conn:.0f} bytes of server RSS each (N={IDLE_N})")
        assert per_conn <= MAX_BYTES_PER_IDLE, \
            f"{per_conn:.0f} bytes of server RSS per idle keep-alive connection"
    finally:
        for s in socks:
            s.close()
        proc.kill()
        proc.communicate(timeout=10)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ======================================================================================
# 4. poll_events
# ======================================================================================


def serve_some_requests(mgr) -> list:
    port = mgr.listen(f"http://{HOST}:0").local_addr[1]

    def clients():
        bodies = []
        with connect(port) as s:
            r = HttpReader(s)
            for i in range(3):  # keep-alive
                s.sendall(req(f"/{i}"))
                bodies.append(r.read_response().body)
        with connect(port) as s:
            s.sendall(req("/3", headers={"Connection": "close"}))
            bodies.append(HttpReader(s).read_response().body)
        return bodies

    bodies = serve_while(mgr, clients)
    for _ in range(5):  # idle iterations too
        mgr.poll(10)
    return bodies


def test_poll_events_false_delivers_no_poll():
    """Requests are served normally and no connection (listener included) ever gets
    MG_EV_POLL (events delivered by Manager.close() are not looked at)."""
    rec = Recorder(hello_handler, keep_poll=True)
    mgr = mg.Manager(rec, poll_events=False)
    try:
        bodies = serve_some_requests(mgr)
        seen = rec.seq()
    finally:
        mgr.close()
    assert bodies == [b"hello"] * 4
    assert "MG_EV_POLL" not in seen
    assert seen.count("MG_EV_HTTP_MSG") == 4 and seen.count("MG_EV_ACCEPT") == 2


def test_poll_events_default_delivers_poll():
    """(control) compat: every live connection, the listener included, gets MG_EV_POLL."""
    rec = Recorder(hello_handler, keep_poll=True)
    mgr = mg.Manager(rec)
    try:
        bodies = serve_some_requests(mgr)
        polled = {e.conn_id for e in rec.of(mg.MG_EV_POLL)}
        conns = {e.conn_id for e in rec.of(mg.MG_EV_OPEN)}
    finally:
        mgr.close()
    assert bodies == [b"hello"] * 4
    assert conns and conns <= polled


def test_poll_events_is_keyword_only():
    with mg.Manager(None, poll_events=True), mg.Manager(None, poll_events=False):
        pass
    with pytest.raises(TypeError):
        mg.Manager(None, False, None, None, False)


# ======================================================================================
# 5. fork() after listen()
# ======================================================================================


def test_fork_after_listen_child_refuses_and_parent_keeps_serving():
    """See programs/defects_fork.py: the child's poll() raises RuntimeError mentioning
    fork; the parent closes the connection whose socket the child still holds, the client
    writes to it, and the parent serves 20 fresh requests and then idles without spinning
    (the old engine: no error in the child, 100 % CPU in the idle parent)."""
    p = subprocess.run([sys.executable, str(PROGRAMS / "defects_fork.py"), IMPL],
                       capture_output=True, timeout=30, env=child_env())
    assert p.returncode == 0, (p.returncode, p.stdout.decode()[-2000:], p.stderr.decode()[-2000:])


# ======================================================================================
# 6. A view used from another thread after its handler returned
# ======================================================================================

@pytest.mark.parametrize("method", ["serve_file", "serve_dir", "ws_upgrade"])
def test_view_used_from_another_thread_after_handler_returned(tmp_path, method):
    """A thread calls conn.<method>(msg) while the handler that received ``msg`` still
    holds the poll thread; once the handler returns the view is invalid and the call
    raises ValueError("HttpMessage is not valid for this event"); the connection then
    still works. In a subprocess: the engine before the fix crashed here."""
    p = subprocess.run([sys.executable, str(PROGRAMS / "defects_stale_view.py"), method,
                        str(tmp_path)], capture_output=True, timeout=30, env=child_env())
    assert p.returncode == 0, (p.returncode, p.stderr.decode()[-3000:])


# ======================================================================================
# 7. No spurious zero-timeout poll after a synchronous reply
# ======================================================================================

OK_REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def ok_handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, "ok")


def poll_until_received(mgr, sock: socket.socket, expected: bytes, timeout: float = 3.0):
    """poll(100) on this thread until the client socket holds ``expected``."""
    got = bytearray()
    sock.setblocking(False)

    def have_all():
        try:
            while True:
                b = sock.recv(65536)
                if not b:
                    raise AssertionError(f"server closed; got {bytes(got)!r}")
                got.extend(b)
        except BlockingIOError:
            pass
        return len(got) >= len(expected)

    try:
        poll_until(mgr, have_all, timeout, step_ms=100, what="the response")
    finally:
        sock.settimeout(SOCK_TIMEOUT)
    assert bytes(got) == expected


@pytest.mark.parametrize("requests", [1, 2], ids=["one", "pipelined-pair"])
def test_poll_blocks_after_a_synchronous_reply(requests):
    """The Manager is driven from this thread: once the response (or both pipelined
    responses) has reached the client, nothing is pending and poll(300) waits."""
    mgr = mg.Manager(ok_handler)
    try:
        port = mgr.listen(f"http://{HOST}:0").local_addr[1]
        with connect(port) as s:
            s.sendall(req("/a") * requests)
            poll_until_received(mgr, s, OK_REPLY * requests)
            t = time.monotonic()
            mgr.poll(300)
            elapsed = time.monotonic() - t
            assert elapsed >= 0.25, f"poll(300) returned after {elapsed * 1000:.0f} ms, idle"
    finally:
        mgr.close()


# ======================================================================================
# 8. TLS and UDP schemes fail loudly
# ======================================================================================


@pytest.mark.parametrize("scheme", ["https", "wss"])
def test_tls_listener_without_tls_closes_accepted_connections(server, scheme):
    """Accepted children of a TLS listener without TLS options get ERROR("TLS not
    initialized") and close; a plaintext request is never answered nor dispatched."""
    rec = Recorder(hello_handler)
    srv = server(rec, url=f"{scheme}://{HOST}:0")
    assert srv.listener.is_tls is True
    with connect(srv.port) as s:
        s.sendall(req("/plaintext", headers={"Connection": "close"}))
        got = HttpReader(s).read_to_eof()
    assert got == b"", f"plaintext answer from a TLS listener: {got[:200]!r}"
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert errors_of(rec, cid) == ["TLS not initialized"]
    seq = rec.seq(cid)
    assert seq[-2:] == ["MG_EV_ERROR", "MG_EV_CLOSE"]
    assert "MG_EV_HTTP_HDRS" not in seq and "MG_EV_HTTP_MSG" not in seq


@pytest.mark.parametrize("scheme", ["https", "wss", "mqtts"])
def test_tls_client_without_tls_fails_and_sends_nothing(server, scheme):
    """A TLS-scheme client that never calls tls_init starts TLS after CONNECT with
    verification on (spec §3.6); against a plain server the handshake fails, and the
    request queued in its OPEN handler never reaches the server in plaintext."""
    srv_rec = Recorder(hello_handler)
    srv = server(srv_rec, expect_errors=True)

    def on_open(conn, ev, data):
        if ev == mg.MG_EV_OPEN:
            conn.send(req("/must-not-arrive"))
    rec = Recorder(on_open)
    errors: list = []
    mgr = mg.Manager(None, False, errors.append)
    try:
        mgr.connect(f"{scheme}://{HOST}:{srv.port}", rec)
        poll_until_seen(mgr, rec, (mg.MG_EV_CLOSE,))
        seq = rec.seq()
    finally:
        mgr.close()
    assert not errors, errors
    assert seq[:3] == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_CONNECT"], compact(seq)
    assert "MG_EV_TLS_HS" not in seq
    [err] = errors_of(rec)
    assert err.startswith("TLS handshake failed: "), err
    assert seq[-2:] == ["MG_EV_ERROR", "MG_EV_CLOSE"]
    # The listener accepts in order: once a later probe is answered, any connection the
    # client made has been accepted; what it sent was a TLS hello, never the request.
    assert get(srv.port, "/probe").body == b"hello"
    srv_rec.wait_for(lambda evs: len(srv_rec.of(mg.MG_EV_CLOSE)) >= len(srv_rec.children()),
                     what="every accepted connection closed")
    assert [e.data["uri"] for e in srv_rec.of(mg.MG_EV_HTTP_MSG)] == ["/probe"]


def socket_fds() -> set[int]:
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                fds.add(int(name))
        except OSError:
            pass
    return fds


def test_udp_listen_is_a_datagram_socket_never_a_stream():
    """udp:// used to become a TCP listener; then it raised until datagrams existed. Now it
    is one datagram socket: a TCP connect to its port is refused, and closing the manager
    leaves no socket behind."""
    before = socket_fds()
    with mg.Manager(None) as m:
        listener = m.listen("udp://127.0.0.1:0")
        assert listener.is_udp and listener.is_listening
        port = listener.local_addr[1]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert socket_fds() - before == set()


def test_udp_connect_is_a_datagram_socket_never_a_stream():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(2)
        before = socket_fds()
        with mg.Manager(None) as m:
            conn = m.connect(f"udp://127.0.0.1:{peer.getsockname()[1]}")
            assert conn.is_udp
            conn.send(b"one")
            conn.send(b"two")  # two sends, two datagrams: nothing is coalesced
            assert [peer.recvfrom(64)[0] for _ in range(2)] == [b"one", b"two"]
        assert socket_fds() - before == set()


# ======================================================================================
# 9. Request-target forms (RFC 9112 §3.2)
# ======================================================================================


def target_echo(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, json.dumps({"method": data.method, "uri": data.uri,
                                    "query": data.query}))


@pytest.mark.parametrize("target", [b"foo/bar", b"*", b"example.com:80", b"/caf\xc3\xa9",
                                    b"/\x80"],
                         ids=["no-slash", "asterisk-on-GET", "authority-on-GET",
                              "raw-utf8", "raw-0x80"])
def test_invalid_request_target_rejected(server, target):
    """400, MG_EV_ERROR, close; the handler never sees the request ("raw-0x80" is a
    control: invalid UTF-8 was already rejected)."""
    rec = Recorder(target_echo)
    srv = server(rec)
    with connect(srv.port) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        rd = HttpReader(s)
        r = rd.read_response()
        assert r.status == 400, (r.status, r.body)
        assert rd.wait_closed(3), "connection left open after the 400"
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    errs = errors_of(rec, cid)
    assert len(errs) == 1 and errs[0].startswith("HTTP parse error: "), errs
    assert not rec.of(mg.MG_EV_HTTP_MSG)
    assert_server_alive(srv.port)


@pytest.mark.parametrize("method,target,uri,query", [
    ("OPTIONS", "*", "*", ""),
    ("GET", "http://example.com/a?b=1", "http://example.com/a", "b=1"),
    ("CONNECT", "example.com:443", "example.com:443", ""),
    ("GET", "/caf%C3%A9", "/caf%C3%A9", ""),
], ids=["asterisk-OPTIONS", "absolute-form", "authority-CONNECT", "percent-encoded"])
def test_valid_request_target_accepted(server, method, target, uri, query):
    """(control) the forms RFC 9112 allows reach the handler unchanged."""
    rec = Recorder(target_echo)
    srv = server(rec)
    with connect(srv.port) as s:
        s.sendall(f"{method} {target} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode())
        r = HttpReader(s).read_response()
    assert r.status == 200, (r.status, r.body)
    assert json.loads(r.body) == {"method": method, "uri": uri, "query": query}
    assert not errors_of(rec)


# ======================================================================================
# 10. Found in review of the new engine: each of these broke the first version of it.
# ======================================================================================


def test_ws_upgrade_called_twice_in_one_handler_stays_safe(server):
    """A second ws_upgrade() of the same request (a program bug) must not free the driver
    that is still running below the handler; the connection then echoes normally."""
    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG and data.uri == "/ws":
            conn.ws_upgrade(data)
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "ok")
        elif ev == mg.MG_EV_WS_MSG:
            conn.ws_send(data.data, mg.WEBSOCKET_OP_BINARY)

    srv = server(handler)
    ws = RawWs(srv.port)
    ws.handshake()
    ws.send_frame(OP_BINARY, b"after two upgrades")
    # The second 101 (the program asked for it) arrives as bytes before the echo.
    rest = ws.reader.read_until(b"\r\n\r\n")
    assert rest.startswith(b"HTTP/1.1 101")
    assert ws.recv_non_control().payload == b"after two upgrades"
    assert_server_alive(srv.port)


def test_half_closed_peer_with_a_blocked_reply_costs_no_cpu(server):
    """The peer sends a request, shuts down its sending side (FIN) and reads the reply
    slowly: while the reply is blocked the server waits for writability only, instead of
    being woken by the ever-readable EOF; the whole reply arrives."""
    # More than the kernel buffers on both sides, less than send_high_water: the reply
    # blocks while reading stays on (not is_full), which is where the EOF kept firing.
    body = os.urandom(16 * MiB)

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, body)

    srv = server(handler, limits={"send_high_water": 64 * MiB})
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
    s.settimeout(SOCK_TIMEOUT)
    s.connect((HOST, srv.port))
    with s:
        s.sendall(req("/big", headers={"Connection": "close"}))
        s.shutdown(socket.SHUT_WR)
        share = poll_thread_cpu_share(srv)
        assert share < MAX_CPU_SHARE, f"half-closed peer, blocked reply: poll thread at {share:.0%} CPU"
        r = HttpReader(s).read_response()
        assert r.status == 200 and digest(r.body) == digest(body)


def test_reply_from_the_read_handler_lets_pipelined_requests_through(server):
    """HTTP_MSG defers, MG_EV_READ (same iteration, same connection) answers: the second
    pipelined request, already buffered, must be parsed and answered without new input."""
    pending = {}

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            pending[conn.id] = data.uri
        elif ev == mg.MG_EV_READ and conn.id in pending:
            conn.reply(200, pending.pop(conn.id))

    srv = server(handler)
    with connect(srv.port) as s:
        s.sendall(req("/one") + req("/two"))
        reader = HttpReader(s)
        assert reader.read_response().body == b"/one"
        # /two was parsed after /one completed; its READ came with the same segment, so
        # answer it from the loop thread once it is pending.
        wait_until(lambda: srv.call(lambda: bool(pending)), what="/two parsed without new input")
        srv.call(lambda: [c.reply(200, pending.pop(c.id)) for c in srv.mgr.connections if c.id in pending])
        assert reader.read_response().body == b"/two"


def test_drain_on_a_listener_closes_it(server):
    """Connection.drain() on a listener closes it once its (empty) output is flushed, as
    close() does, and the port stops accepting."""
    rec = Recorder(hello_handler)
    srv = server(rec)
    lst = srv.listener
    srv.call(lst.drain)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=lst.id)
    with pytest.raises(OSError):
        connect(srv.port, timeout=1.0).close()
