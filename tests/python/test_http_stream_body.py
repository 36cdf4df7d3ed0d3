# SPDX-License-Identifier: MIT
"""[ext] Connection.http_stream_body(): a request body handed to the program piece by
piece as it arrives instead of buffered whole (what the ASGI ``more_body`` and a
streaming ``wsgi.input`` are built on). Bytes on the wire in, pieces and events out;
limits at, below and above their edges; back-pressure through ``Connection.paused``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading

import pytest

from mgtest_helpers import HOST, HttpReader, connect, mg, req, wait_until

pytestmark = pytest.mark.timeout(30)

MiB = 1024 * 1024


class Upload:
    """A handler that streams every request body with an incomplete body and answers
    with the SHA-256 of what reached it, the number of pieces and the HTTP_MSG body."""

    def __init__(self, *, pause_after: int | None = None, early_status: int | None = None):
        self.pieces: list[int] = []
        self.lasts = 0
        self.events: list[str] = []
        self.digest = hashlib.sha256()
        self.total = 0
        self.started: list[bool] = []
        self.pause_after = pause_after
        self.early_status = early_status
        self.conn = None
        self.msg_body_lens: list[int] = []
        self.answered = False

    def on_piece(self, conn, data: bytes, last: bool) -> None:
        self.events.append("piece-last" if last else "piece")
        self.pieces.append(len(data))
        self.digest.update(data)
        self.total += len(data)
        if last:
            self.lasts += 1
        if self.pause_after is not None and self.total >= self.pause_after and self.conn is not None:
            self.conn.paused = True

    def __call__(self, conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            self.events.append("hdrs")
            self.conn = conn
            started = conn.http_stream_body(self.on_piece)
            self.started.append(started)
            self.answered = bool(started and self.early_status)
            if self.answered:
                conn.reply(self.early_status, b"early", {"Content-Type": "text/plain"})
        elif ev == mg.MG_EV_HTTP_MSG:
            self.events.append("msg")
            self.msg_body_lens.append(len(data.body_bytes))
            if self.answered:
                return
            if self.started[-1]:
                body = f"{self.digest.hexdigest()} {self.total} {len(self.pieces)}".encode()
            else:
                body = f"{hashlib.sha256(data.body_bytes).hexdigest()} {len(data.body_bytes)} whole".encode()
            conn.reply(200, body, {"Content-Type": "text/plain"})


def send_in_parts(sock: socket.socket, head: bytes, body: bytes, part: int = 65536) -> None:
    sock.sendall(head)
    for i in range(0, len(body), part):
        sock.sendall(body[i:i + part])


def head_for(length: int | None, extra: str = "") -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return f"POST /up HTTP/1.1\r\nHost: t\r\n{framing}\r\n{extra}\r\n".encode()


def chunked(body: bytes, size: int = 50000) -> bytes:
    out = bytearray()
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
    return bytes(out) + b"0\r\nX-Trailer: t\r\n\r\n"


def test_content_length_body_streams_in_pieces_and_msg_has_no_body(server):
    body = os.urandom(8 * MiB)
    up = Upload()
    s = server(up, limits={"max_body": 16 * MiB})
    with connect(s.port) as c:
        send_in_parts(c, head_for(len(body)), body)
        r = HttpReader(c).read_response()
    digest, total, pieces = r.body.decode().split()
    assert (digest, int(total)) == (hashlib.sha256(body).hexdigest(), len(body))
    assert int(pieces) > 1, "an 8 MiB body sent in 64 KiB writes must arrive in several pieces"
    assert up.lasts == 1 and up.events[-2:] == ["piece-last", "msg"] and up.events[0] == "hdrs"
    assert up.msg_body_lens == [0]
    # Nothing is buffered whole: no piece is anywhere near the body's size.
    assert max(up.pieces) < 4 * MiB


def test_chunked_body_streams_dechunked_and_trailers_dropped(server):
    body = os.urandom(3 * MiB + 17)
    up = Upload()
    s = server(up, limits={"max_body": 4 * MiB})
    with connect(s.port) as c:
        send_in_parts(c, head_for(None), chunked(body), part=40000)
        r = HttpReader(c).read_response()
    digest, total, pieces = r.body.decode().split()
    assert digest == hashlib.sha256(body).hexdigest() and int(total) == len(body)
    assert up.lasts == 1 and up.msg_body_lens == [0]


def test_body_complete_at_hdrs_is_not_streamed(server):
    up = Upload()
    s = server(up)
    with connect(s.port) as c:
        c.sendall(req("/up", "POST", body=b"x" * 1000))
        r = HttpReader(c).read_response()
    assert r.body.decode().endswith(" 1000 whole")
    assert up.started == [False] and up.pieces == []


def test_keep_alive_and_pipelining_after_streamed_request(server):
    body = os.urandom(300000)
    up = Upload()
    s = server(up)
    with connect(s.port) as c:
        rd = HttpReader(c)
        send_in_parts(c, head_for(len(body)), body)
        # The second request is pipelined right behind the end of the first body.
        c.sendall(req("/after", "POST", body=b"abc"))
        first = rd.read_response()
        second = rd.read_response()
    assert first.body.split()[0].decode() == hashlib.sha256(body).hexdigest()
    assert second.body.decode().endswith(" 3 whole")


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_max_body_bounds_streamed_body_at_below_and_above_edge(server, framing):
    limit = 1 * MiB
    for size, ok in ((limit - 1, True), (limit, True), (limit + 1, False)):
        up = Upload()
        s = server(up, limits={"max_body": limit}, expect_errors=True)
        body = os.urandom(size)
        with connect(s.port) as c:
            if framing == "length":
                c.sendall(head_for(size))
                # Above the edge the 413 comes before any body byte is read.
                if ok:
                    send_in_parts(c, b"", body)
            else:
                try:
                    send_in_parts(c, head_for(None), chunked(body, 100000))
                except (BrokenPipeError, ConnectionResetError):
                    pass
            r = HttpReader(c).read_response()
        assert r.status == (200 if ok else 413), (framing, size)
        if ok:
            assert int(r.body.split()[1]) == size


def test_raised_max_body_admits_a_bigger_streamed_body(server):
    body = os.urandom(5 * MiB)
    for limits, status in (({}, 413), ({"max_body": 5 * MiB}, 200)):
        s = server(Upload(), limits=limits or None)
        with connect(s.port) as c:
            c.sendall(head_for(len(body)))
            if status == 200:
                send_in_parts(c, b"", body)
            r = HttpReader(c).read_response()
        assert r.status == status


def test_paused_input_holds_the_body_back_without_a_timeout(server):
    """The program pauses after the first MiB: the sender blocks (the kernel buffers fill),
    no 408 comes although body_timeout passes, and unpausing delivers the rest intact."""
    body = os.urandom(16 * MiB)
    up = Upload(pause_after=MiB)
    s = server(up, limits={"max_body": 32 * MiB, "body_timeout": 0.3})
    sent = [0]
    with connect(s.port, timeout=20) as c:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)

        def writer():
            c.sendall(head_for(len(body)))
            for i in range(0, len(body), 65536):
                c.sendall(body[i:i + 65536])
                sent[0] = i + 65536

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        wait_until(lambda: up.conn is not None and up.conn.paused, what="paused")
        # Two body timeouts pass with the input held back.
        t.join(0.7)
        assert t.is_alive(), "the sender must be blocked by the paused input"
        held = up.total
        assert held < 4 * MiB, held
        assert sent[0] < 12 * MiB, sent[0]
        s.call(lambda: setattr(up, "pause_after", None) or setattr(up.conn, "paused", False))
        r = HttpReader(c).read_response()
        t.join(10)
    assert r.status == 200
    assert r.body.split()[0].decode() == hashlib.sha256(body).hexdigest()


def test_body_timeout_still_applies_while_not_paused(server):
    up = Upload()
    s = server(up, limits={"body_timeout": 0.2}, expect_errors=True)
    with connect(s.port) as c:
        c.sendall(head_for(100000) + b"x" * 1000)
        r = HttpReader(c).read_response()
    assert r.status == 408
    assert up.started == [True] and up.lasts == 0


def test_early_response_then_rest_of_body_read_and_connection_reused(server):
    body = os.urandom(2 * MiB)
    up = Upload(early_status=413)
    s = server(up)
    with connect(s.port) as c:
        rd = HttpReader(c)
        c.sendall(head_for(len(body)))
        first = rd.read_response()  # answered before the body was sent
        assert first.status == 413 and first.body == b"early"
        send_in_parts(c, b"", body)
        up.early_status = None
        c.sendall(req("/next", "POST", body=b"12345"))
        second = rd.read_response()
    assert second.status == 200 and second.body.decode().endswith(" 5 whole"), (second.body, up.events)
    assert up.events.count("msg") == 2


def test_early_response_with_connection_close_drains_without_reading_more(server):
    up = Upload()

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            assert conn.http_stream_body(up.on_piece)
            conn.reply(413, b"no", {"Connection": "close"})
        elif ev == mg.MG_EV_HTTP_MSG:
            up.events.append("msg")

    s = server(handler)
    with connect(s.port) as c:
        c.sendall(head_for(10 * MiB))
        rd = HttpReader(c)
        r = rd.read_response()
        assert r.status == 413
        assert rd.wait_closed(5)
    assert "msg" not in up.events


def test_misuse_raises_or_returns_false(server):
    results = {}

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            try:
                conn.http_stream_body(42)
            except TypeError as e:
                results["type"] = str(e)
        elif ev == mg.MG_EV_HTTP_MSG:
            results["in_msg"] = conn.http_stream_body(lambda c, d, last: None)
            conn.reply(200, b"ok")

    s = server(handler)
    with connect(s.port) as c:
        c.sendall(head_for(10) + b"0123")
        c.sendall(b"456789")
        assert HttpReader(c).read_response().status == 200
    assert results == {"type": "callback must be callable", "in_msg": False}
    raw = mg.Manager()
    try:
        lst = raw.listen(f"tcp://{HOST}:0")
        with pytest.raises(RuntimeError, match="needs an HTTP server connection"):
            lst.http_stream_body(lambda c, d, last: None)
    finally:
        raw.close()


def test_callback_error_is_reported_and_connection_keeps_working(server):
    errors = []

    def bad_piece(conn, data, last):
        raise ValueError("boom in piece")

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            conn.http_stream_body(bad_piece)
        elif ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, b"done")

    s = server(handler, error_handler=errors.append)
    with connect(s.port) as c:
        send_in_parts(c, head_for(200000), b"y" * 200000, part=50000)
        assert HttpReader(c).read_response().body == b"done"
    assert errors and all(isinstance(e, ValueError) for e in errors)


@pytest.mark.parametrize("split", [1, 7, 64, 1000])
def test_every_split_point_of_a_chunked_body(server, split):
    body = bytes(range(256)) * 40
    up = Upload()
    s = server(up)
    wire = head_for(None) + chunked(body, 999)
    with connect(s.port) as c:
        c.sendall(wire[:60])  # the head, incomplete
        for i in range(60, len(wire), split):
            c.sendall(wire[i:i + split])
        r = HttpReader(c).read_response()
    digest, total = r.body.decode().split()[:2]
    assert digest == hashlib.sha256(body).hexdigest() and int(total) == len(body)


def test_hdrs_only_pending_skips_the_head_event_of_whole_requests():
    """[ext] Manager(hdrs_only_pending=True): MG_EV_HTTP_HDRS only for a request whose
    body is still on its way; one that arrived whole gives MG_EV_HTTP_MSG alone."""
    seen = []

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            seen.append(("hdrs", data.uri))
            conn.http_stream_body(lambda c, d, last: seen.append(("piece", len(d), last)))
        elif ev == mg.MG_EV_HTTP_MSG:
            seen.append(("msg", data.uri))
            conn.reply(200, b"ok")

    m = mg.Manager(handler, hdrs_only_pending=True)
    try:
        port = m.listen(f"http://{HOST}:0").local_addr[1]
        with connect(port) as c:
            c.sendall(req("/whole") + req("/post", "POST", body=b"abc"))
            wait_until(lambda: (m.poll(10), ("msg", "/post") in seen)[1], what="both requests")
            c.sendall(req("/late", "POST", headers={"Content-Length": "4"}) + b"ab")
            wait_until(lambda: (m.poll(10), ("hdrs", "/late") in seen)[1], what="late head")
            c.sendall(b"cd")
            wait_until(lambda: (m.poll(10), ("msg", "/late") in seen)[1], what="late body")
    finally:
        m.close()
    assert seen == [("msg", "/whole"), ("msg", "/post"), ("hdrs", "/late"), ("piece", 2, False),
                    ("piece", 2, True), ("msg", "/late")]
