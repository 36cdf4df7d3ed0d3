# SPDX-License-Identifier: MIT
"""WebSocket (spec §3.2 ws_upgrade/ws_send, §3.4 WsMessage, §5.6, §6.7, §8.1) against real peers.

Server side: the ``websockets`` and ``websocket-client`` packages as clients, and raw
sockets for exact handshake bytes and every protocol violation of §6.7.3.
Client side: ``Manager.ws_connect`` against our own server, a ``websockets`` server and
raw-socket servers (masking, handshake failures).
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from mgtest_helpers import HOST, HttpReader, Recorder, connect, mg, req
from ws_helpers import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWs,
                        accept_for, close_payload, frame, poll_until, read_frame,
                        upgrade_request)

pytestmark = pytest.mark.timeout(10)

websockets = pytest.importorskip("websockets", reason="pip install websockets "
                                 "(benchmarks/requirements.txt)")
from websockets.sync.client import connect as ws_sync_connect  # noqa: E402
from websockets.sync.server import serve as ws_sync_serve  # noqa: E402

KEY = "dGhlIHNhbXBsZSBub25jZQ=="          # RFC 6455 §1.3 example
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


class WsRecorder(Recorder):
    """Recorder that snapshots WsMessage views (data, text, flags, opcode)."""

    def __call__(self, conn, ev, data):
        if isinstance(data, mg.WsMessage):
            snap = {"data": data.data, "text": data.text, "flags": data.flags,
                    "opcode": data.opcode, "bool": bool(data)}
            if ev not in self.skip:
                with self.cond:
                    from mgtest_helpers import Ev
                    self.events.append(Ev(conn, conn.id, ev, snap, threading.current_thread().name))
                    self.cond.notify_all()
            if self.inner is not None:
                self.inner(conn, ev, data)
            return
        super().__call__(conn, ev, data)


def echo(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.ws_upgrade(data)
    elif ev == mg.MG_EV_WS_MSG:
        conn.ws_send(data.data, data.opcode)


@pytest.fixture
def ws_server(server):
    """``ws_server(handler=echo, **server_opts) -> (Server, WsRecorder)``"""
    def make(inner=echo, **kw):
        rec = WsRecorder(inner)
        return server(rec, **kw), rec
    return make


def error_texts(rec: Recorder) -> list[str]:
    return [e.data for e in rec.of(mg.MG_EV_ERROR)]


def only_child(rec: Recorder) -> int:
    kids = rec.children()
    assert len(kids) == 1, kids
    return kids[0]


# ======================================================================================
# Handshake (§6.7.1)
# ======================================================================================


def test_101_exact_bytes(ws_server):
    srv, rec = ws_server()
    with RawWs(srv.port) as ws:
        r = ws.handshake(key=KEY)
    assert r.head == (b"HTTP/1.1 101 Switching Protocols\r\n"
                      b"Upgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n\r\n")


@pytest.mark.parametrize("key", ["x3JJHMbDL1EzLkh9GBhXDw==", "AQIDBAUGBwgJCgsMDQ4PEA==",
                                 "not-even-base64"])
def test_accept_is_sha1_of_key_as_sent(ws_server, key):
    srv, _ = ws_server()
    with RawWs(srv.port) as ws:
        r = ws.handshake(key=key)
    assert r.header("Sec-WebSocket-Accept") == accept_for(key)


def test_first_offered_subprotocol_and_extra_headers_in_order(ws_server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data, {"X-One": "1", "X-Pct": "100%s%d%%"})
    srv, _ = ws_server(h)
    with RawWs(srv.port) as ws:
        r = ws.handshake(key=KEY, extra=[("Sec-WebSocket-Protocol", "chat, superchat")])
    assert r.head == (b"HTTP/1.1 101 Switching Protocols\r\n"
                      b"Upgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n"
                      b"X-One: 1\r\n"
                      b"X-Pct: 100%s%d%%\r\n"
                      b"Sec-WebSocket-Protocol: chat\r\n\r\n")


def test_app_chosen_subprotocol_wins(ws_server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data, {"Sec-WebSocket-Protocol": "superchat"})
    srv, _ = ws_server(h)
    with RawWs(srv.port) as ws:
        r = ws.handshake(extra=[("Sec-WebSocket-Protocol", "chat, superchat")])
    assert r.header_all("Sec-WebSocket-Protocol") == ["superchat"]


def test_no_subprotocol_header_when_none_offered(ws_server):
    srv, _ = ws_server()
    with RawWs(srv.port) as ws:
        r = ws.handshake()
    assert r.header("Sec-WebSocket-Protocol") is None


def test_426_without_key_then_close_and_no_ws_open(ws_server):
    srv, rec = ws_server()
    raw = req("/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    with connect(srv.port) as s:
        s.sendall(raw)
        r = HttpReader(s).read_response()
        assert HttpReader(s).wait_closed(3)
    assert r.head == (b"HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: 20\r\n\r\n")
    assert r.body == b"WS upgrade expected\n"
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert not rec.of(mg.MG_EV_WS_OPEN)


def test_ws_upgrade_bad_extra_header_raises_and_leaves_connection_usable(ws_server):
    seen = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            try:
                conn.ws_upgrade(data, {"X-Bad": "a\r\nInjected: 1"})
            except ValueError as e:
                seen.append(str(e))
                conn.reply(400, "no")
    srv, rec = ws_server(h)
    with connect(srv.port) as s:
        s.sendall(upgrade_request())
        r = HttpReader(s).read_response()
    assert r.status == 400 and r.body == b"no"
    assert seen and not rec.of(mg.MG_EV_WS_OPEN)


def test_ws_upgrade_on_invalidated_view_raises(ws_server):
    saved, seen = [], []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            saved.append(data)
        elif ev == mg.MG_EV_HTTP_MSG:
            try:
                conn.ws_upgrade(saved[0])
            except ValueError as e:
                seen.append(str(e))
            conn.ws_upgrade(data)
    srv, rec = ws_server(h)
    with RawWs(srv.port) as ws:
        ws.handshake()
    assert seen == ["HttpMessage is not valid for this event"]


# ======================================================================================
# Event order (§5.6) and WsMessage (§3.4)
# ======================================================================================


def test_event_order_ws_open_sync_inside_ws_upgrade(ws_server):
    trace = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            trace.append("before")
            conn.ws_upgrade(data)
            trace.append(("after", conn.is_websocket))
        elif ev == mg.MG_EV_WS_OPEN:
            trace.append(("ws_open", data.method, data.uri, data.header("Sec-WebSocket-Key"),
                          conn.is_websocket))
            conn.ws_send("first")  # must follow the 101 on the wire
        elif ev == mg.MG_EV_WS_MSG:
            conn.ws_send(data.data, data.opcode)
    srv, rec = ws_server(h)
    with RawWs(srv.port) as ws:
        ws.sock.sendall(upgrade_request("/chat?x=1"))
        head = ws.reader.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        f = ws.recv()
        assert (f.op, f.payload, f.fin, f.masked) == (OP_TEXT, b"first", True, False)
        ws.send_frame(OP_TEXT, b"hi")
        assert ws.recv().payload == b"hi"
        cid = only_child(rec)
        rec.wait_ev(mg.MG_EV_WS_MSG, conn_id=cid)
        rec.wait_ev(mg.MG_EV_READ, count=2, conn_id=cid)
    assert trace == ["before", ("ws_open", "GET", "/chat", KEY, True), ("after", True)]
    seq = rec.seq(cid)
    i = seq.index("MG_EV_HTTP_MSG")
    assert seq[i:i + 3] == ["MG_EV_HTTP_MSG", "MG_EV_WS_OPEN", "MG_EV_READ"], seq
    j = seq.index("MG_EV_WS_MSG")
    assert seq[j + 1] == "MG_EV_READ", seq


def test_wsmessage_fields_and_invalid_after_handler(ws_server):
    kept = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_MSG:
            kept.append(data)
            assert bool(data)
    srv, rec = ws_server(h)
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_TEXT, "héllo".encode())
        ws.send_frame(OP_BINARY, b"\x00\xffbin")
        rec.wait_ev(mg.MG_EV_WS_MSG, count=2)
    msgs = [e.data for e in rec.of(mg.MG_EV_WS_MSG)]
    assert msgs[0] == {"data": "héllo".encode(), "text": "héllo", "flags": 129, "opcode": 1,
                       "bool": True}
    assert msgs[1]["data"] == b"\x00\xffbin" and msgs[1]["flags"] == 130
    assert msgs[1]["opcode"] == mg.WEBSOCKET_OP_BINARY
    assert msgs[1]["text"] == b"\x00\xffbin".decode("utf-8", "surrogateescape")
    for m in kept:  # views are dead once the handler returned
        assert (m.data, m.text, m.flags, m.opcode, bool(m)) == (b"", "", 0, 0, False)
    u = mg.WsMessage.__new__(mg.WsMessage)
    assert (u.data, u.flags, bool(u)) == (b"", 0, False)


def test_ping_answered_with_pong_then_ws_ctl(ws_server):
    srv, rec = ws_server()
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_PING, b"are you there")
        f = ws.recv()
        assert (f.op, f.payload, f.masked, f.fin) == (OP_PONG, b"are you there", False, True)
        ws.send_frame(OP_PONG, b"unsolicited")  # → WS_CTL only, no answer
        ws.send_frame(OP_TEXT, b"after")
        assert ws.recv().payload == b"after"
        cid = only_child(rec)
        rec.wait_ev(mg.MG_EV_WS_MSG, conn_id=cid)
    seq = [s for s in rec.seq(cid) if s not in ("MG_EV_WRITE",)]
    i = seq.index("MG_EV_WS_OPEN")
    assert seq[i + 1:] [:1] == ["MG_EV_READ"]
    assert seq.count("MG_EV_WS_CTL") == 2, seq
    assert not error_texts(rec)


def test_fragmented_message_reassembled_with_ctl_per_continuation(ws_server):
    srv, rec = ws_server()
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send(frame(OP_TEXT, b"Hel", fin=False) + frame(OP_CONT, b"lo ", fin=False))
        ws.send_frame(OP_PING, b"p")                         # interleaved control frame
        assert ws.recv().op == OP_PONG
        ws.send(frame(OP_CONT, b"world", fin=True))
        f = ws.recv()
        assert (f.op, f.payload, f.fin) == (OP_TEXT, b"Hello world", True)
        # binary fragmented, one byte per frame
        data = bytes(range(10))
        ws.send(frame(OP_BINARY, data[:1], fin=False)
                + b"".join(frame(OP_CONT, data[i:i + 1], fin=(i == 9)) for i in range(1, 10)))
        f = ws.recv()
        assert (f.op, f.payload) == (OP_BINARY, data)
        cid = only_child(rec)
        rec.wait_ev(mg.MG_EV_WS_MSG, count=2, conn_id=cid)
    msgs = [e.data for e in rec.of(mg.MG_EV_WS_MSG)]
    assert [(m["data"], m["flags"]) for m in msgs] == [(b"Hello world", 129), (data, 130)]
    # 2 continuations + 1 ping for the first message, 9 continuations for the second
    assert len(rec.of(mg.MG_EV_WS_CTL, cid)) == 12
    seq = rec.seq(cid)
    first_msg = seq.index("MG_EV_WS_MSG")
    assert seq[first_msg - 1] == "MG_EV_WS_CTL"  # the final continuation's CTL precedes WS_MSG


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 300_000])
def test_length_encodings_both_directions(ws_server, size):
    srv, _ = ws_server()
    payload = bytes((i * 7) & 0xFF for i in range(size))
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_BINARY, payload)
        f = ws.recv()
    assert f.payload == payload and not f.masked
    expect_code = size if size < 126 else (126 if size <= 0xFFFF else 127)
    assert f.raw_len_field == expect_code


def test_ws_send_opcode_range_and_closed_connection(ws_server):
    errors, box = [], {}

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_MSG:
            for op in (-1, 16, 255):
                try:
                    conn.ws_send(b"x", op)
                except (ValueError, OverflowError) as e:
                    errors.append(type(e).__name__)
            conn.ws_send("done")
            box["conn"] = conn
    srv, rec = ws_server(h)
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_TEXT, b"go")
        assert ws.recv().payload == b"done"
    assert errors[:2] == ["ValueError", "ValueError"] and len(errors) == 3
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=box["conn"].id)
    with pytest.raises(RuntimeError, match="Connection has been closed"):
        box["conn"].ws_send("late")


# ======================================================================================
# Close handshake (§6.7.3, §8.1 ws_close_timeout)
# ======================================================================================


def test_peer_close_is_echoed_with_its_code_then_closed(ws_server):
    srv, rec = ws_server()
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_CLOSE, close_payload(1001, b"going away"))
        f = ws.expect_close()
    assert f.close_code == 1001 and not f.masked
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    seq = rec.seq(cid)
    assert "MG_EV_WS_CTL" in seq and seq[-1] == "MG_EV_CLOSE"
    assert seq.index("MG_EV_WS_CTL") < seq.index("MG_EV_CLOSE")
    assert not error_texts(rec)


def test_empty_close_from_peer_gets_close_frame(ws_server):
    srv, _ = ws_server()
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_CLOSE, b"")
        f = ws.expect_close()
    assert f.op == OP_CLOSE and len(f.payload) in (0, 2)


def test_our_close_then_peer_close_not_echoed_again(ws_server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_MSG:
            conn.ws_send(close_payload(4000, b"bye"), 8)
    srv, rec = ws_server(h, limits={"ws_close_timeout": 4.0})
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_TEXT, b"please close")
        f = ws.recv()
        assert (f.op, f.close_code, f.payload[2:]) == (OP_CLOSE, 4000, b"bye")
        t0 = time.monotonic()
        ws.send_frame(OP_CLOSE, close_payload(4000))
        # Nothing more than EOF: no second close frame (D27), and closed promptly.
        assert ws.reader.wait_closed(3)
        assert ws.reader.buf == b"", ws.reader.buf
        assert time.monotonic() - t0 < 2.0
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=only_child(rec))


def test_ws_close_timeout_when_peer_never_answers(ws_server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_MSG:
            conn.ws_send(close_payload(1000), 8)
    srv, rec = ws_server(h, limits={"ws_close_timeout": 0.3})
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_TEXT, b"x")
        assert ws.recv().close_code == 1000
        t0 = time.monotonic()
        assert ws.reader.wait_closed(3), "not closed after ws_close_timeout"
        dt = time.monotonic() - t0
    assert 0.2 <= dt < 2.0, dt
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=only_child(rec))


def test_data_after_our_close_is_not_delivered(ws_server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_MSG and data.data == b"close":
            conn.ws_send(close_payload(1000), 8)
    srv, rec = ws_server(h, limits={"ws_close_timeout": 2.0})
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_TEXT, b"close")
        assert ws.recv().op == OP_CLOSE
        ws.send_frame(OP_CLOSE, close_payload(1000))
        assert ws.reader.wait_closed(3)
    msgs = [e.data["data"] for e in rec.of(mg.MG_EV_WS_MSG)]
    assert msgs == [b"close"]


# ======================================================================================
# Protocol violations (§6.7.3, D27) and limits (§8.1)
# ======================================================================================


VIOLATIONS = {
    "unmasked": frame(OP_TEXT, b"hello", mask=False),
    "rsv1": frame(OP_TEXT, b"hello", rsv=4),
    "rsv2": frame(OP_BINARY, b"hello", rsv=2),
    "rsv3": frame(OP_TEXT, b"hello", rsv=1),
    "long-ping": frame(OP_PING, b"p" * 126),
    "long-close": frame(OP_CLOSE, close_payload(1000, b"r" * 124)),
    "fragmented-ping": frame(OP_PING, b"p", fin=False),
    "fragmented-close": frame(OP_CLOSE, close_payload(1000), fin=False),
    "cont-without-start": frame(OP_CONT, b"orphan"),
    "data-inside-fragmented": frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b"),
    "binary-inside-fragmented": frame(OP_BINARY, b"a", fin=False) + frame(OP_BINARY, b"b"),
}


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_protocol_violation_closes_1002(ws_server, name):
    srv, rec = ws_server(expect_errors=True)
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send(VIOLATIONS[name])
        f = ws.expect_close()
    assert f.close_code == 1002, (name, f)
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    errs = [e.data for e in rec.of(mg.MG_EV_ERROR, cid)]
    assert len(errs) == 1 and errs[0].startswith("WS protocol error: "), errs
    assert not rec.of(mg.MG_EV_WS_MSG, cid)
    seq = rec.seq(cid)
    assert seq.index("MG_EV_ERROR") < seq.index("MG_EV_CLOSE") == len(seq) - 1


@pytest.mark.parametrize("fragmented", [False, True])
def test_invalid_utf8_text_closes_1007(ws_server, fragmented):
    srv, rec = ws_server()
    bad = b"ok \xc3\x28 bad"
    with RawWs(srv.port) as ws:
        ws.handshake()
        if fragmented:  # split inside a valid 2-byte sequence first, then the invalid one
            ws.send(frame(OP_TEXT, "é".encode()[:1], fin=False)
                    + frame(OP_CONT, "é".encode()[1:] + bad))
        else:
            ws.send_frame(OP_TEXT, bad)
        f = ws.expect_close()
    assert f.close_code == 1007
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert len(rec.of(mg.MG_EV_ERROR, cid)) == 1
    assert not rec.of(mg.MG_EV_WS_MSG, cid)


def test_text_split_inside_a_utf8_sequence_is_valid(ws_server):
    srv, rec = ws_server()
    s = "日本語".encode()
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send(frame(OP_TEXT, s[:1], fin=False) + frame(OP_CONT, s[1:4], fin=False)
                + frame(OP_CONT, s[4:]))
        f = ws.recv()
    assert f.payload == s and f.op == OP_TEXT


def test_binary_with_invalid_utf8_is_fine(ws_server):
    srv, _ = ws_server()
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_BINARY, b"\xc3\x28\xff")
        assert ws.recv().payload == b"\xc3\x28\xff"


LIMIT = 1000


@pytest.mark.parametrize("case", ["single", "declared-1GiB", "declared-2^63", "fragmented"])
def test_message_above_max_ws_message_closes_1009(ws_server, case):
    srv, rec = ws_server(limits={"max_ws_message": LIMIT}, expect_errors=True)
    with RawWs(srv.port) as ws:
        ws.handshake()
        if case == "single":
            ws.send_frame(OP_BINARY, b"x" * (LIMIT + 1))
        elif case == "declared-1GiB":
            ws.send(frame(OP_BINARY, b"", declared_len=1 << 30))
            ws.send(b"y" * 100)  # some payload, far from the declared length
        elif case == "declared-2^63":
            ws.send(bytes([0x82, 0xFF]) + struct.pack("!Q", (1 << 63) - 1) + b"\x01\x02\x03\x04")
        else:
            ws.send(frame(OP_TEXT, b"a" * 600, fin=False) + frame(OP_CONT, b"b" * 401))
        f = ws.expect_close()
    assert f.close_code == 1009
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert [e.data for e in rec.of(mg.MG_EV_ERROR, cid)] == ["MG_MAX_RECV_SIZE"]
    assert not rec.of(mg.MG_EV_WS_MSG, cid)


def test_message_exactly_at_max_ws_message_is_accepted(ws_server):
    srv, rec = ws_server(limits={"max_ws_message": LIMIT})
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_BINARY, b"x" * LIMIT)
        assert ws.recv().payload == b"x" * LIMIT
        ws.send(frame(OP_TEXT, b"a" * 500, fin=False) + frame(OP_CONT, b"b" * 500))
        assert ws.recv().payload == b"a" * 500 + b"b" * 500
    assert not error_texts(rec)


@pytest.mark.parametrize("op", [3, 4, 7, 11, 15])
def test_unknown_opcode_error_and_close(ws_server, op):
    srv, rec = ws_server(expect_errors=True)
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(op, b"??")
        ws.closed_within(3)
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert [e.data for e in rec.of(mg.MG_EV_ERROR, cid)] == [f"unknown WS op {op}"]


def test_random_bytes_after_upgrade_do_not_hurt_the_server(ws_server):
    import random

    rnd = random.Random(1234)
    srv, rec = ws_server(expect_errors=True)
    for _ in range(8):
        with RawWs(srv.port) as ws:
            ws.handshake()
            ws.send(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4096))))
            ws.sock.shutdown(socket.SHUT_WR)
            ws.closed_within(3)
    # the server still works, for HTTP and WebSocket
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_TEXT, b"still alive")
        assert ws.recv().payload == b"still alive"
    rec.wait_ev(mg.MG_EV_CLOSE, count=8)


def test_client_mask_key_zero_still_counts_as_masked(ws_server):
    srv, _ = ws_server()
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_TEXT, b"zero key", mask_key=b"\x00\x00\x00\x00")
        assert ws.recv().payload == b"zero key"


def test_frames_split_byte_by_byte(ws_server):
    srv, _ = ws_server()
    data = frame(OP_TEXT, b"slow" * 40) + frame(OP_PING, b"pp")
    with RawWs(srv.port) as ws:
        ws.handshake()
        for b in data:
            ws.send(bytes([b]))
        assert ws.recv().payload == b"slow" * 40
        assert ws.recv().op == OP_PONG


def test_upgrade_request_and_first_frame_in_one_segment(ws_server):
    srv, _ = ws_server()
    with RawWs(srv.port) as ws:
        ws.send(upgrade_request() + frame(OP_TEXT, b"eager"))
        head = ws.reader.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert ws.recv().payload == b"eager"


# ======================================================================================
# Third-party clients: websockets, websocket-client
# ======================================================================================


def test_websockets_client_echo_and_subprotocol(ws_server):
    srv, rec = ws_server()
    big = "x" * 200_000
    with ws_sync_connect(f"ws://{HOST}:{srv.port}/echo", subprotocols=["chat", "v2"],
                         open_timeout=3, close_timeout=3) as ws:
        assert ws.subprotocol == "chat"
        ws.send("hello")
        assert ws.recv(timeout=3) == "hello"
        ws.send(b"\x00\x01\x02")
        assert ws.recv(timeout=3) == b"\x00\x01\x02"
        ws.send(big)
        assert ws.recv(timeout=3) == big
        ws.send(["frag", "mented", " text"])  # websockets sends a fragmented message
        assert ws.recv(timeout=3) == "fragmented text"
        ws.ping(b"abc").wait(3)
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert not error_texts(rec)
    assert [e.data["flags"] for e in rec.of(mg.MG_EV_WS_MSG)] == [129, 130, 129, 129]


def test_websockets_client_sees_server_initiated_close(ws_server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_MSG:
            conn.ws_send(close_payload(4001, b"done"), 8)
    srv, rec = ws_server(h)
    from websockets.exceptions import ConnectionClosed
    with ws_sync_connect(f"ws://{HOST}:{srv.port}/", open_timeout=3, close_timeout=3) as ws:
        ws.send("bye?")
        with pytest.raises(ConnectionClosed) as ei:
            ws.recv(timeout=3)
    assert ei.value.rcvd.code == 4001 and ei.value.rcvd.reason == "done"
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=only_child(rec))


def test_websocket_client_package_echo(ws_server):
    wsc = pytest.importorskip("websocket", reason="pip install websocket-client")
    srv, _ = ws_server()
    ws = wsc.create_connection(f"ws://{HOST}:{srv.port}/", timeout=3)
    try:
        ws.send("text message")
        assert ws.recv() == "text message"
        ws.send_binary(b"\xde\xad\xbe\xef")
        assert ws.recv() == b"\xde\xad\xbe\xef"
        ws.ping("pp")
        op, payload = ws.recv_data_frame(control_frame=True)[0], None
        assert op == wsc.ABNF.OPCODE_PONG
    finally:
        ws.close()


def test_many_concurrent_websockets_clients(ws_server):
    import contextlib

    srv, rec = ws_server()
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(ws_sync_connect(f"ws://{HOST}:{srv.port}/", open_timeout=3,
                                                     close_timeout=3)) for _ in range(20)]
        for i, c in enumerate(conns):
            c.send(f"m{i}")
        for i, c in enumerate(conns):
            assert c.recv(timeout=3) == f"m{i}"
    rec.wait_ev(mg.MG_EV_CLOSE, count=20)


def test_http_timeouts_do_not_apply_after_upgrade(ws_server):
    srv, rec = ws_server(limits={"keepalive_timeout": 0.2, "header_timeout": 0.2,
                                 "body_timeout": 0.2})
    with RawWs(srv.port) as ws:
        ws.handshake()
        assert ws.reader.nothing_within(0.6), "upgraded connection was closed by an HTTP timeout"
        ws.send_frame(OP_TEXT, b"still here")
        assert ws.recv().payload == b"still here"
    assert not error_texts(rec)


def test_ws_send_from_another_thread_is_flushed_promptly(ws_server):
    box = {}
    opened = threading.Event()

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_OPEN:
            box["conn"] = conn
            opened.set()
    srv, _ = ws_server(h, poll_ms=1000)  # a long poll: only the internal wake flushes
    with RawWs(srv.port) as ws:
        ws.handshake()
        assert opened.wait(3)
        t0 = time.monotonic()
        box["conn"].ws_send("from the test thread")
        f = ws.recv()
        assert f.payload == b"from the test thread"
        assert time.monotonic() - t0 < 0.5


def test_close_inside_ws_open_handler(ws_server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_OPEN:
            conn.close()
    srv, rec = ws_server(h)
    with connect(srv.port) as s:
        s.sendall(upgrade_request())
        HttpReader(s).wait_closed(3)
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    seq = rec.seq(cid)
    assert seq.count("MG_EV_CLOSE") == 1 and seq[-1] == "MG_EV_CLOSE"


# ======================================================================================
# Client side: Manager.ws_connect
# ======================================================================================


class Client:
    """A Manager polled on the test thread, with a recording client handler."""

    def __init__(self, on_open=None, **limits):
        self.rec = WsRecorder(self._inner)
        self.on_open = on_open
        self.mgr = mg.Manager(None, False, self._err, **({"limits": limits} if limits else {}))
        self.errors: list[BaseException] = []

    def _err(self, exc):
        self.errors.append(exc)

    def _inner(self, conn, ev, data):
        if ev == mg.MG_EV_WS_OPEN and self.on_open:
            self.on_open(conn, data)

    def connect(self, url: str):
        return self.mgr.ws_connect(url, self.rec)

    def run_until(self, pred, timeout=3.0, what="condition"):
        return poll_until(self.mgr, pred, timeout, what=what)

    def wait_ev(self, ev, count=1, timeout=3.0):
        return self.run_until(lambda: len(self.rec.of(ev)) >= count, timeout,
                              what=f"{count}x {mg.event_name(ev)}; seq={self.rec.seq()}")

    def close(self):
        self.mgr.close()
        assert not self.errors, self.errors


@pytest.fixture
def client():
    made = []

    def make(**kw):
        c = Client(**kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def test_ws_connect_echo_against_own_server_and_event_order(client):
    cl = client(on_open=lambda c, d: (c.ws_send("hello"), c.ws_send(b"\x01\x02", 2)))
    lst = cl.mgr.listen(f"http://{HOST}:0", echo)
    port = lst.local_addr[1]
    conn = cl.connect(f"ws://{HOST}:{port}/path?q=1")
    assert conn.is_client
    cl.wait_ev(mg.MG_EV_WS_MSG, 2)
    seq = cl.rec.seq(conn.id)
    assert seq[:5] == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_CONNECT", "MG_EV_WRITE",
                       "MG_EV_WS_OPEN"], seq
    assert conn.is_websocket
    ws_open = cl.rec.of(mg.MG_EV_WS_OPEN)[0].data
    assert (ws_open["method"], ws_open["uri"], ws_open["proto"]) == \
        ("HTTP/1.1", "101", "Switching Protocols")
    msgs = [e.data for e in cl.rec.of(mg.MG_EV_WS_MSG)]
    assert [(m["data"], m["flags"]) for m in msgs] == [(b"hello", 129), (b"\x01\x02", 130)]


def test_ws_connect_against_websockets_server(client):
    got = []

    def handler(ws):
        for msg in ws:
            got.append(msg)
            ws.send(msg)

    with ws_sync_serve(handler, HOST, 0) as server:
        port = server.socket.getsockname()[1]
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        try:
            big = b"B" * 100_000

            def on_open(c, d):
                c.ws_send("héllo")
                c.ws_send(big, mg.WEBSOCKET_OP_BINARY)
                c.ws_send(b"", mg.WEBSOCKET_OP_TEXT)
            cl = client(on_open=on_open)
            conn = cl.connect(f"ws://{HOST}:{port}/")
            cl.wait_ev(mg.MG_EV_WS_MSG, 3)
            msgs = [e.data for e in cl.rec.of(mg.MG_EV_WS_MSG)]
            assert [m["data"] for m in msgs] == ["héllo".encode(), big, b""]
            assert [m["flags"] for m in msgs] == [129, 130, 129]
            assert got == ["héllo", big, ""]
            # close from our side: websockets answers; the connection ends
            conn.ws_send(close_payload(1000), 8)
            cl.wait_ev(mg.MG_EV_CLOSE)
            assert not cl.rec.of(mg.MG_EV_ERROR)
        finally:
            server.shutdown()
            t.join(3)


def test_ws_connect_ping_from_websockets_server_is_ponged(client):
    pong = threading.Event()

    def handler(ws):
        ws.ping(b"srv").wait(3)
        pong.set()
        ws.send("after ping")
        for _ in ws:
            pass

    with ws_sync_serve(handler, HOST, 0) as server:
        port = server.socket.getsockname()[1]
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        try:
            cl = client()
            conn = cl.connect(f"ws://{HOST}:{port}/")
            cl.wait_ev(mg.MG_EV_WS_MSG)
            assert pong.is_set()
            assert cl.rec.of(mg.MG_EV_WS_CTL)
            conn.ws_send(close_payload(1000), 8)
            cl.wait_ev(mg.MG_EV_CLOSE)
        finally:
            server.shutdown()
            t.join(3)


class RawServer:
    """One-connection raw TCP server on a thread; ``script(sock)`` talks to the client."""

    def __init__(self, script):
        self.lsock = socket.socket()
        self.lsock.bind((HOST, 0))
        self.lsock.listen(4)
        self.lsock.settimeout(4)
        self.port = self.lsock.getsockname()[1]
        self.script = script
        self.result = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            s, _ = self.lsock.accept()
            s.settimeout(4)
            with s:
                self.result = self.script(s)
        except BaseException as e:  # reported by join()
            self.error = e

    def join(self):
        self.thread.join(5)
        self.lsock.close()
        assert not self.thread.is_alive(), "raw server thread hung"
        if self.error:
            raise self.error
        return self.result


def read_request(s: socket.socket) -> tuple[bytes, HttpReader]:
    r = HttpReader(s)
    head = r.read_until(b"\r\n\r\n")
    return head, r


def test_ws_connect_handshake_request_and_client_masking(client):
    def script(s):
        head, r = read_request(s)
        lines = head.decode().split("\r\n")
        hdrs = dict(line.split(": ", 1) for line in lines[1:] if line)
        key = hdrs["Sec-WebSocket-Key"]
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                  + accept_for(key).encode() + b"\r\n\r\n")
        frames = [read_frame(r) for _ in range(4)]
        s.sendall(frame(OP_TEXT, b"server says hi", mask=False))
        s.sendall(frame(OP_CLOSE, close_payload(1000), mask=False))
        closing = read_frame(r)
        return lines, hdrs, frames, closing

    srv = RawServer(script)
    payload = bytes(range(256)) * 4

    def on_open(c, d):
        c.ws_send("text")
        c.ws_send(payload, mg.WEBSOCKET_OP_BINARY)
        c.ws_send(payload, mg.WEBSOCKET_OP_BINARY)
        c.ws_send(b"", mg.WEBSOCKET_OP_PING)
    cl = client(on_open=on_open)
    cl.connect(f"ws://{HOST}:{srv.port}/some/path?x=y")
    cl.wait_ev(mg.MG_EV_CLOSE)
    lines, hdrs, frames, closing = srv.join()
    assert lines[0] == "GET /some/path?x=y HTTP/1.1"
    assert hdrs["Upgrade"] == "websocket" and hdrs["Connection"] == "Upgrade"
    assert hdrs["Host"] == f"{HOST}:{srv.port}"
    assert hdrs["Sec-WebSocket-Version"] == "13"
    import base64
    assert len(base64.b64decode(hdrs["Sec-WebSocket-Key"], validate=True)) == 16
    assert [ln.split(":")[0] for ln in lines[1:] if ln] == \
        ["Upgrade", "Host", "Connection", "Sec-WebSocket-Version", "Sec-WebSocket-Key"]
    assert all(f.masked for f in frames)
    assert [(f.op, f.payload) for f in frames] == [(OP_TEXT, b"text"), (OP_BINARY, payload),
                                                   (OP_BINARY, payload), (OP_PING, b"")]
    assert frames[1].mask_key != frames[2].mask_key  # fresh key per frame
    assert closing.op == OP_CLOSE and closing.masked and closing.close_code == 1000
    assert [e.data["data"] for e in cl.rec.of(mg.MG_EV_WS_MSG)] == [b"server says hi"]


def test_ws_connect_key_is_random_per_connection(client):
    keys = []

    def script(s):
        head, _ = read_request(s)
        keys.append([ln for ln in head.decode().split("\r\n")
                     if ln.startswith("Sec-WebSocket-Key")][0])
        s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    cl = client()
    for _ in range(2):
        srv = RawServer(script)
        cl.connect(f"ws://{HOST}:{srv.port}/")
        cl.run_until(lambda: not srv.thread.is_alive(), what="raw server done")
        srv.join()
    assert len(set(keys)) == 2


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
], ids=["200", "wrong-accept", "no-accept", "404"])
def test_ws_connect_handshake_failure(client, answer):
    def script(s):
        read_request(s)
        s.sendall(answer)
        HttpReader(s).wait_closed(3)

    srv = RawServer(script)
    cl = client()
    conn = cl.connect(f"ws://{HOST}:{srv.port}/")
    cl.wait_ev(mg.MG_EV_CLOSE)
    srv.join()
    seq = cl.rec.seq(conn.id)
    assert "MG_EV_WS_OPEN" not in seq
    assert [e.data for e in cl.rec.of(mg.MG_EV_ERROR)] == ["ws handshake error"]
    assert seq.index("MG_EV_ERROR") < seq.index("MG_EV_CLOSE") == len(seq) - 1


def test_ws_connect_masked_server_frame_is_a_protocol_error(client):
    def script(s):
        head, r = read_request(s)
        key = [ln.split(": ")[1] for ln in head.decode().split("\r\n")
               if ln.startswith("Sec-WebSocket-Key")][0]
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                  + accept_for(key).encode() + b"\r\n\r\n")
        s.sendall(frame(OP_TEXT, b"masked by server", mask=True))
        f = read_frame(r)
        return f

    srv = RawServer(script)
    cl = client()
    cl.connect(f"ws://{HOST}:{srv.port}/")
    cl.wait_ev(mg.MG_EV_CLOSE)
    f = srv.join()
    assert f.op == OP_CLOSE and f.close_code == 1002 and f.masked
    errs = [e.data for e in cl.rec.of(mg.MG_EV_ERROR)]
    assert len(errs) == 1 and errs[0].startswith("WS protocol error: ")
    assert not cl.rec.of(mg.MG_EV_WS_MSG)


def test_ws_connect_refused_port(client):
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    cl = client()
    conn = cl.connect(f"ws://{HOST}:{port}/")
    cl.wait_ev(mg.MG_EV_CLOSE)
    seq = cl.rec.seq(conn.id)
    assert [e.data for e in cl.rec.of(mg.MG_EV_ERROR)] == ["socket error"]
    assert "MG_EV_CONNECT" not in seq and seq[-1] == "MG_EV_CLOSE"


def test_ws_connect_bad_url_raises(client):
    cl = client()
    with pytest.raises(RuntimeError, match="Failed to create WebSocket connection to ''"):
        cl.mgr.ws_connect("")


# ======================================================================================
# Close-frame payload rules (RFC 6455 §5.5.1, §7.4) and control frames near the limit
# ======================================================================================


def test_close_with_one_byte_payload_is_a_protocol_error(ws_server):
    """A close body must start with a 2-byte status code; a 1-byte body is malformed and
    must not be echoed back as another malformed close frame."""
    srv, rec = ws_server(expect_errors=True)
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_CLOSE, b"\x03")
        f = ws.expect_close()
    assert len(f.payload) != 1, "a malformed 1-byte close body was echoed"
    assert f.close_code == 1002
    cid = only_child(rec)
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    errs = [e.data for e in rec.of(mg.MG_EV_ERROR, cid)]
    assert len(errs) == 1 and errs[0].startswith("WS protocol error: "), errs


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 2999])
def test_close_with_invalid_status_code_is_answered_1002(ws_server, code):
    """§7.4: 1005/1006/1015 must never appear on the wire and codes below 1000 or in the
    unassigned 1004/1016-2999 ranges are invalid: the endpoint fails with 1002 instead of
    echoing them."""
    srv, _ = ws_server(expect_errors=True)
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_CLOSE, close_payload(code))
        f = ws.expect_close()
    assert f.close_code == 1002, f"close code {code} was answered with {f.close_code}"


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 3000, 4999])
def test_close_with_valid_status_code_is_echoed(ws_server, code):
    srv, _ = ws_server()
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send_frame(OP_CLOSE, close_payload(code, b"reason"))
        f = ws.expect_close()
    assert f.close_code == code


def test_ping_inside_a_message_at_max_ws_message_is_not_counted(ws_server):
    """Control frames interleaved in a fragmented message are not part of the message:
    a ping arriving when the fragments already total max_ws_message is answered, and the
    message (exactly at the limit) is delivered."""
    srv, rec = ws_server(limits={"max_ws_message": LIMIT})
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send(frame(OP_TEXT, b"a" * LIMIT, fin=False) + frame(OP_PING, b"p"))
        f = ws.recv()
        assert (f.op, f.payload) == (OP_PONG, b"p"), f
        ws.send(frame(OP_CONT, b"", fin=True))
        f = ws.recv()
        assert (f.op, len(f.payload)) == (OP_TEXT, LIMIT)
    assert not error_texts(rec)


def test_length_with_most_significant_bit_is_a_protocol_error(ws_server):
    srv, rec = ws_server(expect_errors=True)
    with RawWs(srv.port) as ws:
        ws.handshake()
        ws.send(bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1]) + b"\0\0\0\0")
        f = ws.expect_close()
    assert f.close_code == 1002


def test_pipelined_request_then_upgrade_in_one_segment(ws_server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            if data.uri == "/plain":
                conn.reply(200, "plain")
            else:
                conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_MSG:
            conn.ws_send(data.data, data.opcode)
    srv, _ = ws_server(h)
    with RawWs(srv.port) as ws:
        ws.send(req("/plain") + upgrade_request() + frame(OP_TEXT, b"after both"))
        r = ws.reader.read_response()
        assert (r.status, r.body) == (200, b"plain")
        assert ws.reader.read_response().status == 101
        assert ws.recv().payload == b"after both"


def test_echo_to_a_client_that_does_not_read_stays_bounded(ws_server):
    """A peer that floods messages and never reads: reading pauses above send_high_water,
    so the echo backlog stays bounded, and everything arrives once the peer reads."""
    high, low = 256 * 1024, 64 * 1024
    box = {"max": 0, "full": False}

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data)
        elif ev == mg.MG_EV_WS_MSG:
            conn.ws_send(data.data, data.opcode)
            box["max"] = max(box["max"], conn.send_len)
            box["full"] |= conn.is_full
    srv, rec = ws_server(h, limits={"send_high_water": high, "send_low_water": low})
    msg = b"m" * 16000
    n = 600  # ~9.6 MB each way, far beyond the kernel buffers
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((HOST, srv.port))
    sender_err = []

    def flood():
        try:
            for _ in range(n):
                s.sendall(frame(OP_BINARY, msg))
        except OSError as e:
            sender_err.append(e)
    reader = HttpReader(s)
    s.sendall(upgrade_request())
    assert reader.read_response().status == 101
    t = threading.Thread(target=flood, daemon=True)
    t.start()
    # wait until the server reports back-pressure while we read nothing
    deadline = time.monotonic() + 4
    while not box["full"] and time.monotonic() < deadline:
        t.join(0.05)
    assert box["full"], "is_full never became True"
    got = 0
    while got < n:
        f = read_frame(reader)
        assert f.op == OP_BINARY and f.payload == msg
        got += 1
    t.join(3)
    s.close()
    assert not sender_err, sender_err
    assert box["max"] <= high + 64 * 1024 + len(msg) + 16, box["max"]


def test_firefox_style_connection_header(ws_server):
    srv, _ = ws_server()
    with RawWs(srv.port) as ws:
        ws.send(upgrade_request().replace(b"Connection: Upgrade",
                                          b"Connection: keep-alive, Upgrade"))
        assert ws.reader.read_response().status == 101
        ws.send_frame(OP_TEXT, b"ff")
        assert ws.recv().payload == b"ff"


def test_ws_connect_server_closes_right_after_101(client):
    def script(s):
        head, r = read_request(s)
        key = [ln.split(": ")[1] for ln in head.decode().split("\r\n")
               if ln.startswith("Sec-WebSocket-Key")][0]
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                  + accept_for(key).encode() + b"\r\n\r\n"
                  + frame(OP_TEXT, b"bye soon", mask=False)
                  + frame(OP_CLOSE, close_payload(1001, b"shutdown"), mask=False))
        return read_frame(r)

    srv = RawServer(script)
    cl = client()
    conn = cl.connect(f"ws://{HOST}:{srv.port}/")
    cl.wait_ev(mg.MG_EV_CLOSE)
    f = srv.join()
    assert f.op == OP_CLOSE and f.masked and f.close_code == 1001
    seq = cl.rec.seq(conn.id)
    assert seq.index("MG_EV_WS_OPEN") < seq.index("MG_EV_WS_MSG") < seq.index("MG_EV_WS_CTL")
    assert seq[-1] == "MG_EV_CLOSE" and "MG_EV_ERROR" not in seq
