# SPDX-License-Identifier: MIT
"""Streaming (spec §3.2 http_chunk/http_sse/is_full, §6.2, §8.1 send_high_water/low_water,
max_body): chunked responses and Server-Sent Events read by curl -N, http.client and raw
sockets; MG_EV_HTTP_HDRS before the body is complete; back-pressure with a client that
does not read; uploads around max_body.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from mgtest_helpers import HOST, HttpReader, Recorder, connect, mg, req, wait_until

pytestmark = pytest.mark.timeout(10)

CURL = shutil.which("curl")
HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
HEAD_SSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def read_chunk(r: HttpReader) -> bytes:
    size = int(r.read_until(b"\r\n")[:-2].split(b";")[0], 16)
    data = r.read_exact(size)
    assert r.read_exact(2) == b"\r\n"
    return data


# ======================================================================================
# http_chunk
# ======================================================================================


def test_http_chunk_exact_bytes_and_completion(server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.send(HEAD_CHUNKED)
            conn.http_chunk("hello")
            conn.http_chunk(b"\x00" * 300)
            conn.http_chunk(bytearray(b"ba"))
            conn.http_chunk(memoryview(b"mv"))
            conn.http_chunk(b"")
    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req("/one") + req("/two", headers={"Connection": "close"}))
        r = HttpReader(s)
        raw = r.read_to_eof()
    one = HEAD_CHUNKED + b"5\r\nhello\r\n12c\r\n" + b"\x00" * 300 + b"\r\n" \
        + b"2\r\nba\r\n2\r\nmv\r\n0\r\n\r\n"
    # the empty chunk completed the first response, so the pipelined second one was
    # answered, and its Connection: close closed the connection afterwards
    assert raw == one * 2


def test_keep_alive_http_client_after_a_chunked_response(server):
    """A chunked response completed by http_chunk(b"") must leave the connection clean
    for the next response (http.client rejects stray bytes before a status line)."""
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            if data.uri == "/chunked":
                conn.send(HEAD_CHUNKED)
                conn.http_chunk("streamed")
                conn.http_chunk(b"")
            else:
                conn.reply(200, "plain")
    srv = server(h)
    c = http.client.HTTPConnection(HOST, srv.port, timeout=3)
    try:
        c.request("GET", "/chunked")
        r = c.getresponse()
        assert r.read() == b"streamed"
        c.request("GET", "/plain")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"plain")
    finally:
        c.close()


def test_http_chunk_type_errors_and_closed_connection(server):
    out = {}

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            try:
                conn.http_chunk(12)
            except TypeError:
                out["type"] = True
            conn.reply(200, "ok")
            out["conn"] = conn
    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req(headers={"Connection": "close"}))
        HttpReader(s).read_response()
    assert out["type"]
    wait_until(lambda: out["conn"].is_closing and out["conn"].id)
    srv.call(lambda: None)  # a full poll() has run after the close
    wait_until(lambda: out["conn"].local_addr is None, what="connection closed")
    with pytest.raises(RuntimeError, match="Connection has been closed"):
        out["conn"].http_chunk("late")


class Streamer:
    """A handler that starts a chunked (or SSE) response and lets the test push chunks
    from the test thread, one at a time (thread-safe engine calls, spec §5.10)."""

    def __init__(self, head: bytes = HEAD_CHUNKED):
        self.head = head
        self.conn = None
        self.ready = threading.Event()

    def __call__(self, conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.send(self.head)
            self.conn = conn
            self.ready.set()


def test_chunks_arrive_incrementally_with_http_client(server):
    st = Streamer()
    srv = server(st)
    c = http.client.HTTPConnection(HOST, srv.port, timeout=3)
    try:
        c.request("GET", "/stream")
        assert st.ready.wait(3)
        st.conn.http_chunk("first;")
        resp = c.getresponse()
        assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.read1(100) == b"first;"      # before the rest even exists
        for i in range(3):
            st.conn.http_chunk(f"next{i};")
            assert resp.read1(100) == f"next{i};".encode()
        st.conn.http_chunk(b"")
        assert resp.read() == b""
        assert resp.isclosed()
    finally:
        c.close()


@pytest.mark.skipif(CURL is None, reason="curl not installed (apt-get install -y curl)")
def test_curl_no_buffer_sees_chunks_before_the_end(server):
    st = Streamer()
    srv = server(st)
    p = subprocess.Popen([CURL, "-sN", "--max-time", "5", srv.url("/stream")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert st.ready.wait(3)
        st.conn.http_chunk("tick 1\n")
        first = p.stdout.readline()  # arrives while the response is still open
        assert first == b"tick 1\n"
        st.conn.http_chunk("tick 2\n")
        assert p.stdout.readline() == b"tick 2\n"
        st.conn.http_chunk(b"")
        rest, err = p.communicate(timeout=3)
        assert rest == b"" and p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(3)


def test_timer_driven_stream_read_by_curl(server):
    if CURL is None:
        pytest.skip("curl not installed (apt-get install -y curl)")
    state = {}

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.send(HEAD_CHUNKED)
            state["n"] = 0

            def tick():
                if conn.is_closing or not conn.id or conn.local_addr is None:
                    return
                state["n"] += 1
                if state["n"] <= 5:
                    conn.http_chunk(f"line {state['n']}\n")
                elif state["n"] == 6:
                    conn.http_chunk(b"")
            state["timer"] = srv.mgr.timer_add(10, tick, repeat=True)
    srv = server(h)
    out = subprocess.run([CURL, "-sN", "--max-time", "4", srv.url("/")], capture_output=True,
                         timeout=5)
    state["timer"].cancel()
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"".join(f"line {i}\n".encode() for i in range(1, 6))


# ======================================================================================
# Server-Sent Events
# ======================================================================================


@pytest.mark.parametrize("etype,data,payload", [
    ("message", "hello", b"event: message\ndata: hello\n\n"),
    ("multi", "line1\nline2\nline3", b"event: multi\ndata: line1\ndata: line2\ndata: line3\n\n"),
    ("empty", "", b"event: empty\ndata: \n\n"),
    ("trail", "a\n", b"event: trail\ndata: a\ndata: \n\n"),
    ("utf8", "héllo ✓", "event: utf8\ndata: héllo ✓\n\n".encode()),
], ids=["single", "multi-line", "empty", "trailing-newline", "utf8"])
def test_sse_exact_framing(server, etype, data, payload):
    def h(conn, ev, d):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.send(HEAD_SSE)
            conn.http_sse(etype, data)
            conn.http_chunk(b"")
    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req(headers={"Connection": "close"}))
        raw = HttpReader(s).read_to_eof()
    assert raw[:len(HEAD_SSE) + len(chunk(payload))] == HEAD_SSE + chunk(payload)
    # (the exact last-chunk bytes are checked by test_http_chunk_exact_bytes_and_completion)
    assert raw[len(HEAD_SSE) + len(chunk(payload)):].startswith(b"0\r\n\r\n")


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "x\r\n"])
def test_sse_event_type_with_cr_lf_rejected(server, bad):
    seen = []

    def h(conn, ev, d):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.send(HEAD_SSE)
            before = conn.send_len
            try:
                conn.http_sse(bad, "data")
            except ValueError as e:
                seen.append((str(e), conn.send_len == before))
            conn.http_chunk(b"")
    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req(headers={"Connection": "close"}))
        raw = HttpReader(s).read_to_eof()
    assert len(seen) == 1 and seen[0][1], seen  # nothing written by the failed call
    assert raw.startswith(HEAD_SSE + b"0\r\n\r\n")


@pytest.mark.skipif(CURL is None, reason="curl not installed (apt-get install -y curl)")
def test_sse_stream_read_by_curl_incrementally(server):
    st = Streamer(HEAD_SSE)
    srv = server(st)
    p = subprocess.Popen([CURL, "-sN", "--max-time", "5", "-H", "Accept: text/event-stream",
                          srv.url("/events")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert st.ready.wait(3)
        st.conn.http_sse("greeting", "hello")
        got = b""
        while not got.endswith(b"\n\n"):
            line = p.stdout.readline()
            assert line, "curl ended early"
            got += line
        assert got == b"event: greeting\ndata: hello\n\n"
        st.conn.http_sse("update", "x=1\ny=2")
        st.conn.http_chunk(b"")
        rest, err = p.communicate(timeout=3)
        assert rest == b"event: update\ndata: x=1\ndata: y=2\n\n" and p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(3)


# ======================================================================================
# MG_EV_HTTP_HDRS before the body (server side)
# ======================================================================================


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_http_hdrs_before_slow_body(server, chunked):
    rec = Recorder(lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and c.reply(200, d.body_bytes))
    srv = server(rec)
    with connect(srv.port) as s:
        if chunked:
            head = req("/up", method="POST", headers={"Transfer-Encoding": "chunked"})
            s.sendall(head + b"4\r\nabcd\r\n")
        else:
            head = req("/up", method="POST", headers={"Content-Length": "10"})
            s.sendall(head + b"abcd")
        hdrs = rec.wait_ev(mg.MG_EV_HTTP_HDRS)[0]
        assert hdrs.data["method"] == "POST" and hdrs.data["uri"] == "/up"
        assert hdrs.data["body"] in (b"", b"abcd")  # never more than received
        assert not rec.of(mg.MG_EV_HTTP_MSG)
        assert HttpReader(s).nothing_within(0.1)  # no response before the body ends
        s.sendall(b"6\r\nefghij\r\n0\r\n\r\n" if chunked else b"efghij")
        r = HttpReader(s).read_response()
    assert r.body == b"abcdefghij"
    msg = rec.wait_ev(mg.MG_EV_HTTP_MSG)[0]
    assert msg.data["body"] == b"abcdefghij"
    assert len(rec.of(mg.MG_EV_HTTP_HDRS)) == 1


def test_reply_from_http_hdrs_to_a_large_upload(server):
    """A handler may answer at HTTP_HDRS time (e.g. reject early); the client reads it."""
    def h(conn, ev, d):
        if ev == mg.MG_EV_HTTP_HDRS:
            conn.reply(403, "no uploads", {"Connection": "close"})
    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req("/up", method="POST", headers={"Content-Length": str(1 << 20)}))
        r = HttpReader(s).read_response()
    assert r.status == 403 and r.body == b"no uploads"


# ======================================================================================
# Flow control: is_full, send_high_water / send_low_water, MG_EV_WRITE
# ======================================================================================

HIGH, LOW, CHUNK = 256 * 1024, 64 * 1024, 64 * 1024


class Pump:
    """Streams ``total`` bytes as fast as the app may: it sends while ``not is_full``
    and resumes on MG_EV_WRITE/MG_EV_POLL (the spec's back-pressure contract)."""

    def __init__(self, total: int, http: bool = True):
        self.total = total
        self.sent = 0
        self.http = http
        self.conn = None
        self.max_send_len = 0
        self.max_send_size = 0
        self.full_seen = threading.Event()
        self.resumed = threading.Event()
        self.done = threading.Event()
        self.reads_while_full = 0
        self.lock = threading.Lock()

    def data_at(self, off: int, n: int) -> bytes:
        return bytes((off + i) % 251 for i in range(n)) if n < 64 else \
            (bytes(range(251)) * (n // 251 + 2))[off % 251: off % 251 + n]

    def pump(self, conn):
        while self.sent < self.total and not conn.is_full:
            n = min(CHUNK, self.total - self.sent)
            conn.send(self.data_at(self.sent, n))
            self.sent += n
            self.max_send_len = max(self.max_send_len, conn.send_len)
            self.max_send_size = max(self.max_send_size, conn.send_size)
        if conn.is_full:
            self.full_seen.set()
        elif self.full_seen.is_set():
            self.resumed.set()
        if self.sent >= self.total and not self.done.is_set():
            self.done.set()
            if self.http:
                conn.drain()

    def __call__(self, conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG or (ev == mg.MG_EV_READ and not self.http
                                       and self.conn is None):
            self.conn = conn
            if self.http:
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % self.total)
            self.pump(conn)
        elif ev == mg.MG_EV_READ and self.conn is conn and self.full_seen.is_set() \
                and not self.resumed.is_set():
            self.reads_while_full += 1
        elif ev in (mg.MG_EV_WRITE, mg.MG_EV_POLL) and conn is self.conn:
            self.pump(conn)


def small_rcvbuf_socket(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((HOST, port))
    return s


def read_exactly(s: socket.socket, n: int, deadline: float) -> bytes:
    parts, got = [], 0
    while got < n:
        assert time.monotonic() < deadline, f"read only {got} of {n} bytes"
        b = s.recv(min(1 << 20, n - got))
        assert b, f"peer closed after {got} of {n} bytes"
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def test_slow_reader_backpressure_bounds_send_buffer(server):
    total = 24 * 1024 * 1024  # far more than the kernel buffers hold
    pump = Pump(total)
    srv = server(pump, limits={"send_high_water": HIGH, "send_low_water": LOW})
    with small_rcvbuf_socket(srv.port) as s:
        s.sendall(req("/big"))
        assert pump.full_seen.wait(4), "is_full never became True"
        # the client reads nothing; the app keeps being called (POLL) but must not grow
        # the buffer: nothing is added while is_full
        sent_then = pump.sent
        wait_until(lambda: srv.call(lambda: pump.conn.is_full), what="still full")
        assert pump.sent == sent_then or pump.sent - sent_then <= HIGH + CHUNK
        assert pump.max_send_len <= HIGH + CHUNK, pump.max_send_len
        assert pump.sent < total  # the stream really is stalled
        # now read everything: the stream resumes and completes intact
        deadline = time.monotonic() + 6
        r = HttpReader(s)
        head = r.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        body = r.buf + read_exactly(s, total - len(r.buf), deadline)
        assert HttpReader(s).wait_closed(3)
    assert len(body) == total
    assert body == pump.data_at(0, total)
    assert pump.resumed.is_set(), "is_full never went back to False"
    assert pump.max_send_len <= HIGH + CHUNK, pump.max_send_len
    assert pump.max_send_size <= 4 * (HIGH + CHUNK), pump.max_send_size


def test_is_full_pauses_reading_and_resumes(server):
    """Raw TCP: while is_full, bytes from the peer are not read (no MG_EV_READ); once the
    peer drains the output below send_low_water, reading resumes."""
    total = 16 * 1024 * 1024
    pump = Pump(total, http=False)
    rec = Recorder(pump)
    srv = server(rec, url=f"tcp://{HOST}:0",
                 limits={"send_high_water": HIGH, "send_low_water": LOW})
    with small_rcvbuf_socket(srv.port) as s:
        s.sendall(b"go")
        assert pump.full_seen.wait(4), "is_full never became True"
        full_state = srv.call(lambda: (pump.conn.is_full, pump.conn.recv_len))
        assert full_state[0] is True
        s.sendall(b"more input while the server is full")
        # give the loop several iterations to (wrongly) read it
        for _ in range(5):
            srv.call(lambda: None)
        assert srv.call(lambda: pump.conn.recv_len) == full_state[1], "read while is_full"
        assert pump.reads_while_full == 0
        deadline = time.monotonic() + 6
        read_exactly(s, total, deadline)
        wait_until(lambda: srv.call(lambda: pump.conn.recv_len) > full_state[1],
                   what="reading resumed after the backlog drained")
        assert srv.call(lambda: pump.conn.is_full) is False
    assert pump.resumed.is_set()


def test_peer_hangup_detected_while_full(server):
    total = 32 * 1024 * 1024
    pump = Pump(total, http=False)
    rec = Recorder(pump)
    srv = server(rec, url=f"tcp://{HOST}:0",
                 limits={"send_high_water": HIGH, "send_low_water": LOW})
    s = small_rcvbuf_socket(srv.port)
    s.sendall(b"go")
    assert pump.full_seen.wait(4)
    cid = pump.conn.id
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # RST
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid, timeout=3)


def test_app_ignoring_is_full_still_gets_is_full(server):
    """is_full reports back-pressure even when the app queued everything at once."""
    seen = {}

    def h(conn, ev, d):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (HIGH * 16))
            for _ in range(16):
                conn.send(b"z" * HIGH)
            seen["conn"] = conn
            seen["sync"] = conn.is_full
    srv = server(h, limits={"send_high_water": HIGH, "send_low_water": LOW})
    with small_rcvbuf_socket(srv.port) as s:
        s.sendall(req())
        wait_until(lambda: "conn" in seen)
        # the client has not read: after the flush, the backlog is still far above HIGH
        wait_until(lambda: srv.call(lambda: seen["conn"].is_full), what="is_full")
        r = HttpReader(s)
        r.read_head()
        body = read_exactly(s, HIGH * 16 - len(r.buf), time.monotonic() + 4)
        assert len(r.buf) + len(body) == HIGH * 16
        wait_until(lambda: srv.call(lambda: not seen["conn"].is_full), what="is_full cleared")
    assert seen["sync"] is True, "is_full not set by send() above send_high_water"


# ======================================================================================
# Uploads around max_body
# ======================================================================================

MAXB = 1024 * 1024


def length_echo(conn, ev, d):
    if ev == mg.MG_EV_HTTP_MSG:
        body = d.body_bytes
        conn.reply(200, f"{len(body)} {sum(body) & 0xFFFFFFFF}")


@pytest.mark.parametrize("size", [MAXB - 1, MAXB])
def test_upload_up_to_max_body_accepted(server, size):
    srv = server(length_echo, limits={"max_body": MAXB})
    body = os.urandom(size)
    c = http.client.HTTPConnection(HOST, srv.port, timeout=4)
    try:
        c.request("PUT", "/up", body=body)
        r = c.getresponse()
        assert r.status == 200
        assert r.read() == f"{size} {sum(body) & 0xFFFFFFFF}".encode()
    finally:
        c.close()


def test_chunked_upload_at_max_body_accepted(server):
    srv = server(length_echo, limits={"max_body": MAXB})
    body = os.urandom(MAXB)

    def gen():
        for i in range(0, MAXB, 100_000):
            yield body[i:i + 100_000]
    c = http.client.HTTPConnection(HOST, srv.port, timeout=4)
    try:
        c.request("POST", "/up", body=gen(), encode_chunked=True,
                  headers={"Transfer-Encoding": "chunked"})
        r = c.getresponse()
        assert r.status == 200 and r.read() == f"{MAXB} {sum(body) & 0xFFFFFFFF}".encode()
    finally:
        c.close()


def test_upload_above_max_body_413_before_body(server):
    rec = Recorder(length_echo)
    srv = server(rec, limits={"max_body": MAXB}, expect_errors=True)
    with connect(srv.port) as s:
        # only the head: the 413 must come without the body having been sent
        s.sendall(req("/up", method="PUT", headers={"Content-Length": str(MAXB + 1)}))
        r = HttpReader(s).read_response()
        assert r.status == 413
        # the client may still be sending: the lingering close reads and discards it
        try:
            s.sendall(b"x" * 200_000)
        except (BrokenPipeError, ConnectionResetError):
            pass
    rec.wait_ev(mg.MG_EV_CLOSE)
    assert [e.data for e in rec.of(mg.MG_EV_ERROR)] == ["MG_MAX_RECV_SIZE"]
    assert not rec.of(mg.MG_EV_HTTP_MSG)


def test_chunked_upload_above_max_body_413(server):
    rec = Recorder(length_echo)
    srv = server(rec, limits={"max_body": MAXB}, expect_errors=True)
    with connect(srv.port) as s:
        s.sendall(req("/up", method="POST", headers={"Transfer-Encoding": "chunked"}))
        r = HttpReader(s)
        sent = 0
        status = None
        try:
            while sent <= MAXB + 200_000:
                s.sendall(chunk(b"q" * 100_000))
                sent += 100_000
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = r.read_response()
        status = resp.status
    assert status == 413
    rec.wait_ev(mg.MG_EV_CLOSE)
    assert [e.data for e in rec.of(mg.MG_EV_ERROR)] == ["MG_MAX_RECV_SIZE"]


def test_curl_upload_above_max_body_reads_413(server, tmp_path):
    if CURL is None:
        pytest.skip("curl not installed (apt-get install -y curl)")
    srv = server(length_echo, limits={"max_body": MAXB}, expect_errors=True)
    f = tmp_path / "big.bin"
    f.write_bytes(os.urandom(MAXB * 2))
    out = subprocess.run([CURL, "-s", "-o", "-", "-w", "%{http_code}", "-H", "Expect:",
                          "--max-time", "4", "--data-binary", f"@{f}", srv.url("/up")],
                         capture_output=True, timeout=5)
    assert out.stdout.endswith(b"413"), out
